package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Window is one sliding-window limit: at every instant t, at most Count requests
// in the half-open interval (t-Period, t].
type Window struct {
	Count  int
	Period time.Duration
}

func (w Window) String() string { return fmt.Sprintf("%d/%s", w.Count, w.Period) }

// DefaultConversationWindows are Teams' per-bot, per-thread limits for sending to
// and creating conversations (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit).
var DefaultConversationWindows = []Window{
	{Count: 7, Period: time.Second},
	{Count: 8, Period: 2 * time.Second},
	{Count: 60, Period: 30 * time.Second},
	{Count: 1800, Period: time.Hour},
}

// Margin widens every conversation window on the client side. Requests admitted at
// exactly the window's edge can still reach the server closer together than they
// left (one is delayed in our process or on the wire more than the next), and the
// server would answer 429. Acquire counts each request until the latest moment it
// may have arrived (sendlog.go), which covers a slow request (a new connection's
// TLS handshake, a stalled process); the margin is for what that cannot see, at a
// cost of about 2.5% of the 2 s window's throughput and nothing measurable of the
// long windows that bound sustained sending.
const Margin = 50 * time.Millisecond

// ConversationLimiter enforces sliding windows per (app, conversation). It admits
// a request only if, counting it, every window (t-Period-Margin, t] holds at most
// Count requests, each counted at the latest moment it may have reached Teams
// (its send time for Wait and TryAcquire; up to its answer for Acquire).
// Waiters on one conversation are admitted in arrival order, so messages to one
// thread leave in the order they asked.
//
// It remembers the requests of each conversation that may still count in a
// window and forgets a conversation once none may.
type ConversationLimiter struct {
	windows []Window
	longest time.Duration
	clock   clock
	metrics waitObserver

	mu        sync.Mutex
	convs     map[convKey]*conversation
	lastSweep time.Time
	floor     rttFloor
}

type convKey struct{ app, conversation string }

// NewConversationLimiter returns a limiter with the given windows. Windows with a
// non-positive count or period are ignored; with none left,
// DefaultConversationWindows apply.
func NewConversationLimiter(limits ...Window) *ConversationLimiter {
	return newConversationLimiter(realClock{}, limits...)
}

func newConversationLimiter(c clock, limits ...Window) *ConversationLimiter {
	l := &ConversationLimiter{clock: c, metrics: waitMetrics("conversation"), convs: map[convKey]*conversation{}}
	for _, w := range limits {
		if w.Count > 0 && w.Period > 0 {
			l.windows = append(l.windows, w)
		}
	}
	if len(l.windows) == 0 {
		l.windows = slices.Clone(DefaultConversationWindows)
	}
	for _, w := range l.windows {
		l.longest = max(l.longest, w.Period)
	}
	return l
}

// Wait blocks until a request to the conversation may be sent, or ctx is done. On
// success the request is counted at its send time: call it right before sending,
// and only once per request.
func (l *ConversationLimiter) Wait(ctx context.Context, appID, conversationID string) error {
	c, s, err := l.wait(ctx, appID, conversationID)
	if err == nil {
		l.mu.Lock()
		c.log.settle(s, s.at)
		l.mu.Unlock()
	}
	return err
}

// Acquire is Wait for a caller that reports when the answer came: call done
// (once) as soon as the response, or the failure, is in.
func (l *ConversationLimiter) Acquire(ctx context.Context, appID, conversationID string) (done func(), err error) {
	c, s, err := l.wait(ctx, appID, conversationID)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			now := l.clock.Now()
			l.floor.observe(now.Sub(s.at), now)
			c.log.answered(s, now, l.floor.get(now))
			l.mu.Unlock()
		})
	}, nil
}

func (l *ConversationLimiter) wait(ctx context.Context, appID, conversationID string) (*conversation, *sent, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	start := l.clock.Now()
	c := l.conversation(convKey{appID, conversationID}, start)
	if len(c.queue) == 0 && !l.nextAllowed(c, start).After(start) {
		s := c.log.add(start) // the common case: nobody waiting, room in every window
		l.mu.Unlock()
		l.metrics.observe(0)
		return c, s, nil
	}
	w := c.enqueue()
	l.mu.Unlock()

	var s *sent
	err := l.waitTurn(ctx, c, w)
	if err == nil {
		s, err = l.waitWindows(ctx, c)
	}
	l.metrics.observe(l.clock.Now().Sub(start))
	return c, s, err
}

