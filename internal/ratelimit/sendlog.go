package ratelimit

import (
	"slices"
	"time"
)

// Teams counts a request in its windows when the request reaches it, not when
// it leaves this process; the limiters here know only when a request left and
// when its answer came back. The request reached Teams somewhere in between, so
// a request that took longer than usual may have reached Teams late, bunched
// with requests sent after it, and a limiter that counted send times alone
// would let a window overflow by as much as that delay (a new connection's TLS
// handshake, a scheduler stall on a loaded machine, a slow hop). So each
// request holds its place in the windows from when it leaves until the latest
// moment it may have been counted:
//
//   - while it is in flight, at least until now (it may still arrive);
//   - once answered at r, until r - floor, where floor is the shortest round
//     trip seen lately: the part of every round trip that is not delay (at
//     least the answer's way back), so no request arrived after r - floor
//     unless its way back was faster than every recent request's whole trip.
//
// Callers that cannot say when the answer came (Wait, TryAcquire) count the
// request at its send time, as before. Microsoft's rate-limit page
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit)
// gives the limits per second and per window, not where Teams takes the time;
// counting from the send to the answer holds wherever it does.

// AppMargin widens the app window (1 s at Teams' 50 requests per second) on
// the client side, for what the round-trip accounting cannot see: a request
// whose way out was slower than the floor assumes. It costs 1% of the rate.
const AppMargin = 10 * time.Millisecond

// maxInFlight is how long a request without an answer holds its place: longer
// than any client timeout, so only a caller that never reports the answer (a
// bug) loses the place for good.
const maxInFlight = 2 * time.Minute

// floorPeriod is how long a round trip counts for the floor: the floor follows a
// slower network or server within two periods, and never rises above any round
// trip of the last period.
const floorPeriod = 30 * time.Second

// rttFloor is the shortest round trip of the last one to two floorPeriods (a
// windowed minimum in two buckets). Zero until a round trip is seen: every
// request then holds its place until its answer, the safest assumption.
type rttFloor struct {
	cur, prev time.Duration // 0: none in the bucket
	since     time.Time     // when cur started
}

func (f *rttFloor) observe(d time.Duration, now time.Time) {
	f.rotate(now)
	if d > 0 && (f.cur == 0 || d < f.cur) {
		f.cur = d
	}
}

func (f *rttFloor) get(now time.Time) time.Duration {
	f.rotate(now)
	switch {
	case f.prev == 0:
		return f.cur
	case f.cur == 0:
		return f.prev
	}
	return min(f.cur, f.prev)
}

func (f *rttFloor) rotate(now time.Time) {
	switch age := now.Sub(f.since); {
	case age >= 2*floorPeriod:
		f.cur, f.prev, f.since = 0, 0, now
	case age >= floorPeriod:
		f.cur, f.prev, f.since = 0, f.cur, f.since.Add(floorPeriod)
	}
}

// sent is one admitted request.
type sent struct {
	at   time.Time
	done bool
	// last is the latest moment Teams may have counted it, once answered.
	last time.Time
}

