package ratelimit

import (
	"math"
	"slices"
	"time"
)

// appQueue is the state of one (app, tenant): when the next request may go, the
// requests waiting for it, and the namespaces' caps. The AppLimiter's mutex
// guards every field but kick.
type appQueue struct {
	interval time.Duration // 1/rps
	window   Window        // the rate as a sliding window (rps of 1 s, or ceil(rps) of a longer one)
	last     time.Time     // the latest admission
	log      sendLog       // the requests that may still count in the window
	floor    rttFloor      // the shortest recent round trip
	levels   [len(priorities)]fairLevel
	waiting  int
	// running: a dispatcher goroutine serves the waiters; kick wakes it early.
	running bool
	kick    chan struct{}
	// caps holds, per namespace that sent under a MaxRPS, the earliest its next
	// request may go.
	caps map[string]time.Time
	// recent are the latest admission times (a ring from recentHead once full), to tell a
	// 429 this process caused from one it did not (foreign.go).
	recent             []time.Time
	recentHead         int
	lastForeignWarning time.Time
}

// fairLevel is one priority's start-time fair queue. vtime is the start tag of
// the request served last; a namespace that was idle starts from it, so it
// neither catches up on turns it did not use nor waits behind the backlog of
// others.
type fairLevel struct {
	vtime  float64
	spaces map[string]*fairSpace
	count  int
}

// fairSpace is one namespace's waiters at one priority, in arrival order, and
// the finish tag of its newest request.
type fairSpace struct {
	waiters    []*appWaiter
	lastFinish float64
}

type appWaiter struct {
	turn     Turn
	start    float64 // virtual start tag
	seq      uint64  // arrival order, to break ties
	admitted chan struct{}
	done     bool  // admitted (closed); set under the mutex
	sent     *sent // set when admitted
}

func newAppQueue(interval time.Duration, window Window) *appQueue {
	return &appQueue{
		interval: interval, window: window,
		log:  sendLog{horizon: window.Period + AppMargin},
		kick: make(chan struct{}, 1), caps: map[string]time.Time{},
	}
}

// windowOf is the sliding window of rps requests per second: rps per second when
// rps is whole, else ceil(rps) per ceil(rps)/rps seconds (2.5 per second: 3 per
// 1.2 s), so that no second ever holds more than ceil(rps).
func windowOf(rps float64) Window {
	n := math.Ceil(rps)
	return Window{Count: int(n), Period: time.Duration(math.Ceil(n / rps * float64(time.Second)))}
}

// free is when the next request may go, as known at now: when the window has
// room, and after a spacing from the latest admission of interval times the
// window's fill to the fourth power. A full window spaces requests 1/rps apart,
// as a steady rate does; one left part empty by a pause (a worker busy
// elsewhere, a batch being written) lets them go much faster until it is
// nearly full again (half full: 1/16 of the interval), so most of the pause's
// slots are caught up, and never all in one burst.
func (q *appQueue) free(now time.Time) time.Time {
	q.log.prune(now)
	floor := q.floor.get(now)
	w := q.log.nextAllowed([]Window{q.window}, AppMargin, now, floor)
	held := q.log.holding(q.window.Period+AppMargin, now, floor)
	fill := float64(min(held, q.window.Count)) / float64(q.window.Count)
	gap := time.Duration(float64(q.interval) * math.Pow(fill, 4))
	return later(q.last.Add(gap), w)
}

// mayGo reports whether a request of namespace ns may go at now.
func (q *appQueue) mayGo(ns string, now time.Time) bool {
	return !q.free(now).After(now) && q.underCap(ns, now)
}

func (q *appQueue) underCap(ns string, now time.Time) bool {
	c, ok := q.caps[ns]
	return !ok || !c.After(now)
}

// admit counts a request of turn t sent at now.
func (q *appQueue) admit(t Turn, now time.Time) *sent {
	q.last = now
	s := q.log.add(now)
	q.remember(now)
	if capInterval := intervalOf(t.MaxRPS); capInterval > 0 {
		q.caps[t.Namespace] = now.Add(capInterval)
	} else {
		delete(q.caps, t.Namespace)
	}
	return s
}

// finish records that the answer to s came at now.
func (q *appQueue) finish(s *sent, now time.Time) {
	q.floor.observe(now.Sub(s.at), now)
	q.log.answered(s, now, q.floor.get(now))
}

