package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// appSweep is how often limiters with a full bucket are dropped: a full burst-1
// bucket has no reservations outstanding, so forgetting it changes nothing.
const appSweep = 10 * time.Minute

// AppLimiter spaces requests per (app, tenant) at least 1/rps apart (a token
// bucket of burst 1), so no 1 s window ever holds more than rps requests (rounded
// up for fractional rates). Waiters are served in the order they called.
type AppLimiter struct {
	limit   rate.Limit
	clock   clock
	metrics waitObserver

	mu        sync.Mutex
	limiters  map[appKey]*rate.Limiter
	lastSweep time.Time
}

type appKey struct{ app, tenant string }

// NewAppLimiter returns a limiter of rps requests per second per (app, tenant);
// rps <= 0 means no limit.
func NewAppLimiter(rps float64) *AppLimiter {
	return newAppLimiter(realClock{}, rps)
}

func newAppLimiter(c clock, rps float64) *AppLimiter {
	limit := rate.Inf
	if rps > 0 {
		// One part in a million slower than asked: the token bucket truncates
		// intervals to whole nanoseconds, which could otherwise fit rps+1 requests
		// into a window a few nanoseconds short of one second.
		limit = rate.Limit(rps * (1 - 1e-6))
	}
	return &AppLimiter{limit: limit, clock: c, metrics: waitMetrics("app"), limiters: map[appKey]*rate.Limiter{}}
}

// Wait blocks until a request for the app in the tenant may be sent, or ctx is
// done. It returns at once with an error when ctx's deadline comes before the
// turn, counting nothing.
func (l *AppLimiter) Wait(ctx context.Context, appID, tenantID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := l.clock.Now()
	r := l.limiter(appID, tenantID, start).ReserveN(start, 1)
	delay := r.DelayFrom(start)
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(start) < delay {
		r.CancelAt(start)
		return fmt.Errorf("waiting %s for the app rate limit would pass the deadline: %w", delay, context.DeadlineExceeded)
	}
	if delay > 0 {
		if err := sleepUntil(ctx, l.clock, delay); err != nil {
			r.CancelAt(l.clock.Now())
			return err
		}
	}
	l.metrics.observe(l.clock.Now().Sub(start))
	return nil
}

// TryAcquire counts a request if it may be sent now; otherwise it counts nothing
// and returns how long until it could be.
func (l *AppLimiter) TryAcquire(appID, tenantID string) (bool, time.Duration) {
	now := l.clock.Now()
	lim := l.limiter(appID, tenantID, now)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing/float64(l.limit)*float64(time.Second)) + time.Nanosecond
}

func (l *AppLimiter) limiter(appID, tenantID string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > appSweep {
		l.sweep(now)
	}
	key := appKey{appID, tenantID}
	lim, ok := l.limiters[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, 1)
		l.limiters[key] = lim
	}
	return lim
}

func (l *AppLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, lim := range l.limiters {
		if lim.TokensAt(now) >= 1 {
			delete(l.limiters, k)
		}
	}
}

func (l *AppLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.limiters)
}
