package botendpoint

import (
	"container/list"
	"sync"
	"time"
)

// dedupe remembers the activities this replica acted on, so a delivery the Bot Connector
// repeats (it retries when an answer is late or lost) is acted on once. It is bounded in size
// and age; a delivery that failed is forgotten, so its retry is acted on.
type dedupe struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // of dedupeEntry, oldest first
	seen  map[string]*list.Element
}

type dedupeEntry struct {
	key string
	at  time.Time
}

func newDedupe(maxEntries int, ttl time.Duration, now func() time.Time) *dedupe {
	return &dedupe{max: maxEntries, ttl: ttl, now: now, order: list.New(), seen: map[string]*list.Element{}}
}

// claim reports whether key is new (and records it); false means it was seen within ttl.
func (d *dedupe) claim(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		if en := e.Value.(dedupeEntry); now.Sub(en.at) > d.ttl || d.order.Len() >= d.max {
			d.order.Remove(e)
			delete(d.seen, en.key)
			continue
		}
		break
	}
	if _, ok := d.seen[key]; ok {
		return false
	}
	d.seen[key] = d.order.PushBack(dedupeEntry{key: key, at: now})
	return true
}

// forget drops key, so a new delivery of it is acted on.
func (d *dedupe) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.seen[key]; ok {
		d.order.Remove(e)
		delete(d.seen, key)
	}
}
