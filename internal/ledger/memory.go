package ledger

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Memory is what this process remembers about sends between reconciles besides the journal:
// when refused sends may go again. One Memory serves all the objects of a reconciler; it is
// safe for concurrent reconciles. (Delivered ids the API server did not take yet are the
// journal's: it holds them and retries their write.)
type Memory struct {
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
