package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// retryWaits remembers when each message may be sent again after a refused send. A reconcile
// that something else starts during the wait (its target changed, an older message to the same
// conversation was delivered) must not send before Teams' Retry-After or the backoff has passed.
// It lives in this process only: a restarted manager sends at once, as after any restart.
type retryWaits struct {
	mu sync.Mutex
	m  map[types.UID]time.Time
}

func (w *retryWaits) set(uid types.UID, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.UID]time.Time{}
	}
	w.m[uid] = at
}

// remaining returns how long the message must still wait, forgetting a wait that has passed.
func (w *retryWaits) remaining(uid types.UID) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.m[uid]
	if !ok {
		return 0
	}
	if wait := time.Until(at); wait > 0 {
		return wait
	}
	delete(w.m, uid)
	return 0
}

// waitForRetry ends the reconcile, writing nothing, while a refused send's wait lasts.
func (r *ProactiveMessageReconciler) waitForRetry(ctx context.Context, s *messageScope) (ctrl.Result, error) {
	wait := r.retries.remaining(s.msg.UID)
	if wait <= 0 {
		return ctrl.Result{}, nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Waiting before sending again", "wait", wait.String())
	s.done = true
	return ctrl.Result{RequeueAfter: wait}, nil
}