// nextAllowed is when c's windows allow one more request, as known at now; the
// caller holds l.mu.
func (l *ConversationLimiter) nextAllowed(c *conversation, now time.Time) time.Time {
	c.log.prune(now)
	return c.log.nextAllowed(l.windows, Margin, now, l.floor.get(now))
}

// TryAcquire admits and counts a request if it may be sent now and nobody is
// queued ahead of it; otherwise it counts nothing and returns how long until the
// windows would allow one. A reconciler can requeue after that delay instead of
// holding a worker in Wait. (A read-only "how long would I wait" query would race
// with other workers; TryAcquire decides and records atomically.)
func (l *ConversationLimiter) TryAcquire(appID, conversationID string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Read the clock under the lock so admission times stay in order.
	now := l.clock.Now()
	c := l.conversation(convKey{appID, conversationID}, now)
	next := l.nextAllowed(c, now)
	if len(c.queue) > 0 {
		// Someone is waiting; they go first. Report at least the windows' delay.
		return false, max(next.Sub(now), time.Millisecond)
	}
	if next.After(now) {
		return false, next.Sub(now)
	}
	c.log.settle(c.log.add(now), now)
	return true, 0
}

// waitTurn blocks until w is at the head of the conversation's queue.
func (l *ConversationLimiter) waitTurn(ctx context.Context, c *conversation, w *waiter) error {
	select {
	case <-w.turn:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		c.leave(w)
		l.mu.Unlock()
		return ctx.Err()
	}
}

// waitWindows runs at the head of the queue: it sleeps until the windows allow a
// request, admits it and hands the turn to the next waiter. A request still in
// flight moves the next slot on as time passes, so it looks again on waking.
func (l *ConversationLimiter) waitWindows(ctx context.Context, c *conversation) (*sent, error) {
	for {
		l.mu.Lock()
		now := l.clock.Now()
		next := l.nextAllowed(c, now)
		if !next.After(now) {
			s := c.log.add(now)
			c.popHead()
			l.mu.Unlock()
			return s, nil
		}
		l.mu.Unlock()
		if err := sleepUntil(ctx, l.clock, next.Sub(now)); err != nil {
			l.mu.Lock()
			c.popHead()
			l.mu.Unlock()
			return nil, err
		}
	}
}

// conversation returns the state of key, creating it; the caller holds l.mu.
// It also evicts idle conversations, at most once per longest window / 4, so the
// map holds only conversations that still constrain something.
func (l *ConversationLimiter) conversation(key convKey, now time.Time) *conversation {
	if now.Sub(l.lastSweep) > l.longest/4 {
		l.sweep(now)
	}
	c, ok := l.convs[key]
	if !ok {
		c = &conversation{log: sendLog{horizon: l.longest + Margin}}
		l.convs[key] = c
	}
	return c
}

func (l *ConversationLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, c := range l.convs {
		if c.idle(now) {
			delete(l.convs, k)
		}
	}
}

// size returns the number of conversations held, for tests.
func (l *ConversationLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.convs)
}

// queued returns the number of waiters on one conversation, for tests.
func (l *ConversationLimiter) queued(appID, conversationID string) int { //nolint:unparam // test hook
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.convs[convKey{appID, conversationID}]; ok {
		return len(c.queue)
	}
	return 0
}

// conversation is the state of one (app, conversation). All fields are guarded by
// the limiter's mutex.
type conversation struct {
	log   sendLog
	queue []*waiter // FIFO; queue[0] holds the turn
}

type waiter struct{ turn chan struct{} }

func (c *conversation) enqueue() *waiter {
	w := &waiter{turn: make(chan struct{})}
	c.queue = append(c.queue, w)
	if len(c.queue) == 1 {
		close(w.turn)
	}
	return w
}

// popHead removes the head waiter and gives the turn to the next one.
func (c *conversation) popHead() {
	c.queue[0] = nil
	c.queue = c.queue[1:]
	if len(c.queue) > 0 {
		close(c.queue[0].turn)
	}
}

// leave removes a cancelled waiter, wherever it is in the queue.
func (c *conversation) leave(w *waiter) {
	i := slices.Index(c.queue, w)
	switch {
	case i == 0:
		c.popHead()
	case i > 0:
		c.queue = slices.Delete(c.queue, i, i+1)
	}
}

func (c *conversation) idle(now time.Time) bool {
	c.log.prune(now)
	return len(c.queue) == 0 && len(c.log.entries) == 0
}
