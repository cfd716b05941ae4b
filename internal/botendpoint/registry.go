package botendpoint

import (
	"context"
	"net/http"
	"sync"
)

// InvokeResponse is the answer to an invoke activity: the HTTP status and JSON body the bot
// returns to the Bot Connector (Teams shows Body to the user for adaptiveCard/action).
type InvokeResponse struct {
	Status int
	Body   any
}

// InvokeHandler answers one kind of invoke activity (by Activity.Name). It runs inside the
// request: Teams waits for the answer, so it must return quickly (ctx carries the deadline).
// a.BotAppID() and a.TenantID() are authenticated: the token was issued for that bot, and the
// handler must act only on objects whose credentials are that bot in that tenant.
type InvokeHandler interface {
	Invoke(ctx context.Context, a *Activity) InvokeResponse
}

// InvokeHandlerFunc adapts a function to InvokeHandler.
type InvokeHandlerFunc func(ctx context.Context, a *Activity) InvokeResponse

// Invoke calls f.
func (f InvokeHandlerFunc) Invoke(ctx context.Context, a *Activity) InvokeResponse { return f(ctx, a) }

// ActivityHandler acts on a message or event activity. Handled reports whether it did anything
// (for metrics); an error makes the endpoint answer 500, so the Connector delivers it again.
type ActivityHandler interface {
	HandleActivity(ctx context.Context, a *Activity) (handled bool, err error)
}

// ActivityHandlerFunc adapts a function to ActivityHandler.
type ActivityHandlerFunc func(ctx context.Context, a *Activity) (bool, error)

// HandleActivity calls f.
func (f ActivityHandlerFunc) HandleActivity(ctx context.Context, a *Activity) (bool, error) {
	return f(ctx, a)
}

// Registry routes activities to handlers: invokes by name, other activities by type. Register
// before the endpoint serves; it is safe for concurrent use.
type Registry struct {
	mu         sync.RWMutex
	invokes    map[string]InvokeHandler
	activities map[string][]ActivityHandler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{invokes: map[string]InvokeHandler{}, activities: map[string][]ActivityHandler{}}
}

// HandleInvoke registers h for invokes named name (e.g. "adaptiveCard/action"); a second
// registration of a name replaces the first.
func (r *Registry) HandleInvoke(name string, h InvokeHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invokes[name] = h
}

// HandleActivity adds h for activities of type activityType ("message", "conversationUpdate",
// "installationUpdate", ...). Handlers of one type run in registration order.
func (r *Registry) HandleActivity(activityType string, h ActivityHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.activities[activityType] = append(r.activities[activityType], h)
}

func (r *Registry) invoke(name string) (InvokeHandler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.invokes[name]
	return h, ok
}

func (r *Registry) handlers(activityType string) []ActivityHandler {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.activities[activityType]
}

// notImplemented is the answer to an invoke nobody handles, as the Bot Framework SDKs give it.
var notImplemented = InvokeResponse{Status: http.StatusNotImplemented}
