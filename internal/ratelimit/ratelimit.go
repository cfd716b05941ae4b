// Package ratelimit holds the client-side limiters that keep the operator under
// Teams' bot API limits (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit,
// docs/dev/contracts.md "Rate limit semantics"), so that it runs at the allowed
// rate and sees no 429 in steady state:
//
//   - AppLimiter: per app per tenant, all Connector calls (50 RPS documented; the
//     manager passes --max-send-rps, default 50), a sliding window of 1 s. Its waiters are ordered by the
//     Turn their context carries (WithTurn): priority (High, Normal, Bulk), then
//     a fair share between namespaces, with optional weights and caps.
//   - ConversationLimiter: per app per conversation, sends and creates, in
//     sliding windows (7/1 s, 8/2 s, 60/30 s, 1800/1 h).
//
// Teams counts a request when it arrives; both limiters count each request from
// its send until the latest moment it may have arrived (Acquire, sendlog.go), so
// a request delayed on its way cannot bunch with later ones into a full window.
//
// Both are safe for concurrent use and shared by every client in the process.
// Each offers a blocking Wait and a non-blocking TryAcquire that returns how long
// to requeue for.
package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// clock is time, replaceable in tests.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) timer
}

type timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

func sleepUntil(ctx context.Context, c clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitObserver records how long callers waited in one limiter.
type waitObserver struct{ h prometheus.Observer }

func (w waitObserver) observe(d time.Duration) { w.h.Observe(d.Seconds()) }

func waitMetrics(limiter string) waitObserver {
	return waitObserver{waitHistogram().WithLabelValues(limiter)}
}

// waitHistogram is registered on controller-runtime's registry once per process.
var waitHistogram = sync.OnceValue(func() *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "teams_operator_ratelimit_wait_seconds",
		Help:    "Time callers waited in the client-side rate limiters.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"limiter"})
	err := metrics.Registry.Register(h)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
			return existing
		}
	}
	return h
})
