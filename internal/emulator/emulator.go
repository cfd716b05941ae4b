// Package emulator is an in-memory, stateful stand-in for the Microsoft endpoints the operator
// calls: the Entra token endpoint, the Microsoft Graph Teams app calls and the Bot Framework
// Connector, with the rules of ../shared/reference/microsoft-apis.md (roster checks, error codes
// and bodies, rate limits, size limit, token audiences). It also has a control API under
// /_emulator/v1/ for tests: inspection, fault injection and out-of-band changes.
//
// Nothing in the operator knows about it: point the operator's authority host, Graph endpoint and
// Bot service URL at one Server (docs/dev/contracts.md, "The emulator's host layout").
package emulator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Protocol values used in several places.
const (
	algRS256         = "RS256"
	codeInvalidToken = "InvalidAuthenticationToken"
	codeBadArgument  = "BadArgument"
	rscApplication   = "Application"
	distOrganization = "organization"
	jsonNull         = "null"
)

// API names, as in docs/dev/contracts.md.
const (
	apiEntra   = "entra"
	apiGraph   = "graph"
	apiBot     = "botframework"
	apiControl = "emulator"
)

// Options tune the emulator. Zero values take the defaults.
type Options struct {
	// AppRPS is the Connector limit per app per tenant, per second (default 50).
	AppRPS int
	// ConversationLimits apply per bot per conversation, separately to sends and to creates
	// (default 7/1s, 8/2s, 60/30s, 1800/1h).
	ConversationLimits []Limit
	// GraphRPS is the Graph limit per app per tenant, per second (default 0: unlimited).
	GraphRPS int
	// MaxMessageBytes is the largest activity the Connector accepts, measured as Teams does:
	// UTF-16 bytes of the activity, base64 images left out (default 102400).
	MaxMessageBytes int
	// TokenLifetime is the lifetime of issued tokens (default 3599s).
	TokenLifetime time.Duration
	// Latency is added to every Graph and Connector call.
	Latency time.Duration
	// Clock is the time source for tokens, rate limits and faults (default time.Now).
	Clock func() time.Time
	// JournalSize is how many requests the journal keeps (default 50000).
	JournalSize int
	// Logger, when set, gets one line per request (method, path, status, duration).
	Logger *slog.Logger
	// Cloud is the national cloud the emulator plays: Public (default), USGovGCC, USGovGCCHigh,
	// USGovDoD or China. Graph then refuses what that cloud lacks (cloudRefusal).
	Cloud string
}

// DefaultConversationLimits are the Teams per-conversation limits (reference 3.8;
// https://learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit).
var DefaultConversationLimits = []Limit{
	{Count: 7, Window: time.Second},
	{Count: 8, Window: 2 * time.Second},
	{Count: 60, Window: 30 * time.Second},
	{Count: 1800, Window: time.Hour},
}

