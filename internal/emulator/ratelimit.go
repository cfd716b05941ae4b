package emulator

import (
	"sync"
	"time"
)

// Limit is "at most Count accepted requests in any window of length Window".
type Limit struct {
	Count  int           `json:"count"`
	Window time.Duration `json:"window"`
}

// slidingLog enforces a set of limits exactly as docs/dev/contracts.md defines them: at every
// instant t, the accepted requests in (t-W, t] number at most N. It keeps the timestamps of the
// last max(N) accepted requests in a ring that grows on demand, so an idle key costs a few bytes
// and each decision is O(number of limits).
type slidingLog struct {
	mu   sync.Mutex
	ring []int64 // unix nanos, oldest at head
	head int
	n    int
}

// admit records the request at now and returns 0 if every limit allows it; otherwise it records
// nothing and returns how long until it would be allowed.
func (l *slidingLog) admit(now time.Time, limits []Limit) time.Duration {
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait int64
	maxN := 0
	for _, lim := range limits {
		maxN = max(maxN, lim.Count)
		if lim.Count <= 0 {
			continue
		}
		if l.n < lim.Count {
			continue
		}
		// The lim.Count-th most recent accepted request.
		s := l.ring[(l.head+l.n-lim.Count)%len(l.ring)]
		if t-s < int64(lim.Window) {
			wait = max(wait, s+int64(lim.Window)-t)
		}
	}
	if wait > 0 {
		return time.Duration(wait)
	}
	l.push(t, maxN)
	return 0
}

func (l *slidingLog) push(t int64, capacity int) {
	if capacity <= 0 {
		return
	}
	if l.n < len(l.ring) {
		l.ring[(l.head+l.n)%len(l.ring)] = t
		l.n++
		return
	}
	if len(l.ring) < capacity {
		grown := make([]int64, min(capacity, max(8, 2*len(l.ring))))
		for i := range l.n {
			grown[i] = l.ring[(l.head+i)%len(l.ring)]
		}
		l.ring, l.head = grown, 0
		l.ring[l.n] = t
		l.n++
		return
	}
	// Full at capacity: overwrite the oldest.
	l.ring[l.head] = t
	l.head = (l.head + 1) % len(l.ring)
}

// limiterSet is a concurrent map of sliding logs.
type limiterSet struct{ m sync.Map }

func (s *limiterSet) get(k string) *slidingLog {
	if v, ok := s.m.Load(k); ok {
		return v.(*slidingLog)
	}
	v, _ := s.m.LoadOrStore(k, &slidingLog{})
	return v.(*slidingLog)
}
