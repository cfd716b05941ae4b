package outcome

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/teams-operator/teams-operator/internal/status"
)

const (
	// ConflictRequeue is how soon a reconcile that met a conflict with the API server comes
	// back: conflicts are normal (another writer, a cache behind), not errors to log.
	ConflictRequeue = time.Second
	// patchTimeout bounds the final writes of a reconcile.
	patchTimeout = 10 * time.Second
)

// Finisher is the deferred end of a reconcile: it finalises the conditions, writes status
// once, records an event when Ready changed, and applies the requeue rules.
type Finisher struct {
	obj     status.Object
	patcher *status.Patcher
	rec     events.EventRecorder
	before  *metav1.Condition
	skip    bool
	// OnPatched, when set, learns whether the final write succeeded (nil) or not.
	OnPatched func(error)
}

// Begin snapshots obj for the final patch and its Ready condition for the transition event.
func Begin(c client.Client, rec events.EventRecorder, obj status.Object) *Finisher {
	return &Finisher{obj: obj, patcher: status.NewPatcher(c, obj), rec: rec,
		before: status.ReadyCondition(obj).DeepCopy()}
}

// Patcher is the reconcile's patcher, for the few writes that must land before an external
// side effect (status.Patcher.PatchMetadataLocked).
func (f *Finisher) Patcher() *status.Patcher { return f.patcher }

// NewGenerationIsNews makes the outcome of a new spec announced even when it has the same
// reason as the old spec's.
func (f *Finisher) NewGenerationIsNews() {
	if f.before != nil && f.before.ObservedGeneration != f.obj.GetGeneration() {
		f.before = nil
	}
}

// Skip makes Finish write nothing: the reconcile found it worked from an outdated object.
func (f *Finisher) Skip() { f.skip = true }

// Finish ends the reconcile; call it deferred with the reconcile's named results. What the
// reconcile learned is written even when the manager is stopping (a context without
// cancel): after a finalizer is removed, the object may be gone before a later write. A
// conflict, from a step or the write, comes back in a second without an error; an error
// never comes with a result.
func (f *Finisher) Finish(ctx context.Context, result ctrl.Result, err error) (ctrl.Result, error) {
	if !f.skip {
		status.Finalize(f.obj)
		patchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
		defer cancel()
		// NotFound: the finalizer was just removed and the object is gone.
		patchErr := client.IgnoreNotFound(f.patcher.Patch(patchCtx, f.obj))
		if f.OnPatched != nil {
			f.OnPatched(patchErr)
		}
		if patchErr == nil {
			status.Notify(f.rec, f.obj, f.before)
		}
		err = errors.Join(err, patchErr)
	}
	return settle(ctx, result, err)
}

// settle applies the requeue rules: a conflict with the API server is normal and comes back
// in a second without an error log; an error never comes with a result.
func settle(ctx context.Context, result ctrl.Result, err error) (ctrl.Result, error) {
	switch {
	case err == nil:
		return result, nil
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("Object changed meanwhile, requeueing")
		return ctrl.Result{RequeueAfter: ConflictRequeue}, nil
	}
	return ctrl.Result{}, err
}
