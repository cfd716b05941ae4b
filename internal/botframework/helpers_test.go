package botframework

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// The real limiters fit the Limiter interface.
var (
	_ Limiter = (*ratelimit.AppLimiter)(nil)
	_ Limiter = (*ratelimit.ConversationLimiter)(nil)
)

const testToken = "test-bot-token"

// journal records, in order, what each collaborator of the client saw:
// "app-limiter app/tenant", "conv-limiter app/thread", "token", "send HOST".
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

type journalTokens struct {
	j   *journal
	err error
}

func (t journalTokens) Token(context.Context) (string, error) {
	t.j.add("token")
	return testToken, t.err
}

type journalLimiter struct {
	j    *journal
	name string
	err  error
}

func (l journalLimiter) Wait(_ context.Context, appID, key string) error {
	l.j.add(l.name + " " + appID + "/" + key)
	return l.err
}

// seen is one request as the server received it.
type seen struct {
	Method        string
	RequestURI    string // as sent on the wire
	Path          string // decoded
	Authorization string
	ContentType   string
	Body          string
}

// server is a TLS server that records requests and answers with respond.
type server struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []seen
	respond http.HandlerFunc
}

func newServer(t *testing.T, respond http.HandlerFunc) *server {
	t.Helper()
	s := &server{respond: respond}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{
			Method:        r.Method,
			RequestURI:    r.RequestURI,
			Path:          r.URL.Path,
			Authorization: r.Header.Get("Authorization"),
			ContentType:   r.Header.Get("Content-Type"),
			Body:          string(body),
		})
		s.mu.Unlock()
		s.respond(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// hostPort is the server's host:port, for the policy.
func (s *server) hostPort() string {
	u, _ := url.Parse(s.srv.URL)
	return u.Host
}

// serviceURL is the server's URL with a Teams-like region path.
func (s *server) serviceURL() string { return s.srv.URL + "/teams/" }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fixture is a client wired to a server, with every collaborator journaled.
type fixture struct {
	server *server
	client *Client
	j      *journal
	ops    []transport.Operation
	opsMu  sync.Mutex
}

func (f *fixture) operations() []transport.Operation {
	f.opsMu.Lock()
	defer f.opsMu.Unlock()
	return append([]transport.Operation(nil), f.ops...)
}

type fixtureOption func(*Options)

func newFixture(t *testing.T, respond http.HandlerFunc, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{server: newServer(t, respond), j: &journal{}}
	hc := f.server.srv.Client()
	base := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		f.j.add("send " + r.URL.Host)
		f.opsMu.Lock()
		f.ops = append(f.ops, transport.OperationFrom(r.Context()))
		f.opsMu.Unlock()
		return base.RoundTrip(r)
	})
	o := Options{
		HTTPClient:          hc,
		Tokens:              journalTokens{j: f.j},
		AppID:               "bot-app",
		TenantID:            "tenant-1",
		Policy:              NewServiceURLPolicy([]string{"smba.trafficmanager.net", f.server.hostPort()}),
		AppLimiter:          journalLimiter{j: f.j, name: "app-limiter"},
		ConversationLimiter: journalLimiter{j: f.j, name: "conv-limiter"},
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	f.client = c
	return f
}

func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}
