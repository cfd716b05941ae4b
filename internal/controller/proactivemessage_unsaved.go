package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// perMessage is what this process remembers about messages between reconciles, by UID.
type perMessage[T any] struct {
	mu sync.Mutex
	m  map[types.UID]T
}

func (p *perMessage[T]) set(uid types.UID, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[types.UID]T{}
	}
	p.m[uid] = v
}

func (p *perMessage[T]) get(uid types.UID) (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[uid]
	return v, ok
}

func (p *perMessage[T]) forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, uid)
}

// unsavedDelivery is a send Teams accepted whose result this process has not yet managed to
// write to the API server.
//
// The reconciler keeps them (field unsaved) until their result is written. Without that, an
// API server that is away when a result is written turns a known delivery into an unknown
// outcome: the next reconcile finds the send-attempt marker with no result, and reports Unknown
// (AtMostOnce) or sends again (AtLeastOnce). They live in this process only, so a crash still
// leaves the outcome unknown, as documented. An entry whose object is deleted before the write
// succeeds stays until the manager restarts: a few strings, and only after API server outages.
type unsavedDelivery struct {
	marker                     string
	conversationID, activityID string
	noID                       bool
}
