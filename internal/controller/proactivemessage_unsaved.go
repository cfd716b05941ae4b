package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// unsavedDelivery is a send Teams accepted whose result this process has not yet managed to
// write to the API server.
type unsavedDelivery struct {
	marker                     string
	conversationID, activityID string
	noID                       bool
}

// unsavedDeliveries remembers deliveries until their result is written. Without it, an API
// server that is away when a result is written turns a known delivery into an unknown outcome:
// the next reconcile finds the send-attempt marker with no result, and reports Unknown
// (AtMostOnce) or sends again (AtLeastOnce). It lives in this process only, so a crash still
// leaves the outcome unknown, as documented. An entry whose object is deleted before the write
// succeeds stays until the manager restarts: a few strings, and only after API server outages.
type unsavedDeliveries struct {
	mu sync.Mutex
	m  map[types.UID]unsavedDelivery
}

func (u *unsavedDeliveries) remember(uid types.UID, d unsavedDelivery) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[types.UID]unsavedDelivery{}
	}
	u.m[uid] = d
}

func (u *unsavedDeliveries) forget(uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, uid)
}

// lookup returns the unsaved delivery of the send marked by marker.
func (u *unsavedDeliveries) lookup(uid types.UID, marker string) (unsavedDelivery, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.m[uid]
	return d, ok && d.marker == marker
}