// enqueue adds a waiter of turn t with its start tag.
func (q *appQueue) enqueue(t Turn, seq uint64) *appWaiter {
	lv := &q.levels[t.Priority.level()]
	if lv.spaces == nil {
		lv.spaces = map[string]*fairSpace{}
	}
	sp, ok := lv.spaces[t.Namespace]
	if !ok {
		sp = &fairSpace{}
		lv.spaces[t.Namespace] = sp
	}
	start := max(lv.vtime, sp.lastFinish)
	sp.lastFinish = start + 1/t.weight()
	w := &appWaiter{turn: t, start: start, seq: seq, admitted: make(chan struct{})}
	sp.waiters = append(sp.waiters, w)
	lv.count++
	q.waiting++
	return w
}

// pick returns the waiter to admit at now, or nil when none may go yet: the
// highest priority with a waiter whose namespace is under its cap, and there the
// smallest start tag (then the earliest arrival).
func (q *appQueue) pick(now time.Time) *appWaiter {
	if q.free(now).After(now) {
		return nil
	}
	for i := range q.levels {
		var best *appWaiter
		for ns, sp := range q.levels[i].spaces {
			if len(sp.waiters) == 0 || !q.underCap(ns, now) {
				continue
			}
			head := sp.waiters[0]
			if best == nil || head.start < best.start || head.start == best.start && head.seq < best.seq {
				best = head
			}
		}
		if best != nil {
			q.levels[i].vtime = best.start
			return best
		}
	}
	return nil
}

// nextChance is when a waiter may next go: the app's next slot, or later when
// every waiting namespace is at its cap until then.
func (q *appQueue) nextChance(now time.Time) time.Time {
	earliest := time.Time{}
	for i := range q.levels {
		for ns, sp := range q.levels[i].spaces {
			if len(sp.waiters) == 0 {
				continue
			}
			at := now
			if c, ok := q.caps[ns]; ok && c.After(now) {
				at = c
			}
			if earliest.IsZero() || at.Before(earliest) {
				earliest = at
			}
		}
	}
	return later(q.free(now), earliest)
}

// estimate is about how long a new waiter of turn t would wait: a slot for each
// waiter at its priority or above, after the next slot and its cap.
func (q *appQueue) estimate(t Turn, now time.Time) time.Duration {
	ahead := 0
	for i := 0; i <= t.Priority.level(); i++ {
		ahead += q.levels[i].count
	}
	eta := max(q.free(now).Sub(now), 0) + time.Duration(ahead)*q.interval
	if c, ok := q.caps[t.Namespace]; ok {
		eta = max(eta, c.Sub(now))
	}
	return eta
}

// remove takes w out of its queue (admitted or given up).
func (q *appQueue) remove(w *appWaiter) {
	lv := &q.levels[w.turn.Priority.level()]
	sp := lv.spaces[w.turn.Namespace]
	i := slices.Index(sp.waiters, w)
	if i < 0 {
		return
	}
	sp.waiters[i] = nil
	sp.waiters = slices.Delete(sp.waiters, i, i+1)
	lv.count--
	q.waiting--
	if lv.count == 0 {
		// Nobody waits at this priority: every namespace is caught up, so their
		// history no longer matters (vtime stays, so tags keep growing).
		clear(lv.spaces)
	}
}

// leave removes a waiter whose context ended before its turn.
func (q *appQueue) leave(w *appWaiter) { q.remove(w) }

// wake makes sure a dispatcher serves q's waiters and looks at the newest one.
func (q *appQueue) wake(l *AppLimiter) {
	if !q.running {
		q.running = true
		go l.dispatch(q)
		return
	}
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *appQueue) forgetCaps(now time.Time) {
	for ns, c := range q.caps {
		if !c.After(now) {
			delete(q.caps, ns)
		}
	}
}

func (q *appQueue) idle(now time.Time) bool {
	// Two seconds after the last admission: its time no longer counts for sentSince.
	q.log.prune(now)
	return q.waiting == 0 && !q.running && now.Sub(q.last) > 2*time.Second && len(q.caps) == 0 && len(q.log.entries) == 0 &&
		now.Sub(q.lastForeignWarning) >= foreignWarnEvery
}
