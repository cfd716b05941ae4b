// Package outcome is the skeleton every reconciler of the operator shares: the typed outcomes
// a step ends a reconcile with, one step runner with one stop rule, and one deferred finish
// that writes status, records transition events and applies the requeue rules. It follows
// Flux's runtime/reconcile helpers (fluxcd/pkg), cut down to what the three kinds need.
//
// A reconcile reads as:
//
//	f := outcome.Begin(r.Client, r.Recorder, obj)
//	defer func() { result, retErr = f.Finish(ctx, result, retErr) }()
//	return outcome.Apply(ctx, obj, recheck, outcome.Run(ctx, s, stepA, stepB, ...))
package outcome

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/status"
)

// Kind says what a reconcile ended with.
type Kind int

const (
	// Done: the step decided the outcome and set the conditions itself (delivered, expired,
	// ready); the reconcile comes back after After, or only on an event when After is zero.
	Done Kind = iota
	// Waiting: nothing is wrong, the object waits for something (a dependency, a schedule,
	// Teams to list a new installation). Ready=False, Reconciling=True.
	Waiting
	// Stalled: only a person can fix it. Ready=False, Stalled=True. When the fix can happen
	// where no watch sees it (a permission granted in Entra, an app published in Teams), the
	// reconcile looks again after the kind's recheck interval.
	Stalled
	// Retry: a transient failure. Ready=False, Reconciling=True; the reconcile goes back to
	// the workqueue's backoff, or comes back after After when the server named a time.
	Retry
)

// Outcome ends the steps of a reconcile. It travels as an error so a step has one return
// value, and Apply turns it into conditions and a controller-runtime result.
type Outcome struct {
	Kind    Kind
	Reason  string
	Message string
	// After is when to come back (Done, Waiting, Retry).
	After time.Duration
	// External marks a stall whose fix happens outside the cluster: looked at again.
	External bool
	// Err is the failure behind a Retry, returned to the workqueue when After is zero.
	Err error
}

func (o *Outcome) Error() string {
	if o.Message == "" && o.Err != nil {
		return o.Err.Error()
	}
	return o.Message
}

func (o *Outcome) Unwrap() error { return o.Err }

// Stall ends the reconcile Stalled until the spec or a watched object changes.
func Stall(reason, message string) *Outcome {
	return &Outcome{Kind: Stalled, Reason: reason, Message: message}
}

// Stallf is Stall with a format.
func Stallf(reason, format string, args ...any) *Outcome {
	return Stall(reason, fmt.Sprintf(format, args...))
}

// StallExternal ends the reconcile Stalled on something a person fixes outside the cluster,
// so the reconcile looks again after the kind's recheck interval.
func StallExternal(reason, message string) *Outcome {
	return &Outcome{Kind: Stalled, Reason: reason, Message: message, External: true}
}

// Wait ends the reconcile Progressing; it comes back after after (zero: a watch brings it back).
func Wait(reason, message string, after time.Duration) *Outcome {
	return &Outcome{Kind: Waiting, Reason: reason, Message: message, After: after}
}

// RetryErr ends the reconcile Progressing and hands err to the workqueue's backoff.
func RetryErr(reason, message string, err error) *Outcome {
	return &Outcome{Kind: Retry, Reason: reason, Message: message, Err: err}
}

// RetryIn ends the reconcile Progressing and comes back after after, with no error.
func RetryIn(reason, message string, after time.Duration) *Outcome {
	return &Outcome{Kind: Retry, Reason: reason, Message: message, After: after}
}

// Requeue ends the reconcile with the conditions the step set; it comes back after after.
func Requeue(after time.Duration) *Outcome { return &Outcome{Kind: Done, After: after} }

// As returns the Outcome in err's chain.
func As(err error) (*Outcome, bool) {
	var o *Outcome
	ok := errors.As(err, &o)
	return o, ok
}

// Apply turns what the steps ended with into conditions and a result. err that is not an
// Outcome is a failure the workqueue retries with backoff (a conflict: in a second),
// conditions untouched. recheck is how soon a stall whose fix happens outside the cluster is
// looked at again.
func Apply(ctx context.Context, obj status.Object, recheck time.Duration, err error) (ctrl.Result, error) {
	o, ok := As(err)
	if !ok {
		return settle(ctx, ctrl.Result{}, err)
	}
	switch o.Kind {
	case Waiting:
		status.MarkProgressing(obj, o.Reason, o.Message)
	case Stalled:
		status.MarkStalled(obj, o.Reason, o.Message)
		if o.External {
			return ctrl.Result{RequeueAfter: recheck}, nil
		}
		return ctrl.Result{}, nil
	case Retry:
		status.MarkProgressing(obj, o.Reason, o.Message)
		if o.After == 0 && o.Err != nil {
			return ctrl.Result{}, o.Err
		}
	}
	return ctrl.Result{RequeueAfter: o.After}, nil
}

// Sooner combines two results: the sooner non-zero RequeueAfter wins.
func Sooner(a, b ctrl.Result) ctrl.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter != 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}
