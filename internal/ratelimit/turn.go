package ratelimit

import (
	"context"
	"fmt"
)

// Priority orders the requests waiting in the AppLimiter: every waiting High
// request goes before any Normal one, and every Normal one before any Bulk one.
// The zero value is Normal.
type Priority int8

// The priorities, from last served to first. They mirror ProactiveMessage
// spec.priority.
const (
	Bulk   Priority = -1
	Normal Priority = 0
	High   Priority = 1
)

// priorities lists the levels from first served to last.
var priorities = [...]Priority{High, Normal, Bulk}

func (p Priority) String() string {
	switch p {
	case High:
		return "High"
	case Normal:
		return "Normal"
	case Bulk:
		return "Bulk"
	}
	return fmt.Sprintf("Priority(%d)", int8(p))
}

// level is p's index in priorities; an unknown value counts as Normal.
func (p Priority) level() int {
	switch p {
	case High:
		return 0
	case Bulk:
		return 2
	}
	return 1
}

// ParsePriority reads a ProactiveMessage spec.priority; empty is Normal.
func ParsePriority(s string) (Priority, error) {
	switch s {
	case "High":
		return High, nil
	case "", "Normal":
		return Normal, nil
	case "Bulk":
		return Bulk, nil
	}
	return Normal, fmt.Errorf("unknown priority %q: want High, Normal or Bulk", s)
}

// Turn says on whose behalf a request waits: the namespace it is sent for, its
// priority and the namespace's share. Within one priority, the AppLimiter shares
// the rate of an (app, tenant) between the namespaces that are waiting in
// proportion to their weights (start-time fair queueing), so a namespace with
// thousands of requests queued delays another's single request by at most one
// turn per waiting namespace.
type Turn struct {
	// Namespace is the tenant of the cluster the request serves. Requests with an
	// empty namespace share one queue.
	Namespace string
	// Priority orders the request against every other waiting request.
	Priority Priority
	// Weight is the namespace's share relative to the other namespaces waiting at
	// the same priority; zero or less means 1.
	Weight float64
	// MaxRPS caps the namespace's requests per second in one (app, tenant), at
	// every priority together; zero or less: no cap but the app's.
	MaxRPS float64
}

func (t Turn) weight() float64 {
	if t.Weight > 0 {
		return t.Weight
	}
	return 1
}

type turnKey struct{}

// WithTurn returns ctx carrying t. Every request made with the returned context
// (a botframework.Client call, or AppLimiter.Wait directly) waits for its turn as
// t says: this is how a sender tells the shared limiter its namespace and
// priority without the client knowing either.
func WithTurn(ctx context.Context, t Turn) context.Context {
	return context.WithValue(ctx, turnKey{}, t)
}

// TurnFrom returns the Turn ctx carries; without one, the zero Turn (no
// namespace, Normal, weight 1, no cap).
func TurnFrom(ctx context.Context) Turn {
	t, _ := ctx.Value(turnKey{}).(Turn)
	return t
}
