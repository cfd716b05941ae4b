package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// appSweep is how often idle (app, tenant) queues are dropped: a queue with no
// waiter whose next free slot has passed holds nothing a new queue would not.
const appSweep = 10 * time.Minute

// AppLimiter keeps the requests per (app, tenant) within a sliding window of
// rps per second (rounded up for fractional rates, over a longer window), as
// Teams counts them: "at most 50 in any second" per app per tenant
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit,
// docs/dev/contracts.md "Rate limit semantics"). A request counts in the window
// from when it leaves until the latest moment it may have reached Teams, as
// sendlog.go explains (Acquire; Wait counts the send time alone), plus
// AppMargin. Requests go about 1/rps apart while the window is full, faster
// while a pause left it part empty, so the pause's slots are caught up.
//
// Requests that cannot go at once wait in a queue ordered by their Turn (see
// WithTurn): by priority first, then, within a priority, by start-time fair
// queueing between namespaces (each namespace's requests get virtual start tags
// 1/weight apart, counted from the queue's virtual time when the namespace was
// idle; the smallest tag goes next). Requests of one namespace and priority
// leave in the order they came. A namespace's MaxRPS is kept apart, at every
// priority: a namespace at its cap lets the others go first.
type AppLimiter struct {
	interval time.Duration // 0: no limit
	window   Window
	clock    clock
	metrics  waitObserver

	mu        sync.Mutex
	queues    map[appKey]*appQueue
	lastSweep time.Time
	seq       uint64
}

type appKey struct{ app, tenant string }

// NewAppLimiter returns a limiter of rps requests per second per (app, tenant);
// rps <= 0 means no limit.
func NewAppLimiter(rps float64) *AppLimiter {
	return newAppLimiter(realClock{}, rps)
}

func newAppLimiter(c clock, rps float64) *AppLimiter {
	l := &AppLimiter{interval: intervalOf(rps), clock: c, metrics: waitMetrics("app"), queues: map[appKey]*appQueue{}}
	if l.interval > 0 {
		l.window = windowOf(rps)
	}
	return l
}

// intervalOf is the spacing of rps requests per second, rounded up to the
// nanosecond so that rps+1 requests never fit in one second; 0 for no limit.
func intervalOf(rps float64) time.Duration {
	if rps <= 0 || math.IsInf(rps, 1) || math.IsNaN(rps) {
		return 0
	}
	return time.Duration(math.Ceil(float64(time.Second) / rps))
}

// Wait blocks until a request for the app in the tenant may be sent, or ctx is
// done, taking its turn as TurnFrom(ctx) says. It returns at once with an error
// when ctx's deadline comes before the turn could (counting nothing), and
// counts nothing when ctx ends while waiting. The request counts at the time
// Wait returns; Acquire also counts how long the request took.
func (l *AppLimiter) Wait(ctx context.Context, appID, tenantID string) error {
	done, err := l.acquire(ctx, appID, tenantID, TurnFrom(ctx), false)
	if err == nil {
		done()
	}
	return err
}

// WaitTurn is Wait with the turn given explicitly.
func (l *AppLimiter) WaitTurn(ctx context.Context, appID, tenantID string, t Turn) error {
	done, err := l.acquire(ctx, appID, tenantID, t, false)
	if err == nil {
		done()
	}
	return err
}

// Acquire is Wait for a caller that reports when the answer came: call done
// (once) as soon as the response, or the failure, is in. Until then the request
// holds its place in the window, and afterwards as long as it may have reached
// Teams late (sendlog.go).
func (l *AppLimiter) Acquire(ctx context.Context, appID, tenantID string) (done func(), err error) {
	return l.acquire(ctx, appID, tenantID, TurnFrom(ctx), true)
}