// latest is the latest moment Teams may count s in a window, as known at now.
func (s *sent) latest(now time.Time, floor time.Duration) time.Time {
	switch {
	case s.done:
		return s.last
	case now.Sub(s.at) > maxInFlight:
		return s.at.Add(maxInFlight)
	}
	return later(s.at, now.Add(-floor))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sendLog holds the requests that may still count in a window, by send time:
// an answered request is dropped once the longest window (plus margin) has
// passed its latest moment, so the log holds at most the largest window count
// of answered requests plus those in flight. The owner's mutex guards it.
type sendLog struct {
	horizon  time.Duration // the longest window plus the margin
	entries  []*sent
	inFlight []*sent // the entries not answered yet (few)
	// maxLag bounds latest-at of the answered entries (reset when the log
	// empties): older entries than that behind the ones that matter cannot matter.
	maxLag  time.Duration
	scratch []time.Time
}

func (g *sendLog) add(now time.Time) *sent {
	s := &sent{at: now}
	g.entries = append(g.entries, s)
	g.inFlight = append(g.inFlight, s)
	return s
}

// settle records that s may have been counted until last at the latest.
func (g *sendLog) settle(s *sent, last time.Time) {
	if s.done {
		return
	}
	s.done, s.last = true, later(s.at, last)
	g.maxLag = max(g.maxLag, s.last.Sub(s.at))
	if i := slices.Index(g.inFlight, s); i >= 0 {
		g.inFlight[i] = g.inFlight[len(g.inFlight)-1]
		g.inFlight[len(g.inFlight)-1] = nil
		g.inFlight = g.inFlight[:len(g.inFlight)-1]
	}
}

// answered records that s's answer came at now: it may have reached Teams until
// now less the floor.
func (g *sendLog) answered(s *sent, now time.Time, floor time.Duration) {
	g.settle(s, now.Add(-floor))
}

// prune drops the oldest requests that can no longer count in any window. One
// still in flight keeps every newer one (dropped later), which only delays the
// cleanup; one in flight for longer than maxInFlight is given up.
func (g *sendLog) prune(now time.Time) {
	drop := 0
	for drop < len(g.entries) {
		s := g.entries[drop]
		if !s.done && now.Sub(s.at) <= maxInFlight || s.latest(now, 0).Add(g.horizon).After(now) {
			break
		}
		g.settle(s, s.latest(now, 0))
		drop++
	}
	if drop > 0 {
		clear(g.entries[:drop])
		g.entries = slices.Delete(g.entries, 0, drop)
	}
	if len(g.entries) == 0 {
		g.maxLag = 0
	}
}

// nextAllowed is the earliest time, as known at now, at which one more request
// keeps every window within its count: for a window of N per W, the N-th latest
// of the requests' latest moments must be W+margin behind. The in-flight ones'
// latest moments move with now: callers look again when they wake.
func (g *sendLog) nextAllowed(windows []Window, margin time.Duration, now time.Time, floor time.Duration) time.Time {
	next := now
	deepest := 0 // the largest count that the log can reach
	for _, w := range windows {
		if w.Count <= len(g.entries) {
			deepest = max(deepest, w.Count)
		}
	}
	if deepest == 0 {
		return next
	}
	// The deepest newest requests all count at or after the deepest-th newest
	// send time; an answered request sent maxLag before that counts no later, so
	// it cannot change the order statistics: only the ones after it, and those
	// in flight, are looked at.
	bound := g.entries[len(g.entries)-deepest].at.Add(-g.maxLag)
	times := g.scratch[:0]
	for i, s := range slices.Backward(g.entries) {
		if i < len(g.entries)-deepest && !s.at.After(bound) {
			break
		}
		if s.done {
			times = append(times, s.last)
		}
	}
	slices.Reverse(times)
	for _, s := range g.inFlight {
		times = append(times, s.latest(now, floor))
	}
	sortNearlySorted(times)
	for _, w := range windows {
		if w.Count <= len(g.entries) {
			next = later(next, times[len(times)-w.Count].Add(w.Period+margin))
		}
	}
	g.scratch = times[:0]
	return next
}

// holding is how many requests still count in a window of period (margin
// included) at now.
func (g *sendLog) holding(period time.Duration, now time.Time, floor time.Duration) int {
	n := 0
	for _, s := range g.entries {
		if s.latest(now, floor).Add(period).After(now) {
			n++
		}
	}
	return n
}

// sortNearlySorted sorts times in place, oldest first, by insertion: the
// latest moments of requests in send order are out of order only where a
// request took longer than the ones after it, so this is about linear (a
// conversation may hold 1,800 requests of the last hour).
func sortNearlySorted(times []time.Time) {
	for i := 1; i < len(times); i++ {
		t := times[i]
		j := i
		for ; j > 0 && times[j-1].After(t); j-- {
			times[j] = times[j-1]
		}
		times[j] = t
	}
}

// sendTimes returns the send times held, oldest first, for tests.
func (g *sendLog) sendTimes() []time.Time {
	out := make([]time.Time, len(g.entries))
	for i, s := range g.entries {
		out[i] = s.at
	}
	return out
}