func (o *Options) defaults() {
	if o.AppRPS == 0 {
		o.AppRPS = 50
	}
	if o.ConversationLimits == nil {
		o.ConversationLimits = DefaultConversationLimits
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 102400
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = 3599 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.JournalSize == 0 {
		o.JournalSize = 50000
	}
}

// Emulator is the in-memory Microsoft service. It is safe for concurrent use.
type Emulator struct {
	opts    Options
	seed    *Seed
	state   atomic.Pointer[world]
	faults  faultSet
	journal *journal
	ids     idClock
	signer  *signer
	tokens  tokenCache
	mux     *http.ServeMux
	botEP   botEndpointState // where users' activities go (useracts.go)
	// changes wakes the viewer's event streams (viewer.go) when activities change.
	changes changeSignal
}

// world is everything Reset throws away.
type world struct {
	dir      *directory
	convs    conversations
	log      activityLog
	limits   limiterSet
	appLimit limiterSet
	graphLim limiterSet
	// changed is called after an activity is stored, edited or deleted.
	changed func()
}

// New builds an emulator from a seed (nil: DefaultSeed).
func New(seed *Seed, opts Options) (*Emulator, error) {
	if seed == nil {
		seed = DefaultSeed()
	}
	if err := seed.validateShape(); err != nil {
		return nil, fmt.Errorf("invalid seed: %w", err)
	}
	s, err := seed.clone()
	if err != nil {
		return nil, err
	}
	opts.defaults()
	sg, err := getSigner()
	if err != nil {
		return nil, err
	}
	e := &Emulator{opts: opts, seed: s, journal: newJournal(opts.JournalSize), signer: sg, mux: http.NewServeMux()}
	if err := e.Reset(); err != nil {
		return nil, err
	}
	e.routes()
	return e, nil
}

func (e *Emulator) now() time.Time { return e.opts.Clock() }

func (e *Emulator) world() *world { return e.state.Load() }

// Reset restores the seed the emulator started with and forgets activities, conversations,
// rate-limit history, faults and the journal.
func (e *Emulator) Reset() error {
	w := &world{dir: newDirectory()}
	if err := w.dir.merge(e.seed, e.now()); err != nil {
		return fmt.Errorf("invalid seed: %w", err)
	}
	w.changed = e.changes.notify
	e.state.Store(w)
	e.changes.notify()
	e.faults.clear()
	e.journal.reset()
	e.tokens.reset()
	return nil
}

// Handler serves every emulated host and the control API.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

type infoKey struct{}

// reqInfo is filled in by the route that serves a request, for the journal and the log.
type reqInfo struct {
	api, op   string
	requestID string
	clientID  string
	tenantID  string
	fault     string
	dropped   bool
	status    int
}

func infoFrom(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec := recover()
		if rec != nil && rec != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
			e.opts.logger().Error("Handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(rec))
			if sw.status == 0 {
				http.Error(sw, "internal emulator error", http.StatusInternalServerError)
			}
		}
		e.finish(r, info, sw.status, time.Since(start))
		if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
			panic(rec)
		}
	}()
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	if p := r.URL.EscapedPath(); strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") {
		// http.ServeMux would redirect to the clean path, and clients turn a redirected POST into
		// a GET: answer plainly instead (usually a service URL joined with a doubled slash).
		e.notFoundRoute(sw, r)
		return
	}
	e.mux.ServeHTTP(sw, r)
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Emulator) finish(r *http.Request, info *reqInfo, status int, d time.Duration) {
	if info.status != 0 {
		status = info.status
	}
	if info.api == "" {
		info.api = apiForPath(r.URL.Path)
	}
	if info.api != apiControl {
		e.journal.add(JournalEntry{
			Time: e.now(), Method: r.Method, Path: redactedPath(r.URL), API: info.api, Operation: info.op,
			Status: status, Duration: d, RequestID: info.requestID, ClientID: info.clientID, TenantID: info.tenantID,
			Fault: info.fault, Dropped: info.dropped,
		})
	}
	if e.opts.Logger != nil {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "duration", d.Round(time.Microsecond)} //nolint:goconst // log keys
		if info.op != "" {
			attrs = append(attrs, "api", info.api, "operation", info.op)
		}
		if info.fault != "" {
			attrs = append(attrs, "fault", info.fault)
		}
		if info.dropped {
			attrs = append(attrs, "dropped", true)
		}
		e.opts.Logger.Info("Request", attrs...)
	}
}

func apiForPath(p string) string {
	switch {
	case strings.HasPrefix(p, "/_emulator/"):
		return apiControl
	case strings.HasPrefix(p, "/v1.0/"), strings.HasPrefix(p, "/beta/"):
		return apiGraph
	case strings.Contains(p, "/v3/"):
		return apiBot
	case strings.Contains(p, "/oauth2/"), strings.Contains(p, "/.well-known/"), strings.Contains(p, "/discovery/"):
		return apiEntra
	}
	return "none"
}

// opFunc names the operation of a request.
type opFunc func(r *http.Request) string

func op(name string) opFunc { return func(*http.Request) string { return name } }

// handle registers a Microsoft API route: it labels the request, sets the API's id headers,
// applies faults and the configured latency, then calls h.
func (e *Emulator) handle(pattern, api string, name opFunc, h http.HandlerFunc) {
	e.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r)
		info.api, info.op = api, name(r)
		e.setIDHeaders(w, r, info)
		if f := e.faults.match(api, info.op, r.Method, r.URL.Path, e.now()); f != nil {
			info.fault = f.ID
			switch f.Action {
			case FaultError:
				e.writeFault(w, r, f)
				return
			case FaultLatency:
				if !sleep(r.Context(), f.Latency) {
					return
				}
			case FaultAcceptThenDrop:
				e.serveThenDrop(w, r, info, h)
				return
			}
		}
		if e.opts.Latency > 0 && api != apiEntra && !sleep(r.Context(), e.opts.Latency) {
			return
		}
		h(w, r)
	})
}

func (e *Emulator) setIDHeaders(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	id := newRequestID()
	info.requestID = id
	h := w.Header()
	switch info.api {
	case apiGraph:
		h.Set("request-id", id)
		if c := r.Header.Get("client-request-id"); c != "" {
			h.Set("client-request-id", c)
		} else {
			h.Set("client-request-id", id)
		}
	case apiBot:
		h.Set("X-Correlating-OperationId", id)
	case apiEntra:
		h.Set("x-ms-request-id", id)
		if c := r.Header.Get("client-request-id"); c != "" {
			h.Set("client-request-id", c)
		}
	}
}

// sleep waits d or until ctx ends; it reports whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// discardWriter captures a response that will never be sent.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}

// serveThenDrop processes the request completely, throws the answer away and closes the
// connection (HTTP/1.1: hijack and close; HTTP/2: reset the stream).
func (e *Emulator) serveThenDrop(w http.ResponseWriter, r *http.Request, info *reqInfo, h http.HandlerFunc) {
	dw := &discardWriter{h: http.Header{}}
	h(dw, r)
	info.status = dw.status
	info.dropped = true
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

func newRequestID() string { return uuid.NewString() }