func (l *AppLimiter) acquire(ctx context.Context, appID, tenantID string, t Turn, timed bool) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.interval == 0 {
		l.metrics.observe(0)
		return func() {}, nil
	}
	l.mu.Lock()
	start := l.clock.Now()
	q := l.queue(appKey{appID, tenantID}, start)
	if q.waiting == 0 && q.mayGo(t.Namespace, start) {
		s := q.admit(t, start) // the common case: nobody waiting, the slot is free
		l.mu.Unlock()
		l.metrics.observe(0)
		return l.doneFunc(q, s, timed), nil
	}
	if deadline, ok := ctx.Deadline(); ok {
		if eta := q.estimate(t, start); deadline.Sub(start) < eta {
			l.mu.Unlock()
			return nil, fmt.Errorf("waiting about %s for the app rate limit would pass the deadline: %w", eta, context.DeadlineExceeded)
		}
	}
	l.seq++
	w := q.enqueue(t, l.seq)
	q.wake(l)
	l.mu.Unlock()

	select {
	case <-w.admitted:
	case <-ctx.Done():
		l.mu.Lock()
		admitted := w.done
		if !admitted {
			q.leave(w)
		}
		l.mu.Unlock()
		if !admitted {
			return nil, ctx.Err()
		}
	}
	l.metrics.observe(l.clock.Now().Sub(start))
	return l.doneFunc(q, w.sent, timed), nil
}

// doneFunc returns what records the answer to s: its time when timed, else the
// send time (Wait).
func (l *AppLimiter) doneFunc(q *appQueue, s *sent, timed bool) func() {
	if !timed {
		return func() {
			l.mu.Lock()
			q.log.settle(s, s.at)
			l.mu.Unlock()
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			q.finish(s, l.clock.Now())
			l.mu.Unlock()
		})
	}
}

// TryAcquire counts a request (of the zero Turn) if it may be sent now and
// nobody waits; otherwise it counts nothing and returns about how long until it
// could be.
func (l *AppLimiter) TryAcquire(appID, tenantID string) (bool, time.Duration) {
	if l.interval == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	q := l.queue(appKey{appID, tenantID}, now)
	if q.waiting == 0 && q.mayGo("", now) {
		q.log.settle(q.admit(Turn{}, now), now)
		return true, 0
	}
	return false, max(q.estimate(Turn{}, now), time.Nanosecond)
}

// queue returns the state of key, creating it; the caller holds l.mu.
func (l *AppLimiter) queue(key appKey, now time.Time) *appQueue {
	if now.Sub(l.lastSweep) > appSweep {
		l.sweep(now)
	}
	q, ok := l.queues[key]
	if !ok {
		q = newAppQueue(l.interval, l.window)
		l.queues[key] = q
	}
	return q
}

func (l *AppLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, q := range l.queues {
		q.forgetCaps(now)
		if q.idle(now) {
			delete(l.queues, k)
		}
	}
}

// dispatch admits q's waiters as their turns come, until none is left. One
// dispatcher runs per queue with waiters; a new waiter that may go sooner than
// the dispatcher planned (a namespace not at its cap) kicks it.
func (l *AppLimiter) dispatch(q *appQueue) {
	for {
		l.mu.Lock()
		now := l.clock.Now()
		for q.waiting > 0 {
			w := q.pick(now)
			if w == nil {
				break
			}
			q.remove(w)
			w.sent = q.admit(w.turn, now)
			w.done = true
			close(w.admitted)
		}
		if q.waiting == 0 {
			q.running = false
			l.mu.Unlock()
			return
		}
		delay := q.nextChance(now).Sub(now)
		l.mu.Unlock()
		t := l.clock.NewTimer(delay)
		select {
		case <-t.C():
		case <-q.kick:
			t.Stop()
		}
	}
}

// size returns the number of (app, tenant) queues held, for tests.
func (l *AppLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queues)
}

// waiting returns the number of waiters of (app, tenant), for tests.
func (l *AppLimiter) waiting(appID, tenantID string) int { //nolint:unparam // test hook
	l.mu.Lock()
	defer l.mu.Unlock()
	if q, ok := l.queues[appKey{appID, tenantID}]; ok {
		return q.waiting
	}
	return 0
}
