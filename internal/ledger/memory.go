package ledger

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Memory is what this process remembers about sends between reconciles: deliveries whose ids
// could not be written yet, and when refused sends may go again. One Memory serves all the
// objects of a reconciler; it is safe for concurrent reconciles. An entry whose object is
// deleted before its write succeeds stays until the manager restarts: a few strings, and only
// after API server outages.
type Memory struct {
	unsaved perObject[Delivery]
	retries perObject[time.Time]
}

type perObject[T any] struct {
	mu sync.Mutex
	m  map[types.UID]T
}

func (p *perObject[T]) set(uid types.UID, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[types.UID]T{}
	}
	p.m[uid] = v
}

func (p *perObject[T]) get(uid types.UID) (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[uid]
	return v, ok
}

func (p *perObject[T]) forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, uid)
}
