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

// Margin widens every window on the client side. Requests admitted at exactly the
// window's edge can still reach the server closer together than they left (one is
// delayed in our process or on the wire more than the next), and the server would
// answer 429 (a new connection's TLS handshake alone can take tens of
// milliseconds on a loaded machine). The margin absorbs that jitter at a cost of
// about 2.5% of the 2 s window's throughput and nothing measurable of the long
// windows that bound sustained sending.
const Margin = 50 * time.Millisecond

// ConversationLimiter enforces sliding windows per (app, conversation). It admits
// a request only if, counting it, every window (t-Period-Margin, t] holds at most
// Count admitted requests. Waiters on one conversation are admitted in arrival
// order, so messages to one thread leave in the order they asked.
//
// It remembers the admission times of the last max(Count) requests of each
// conversation (a ring that grows only as far as it is used) and forgets a
// conversation once its newest admission is older than the longest window.
type ConversationLimiter struct {
	windows []Window
	longest time.Duration
	ringCap int
	clock   clock
	metrics waitObserver

	mu        sync.Mutex
	convs     map[convKey]*conversation
	lastSweep time.Time
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
		l.ringCap = max(l.ringCap, w.Count)
	}
	return l
}

// Wait blocks until a request to the conversation may be sent, or ctx is done. On
// success the request is counted: call it right before sending, and only once
// per request.
func (l *ConversationLimiter) Wait(ctx context.Context, appID, conversationID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	start := l.clock.Now()
	c := l.conversation(convKey{appID, conversationID}, start)
	if len(c.queue) == 0 && !c.nextAllowed(l.windows, start).After(start) {
		c.admit(start) // the common case: nobody waiting, room in every window
		l.mu.Unlock()
		l.metrics.observe(0)
		return nil
	}
	w := c.enqueue()
	l.mu.Unlock()

	err := l.waitTurn(ctx, c, w)
	if err == nil {
		err = l.waitWindows(ctx, c)
	}
	l.metrics.observe(l.clock.Now().Sub(start))
	return err
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
	next := c.nextAllowed(l.windows, now)
	if len(c.queue) > 0 {
		// Someone is waiting; they go first. Report at least the windows' delay.
		return false, max(next.Sub(now), time.Millisecond)
	}
	if next.After(now) {
		return false, next.Sub(now)
	}
	c.admit(now)
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
// request, admits it and hands the turn to the next waiter.
func (l *ConversationLimiter) waitWindows(ctx context.Context, c *conversation) error {
	for {
		l.mu.Lock()
		now := l.clock.Now()
		next := c.nextAllowed(l.windows, now)
		if !next.After(now) {
			c.admit(now)
			c.popHead()
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if err := sleepUntil(ctx, l.clock, next.Sub(now)); err != nil {
			l.mu.Lock()
			c.popHead()
			l.mu.Unlock()
			return err
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
		c = &conversation{ringCap: l.ringCap}
		l.convs[key] = c
	}
	return c
}

func (l *ConversationLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, c := range l.convs {
		if c.idle(now, l.longest+Margin) {
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
	ringCap int
	times   []time.Time // admission times, a ring once it reaches ringCap
	head    int         // index of the oldest time when the ring is full
	queue   []*waiter   // FIFO; queue[0] holds the turn
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

// nthNewest returns the n-th most recent admission time (n = 1 is the newest).
func (c *conversation) nthNewest(n int) (time.Time, bool) {
	if n > len(c.times) {
		return time.Time{}, false
	}
	i := (c.head + len(c.times) - n) % len(c.times)
	return c.times[i], true
}

// nextAllowed is the earliest time a new request keeps every window within its
// count: for a window of N per W, the N-th newest admission must have left the
// (widened) window.
func (c *conversation) nextAllowed(windows []Window, now time.Time) time.Time {
	next := now
	for _, w := range windows {
		if t, ok := c.nthNewest(w.Count); ok {
			if edge := t.Add(w.Period + Margin); edge.After(next) {
				next = edge
			}
		}
	}
	return next
}

func (c *conversation) admit(t time.Time) {
	if len(c.times) < c.ringCap {
		c.times = append(c.times, t)
		return
	}
	c.times[c.head] = t
	c.head = (c.head + 1) % c.ringCap
}

func (c *conversation) idle(now time.Time, horizon time.Duration) bool {
	if len(c.queue) > 0 {
		return false
	}
	newest, ok := c.nthNewest(1)
	return !ok || now.Sub(newest) > horizon
}
