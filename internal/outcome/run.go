package outcome

import "context"

// Step is one step of a reconcile. It returns nil to let the next step run, an Outcome to
// end the reconcile with it, or a failure (retried by the workqueue, unless the kind's
// classifier turns it into an Outcome).
type Step[S any] func(context.Context, S) error

// Run runs steps in order. The one stop rule: the first step that returns an error (an
// Outcome or a failure) ends the run, and its error is the run's.
func Run[S any](ctx context.Context, s S, steps ...Step[S]) error {
	for _, step := range steps {
		if err := step(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
