package botendpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// Path is the messaging endpoint the Azure Bot resource points at.
const Path = "/api/messages"

// Defaults of HandlerOptions.
const (
	// DefaultMaxBodyBytes caps an activity. Teams messages are at most about 100 KB (reference
	// 3.7); invokes are smaller.
	DefaultMaxBodyBytes = 512 << 10
	// DefaultTimeout bounds the work on one activity: Teams waits 15 seconds for the answer.
	DefaultTimeout    = 10 * time.Second
	defaultDedupeSize = 10000
	defaultDedupeTTL  = time.Hour
)

// Authenticator decides whether a request carrying a may be acted on (*Verifier).
type Authenticator interface {
	Verify(ctx context.Context, authorization string, a *Activity) *Refusal
}

// HandlerOptions configure the endpoint.
type HandlerOptions struct {
	Auth     Authenticator
	Registry *Registry
	// MaxBodyBytes caps the request body (413 above it). Zero: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds the handlers of one activity. Zero: DefaultTimeout.
	Timeout time.Duration
	Log     logr.Logger
	// Now is the clock of the duplicate filter (default time.Now).
	Now func() time.Time
}

type handler struct {
	o     HandlerOptions
	dedup *dedupe
}

// NewHandler returns the /api/messages handler.
func NewHandler(o HandlerOptions) http.Handler {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = NewRegistry()
	}
	h := &handler{o: o, dedup: newDedupe(defaultDedupeSize, defaultDedupeTTL, o.Now)}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	return mux
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { requestSeconds.Observe(time.Since(start).Seconds()) }()
	a, refusal := h.authenticate(w, r)
	if refusal != nil {
		refusedTotal.WithLabelValues(refusal.Reason).Inc()
		h.o.Log.V(1).Info("Refused a request to the bot endpoint", "reason", refusal.Reason, "detail", refusal.detail)
		http.Error(w, http.StatusText(refusal.Status), refusal.Status)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
	defer cancel()
	h.dispatch(ctx, w, a)
}

// authenticate reads and checks the request. Nothing is acted on before it returns no refusal.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (*Activity, *Refusal) {
	if r.Method != http.MethodPost {
		return nil, refuse(http.StatusMethodNotAllowed, ReasonMethod, "only POST")
	}
	authz := r.Header.Get("Authorization")
	if _, ok := bearer(authz); !ok {
		return nil, refuse(http.StatusUnauthorized, ReasonNoToken, "no bearer token")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, refuse(http.StatusRequestEntityTooLarge, ReasonTooLarge, "body over the limit")
		}
		return nil, refuse(http.StatusBadRequest, ReasonMalformed, "reading the body failed")
	}
	a := &Activity{}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(a); err != nil || dec.More() || a.Type == "" {
		return nil, refuse(http.StatusBadRequest, ReasonMalformed, "the body is not an activity")
	}
	if refusal := h.o.Auth.Verify(r.Context(), authz, a); refusal != nil {
		return nil, refusal
	}
	return a, nil
}

// dispatch acts on an authenticated activity once and answers.
func (h *handler) dispatch(ctx context.Context, w http.ResponseWriter, a *Activity) {
	typ := typeLabel(a.Type)
	log := h.o.Log.WithValues("type", a.Type, "activityId", a.ID)
	if a.TenantID() == "" {
		// Every Teams activity names its tenant; without one nothing can be scoped to it.
		activitiesTotal.WithLabelValues(typ, ResultIgnored).Inc()
		w.WriteHeader(http.StatusOK)
		return
	}
	key := a.BotAppID() + "\x00" + a.Conversation.ID + "\x00" + a.ID
	if a.ID != "" && !h.dedup.claim(key) {
		activitiesTotal.WithLabelValues(typ, ResultDuplicate).Inc()
		log.V(1).Info("Ignored a repeated delivery of an activity")
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.Type == TypeInvoke {
		h.invoke(ctx, w, a, typ)
		return
	}
	handled := false
	for _, ah := range h.o.Registry.handlers(a.Type) {
		did, err := ah.HandleActivity(ctx, a)
		if err != nil {
			h.dedup.forget(key)
			activitiesTotal.WithLabelValues(typ, ResultFailed).Inc()
			log.Error(err, "Handling an activity failed; the Bot Connector will deliver it again")
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		handled = handled || did
	}
	result := ResultIgnored
	if handled {
		result = ResultHandled
	}
	activitiesTotal.WithLabelValues(typ, result).Inc()
	w.WriteHeader(http.StatusOK)
}

func (h *handler) invoke(ctx context.Context, w http.ResponseWriter, a *Activity, typ string) {
	ih, ok := h.o.Registry.invoke(a.Name)
	resp := notImplemented
	result := ResultNotImplemented
	if ok {
		resp = ih.Invoke(ctx, a)
		result = ResultHandled
		if resp.Status >= http.StatusInternalServerError {
			result = ResultFailed
		}
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	activitiesTotal.WithLabelValues(typ, result).Inc()
	if resp.Body == nil {
		w.WriteHeader(resp.Status)
		return
	}
	b, err := json.Marshal(resp.Body)
	if err != nil {
		h.o.Log.Error(err, "Encoding an invoke response failed", "name", a.Name)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(b)
}
