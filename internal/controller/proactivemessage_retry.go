package controller

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/outcome"
)

// waitForRetry ends the reconcile, writing nothing, while a refused send's wait lasts. The
// reconciler remembers when each message may be sent again (field retries): a reconcile that
// something else starts during the wait (its target changed, an older message to the same
// conversation was delivered) must not send before Teams' Retry-After or the backoff has passed.
// This lives in the process only: a restarted manager sends at once, as after any restart.
func (r *ProactiveMessageReconciler) waitForRetry(ctx context.Context, s *messageScope) error {
	at, ok := r.retries.get(s.msg.UID)
	if !ok {
		return nil
	}
	wait := time.Until(at)
	if wait <= 0 {
		r.retries.forget(s.msg.UID)
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Waiting before sending again", "wait", wait.String())
	return outcome.Requeue(wait)
}
