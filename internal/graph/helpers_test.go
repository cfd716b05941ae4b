package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/transport"
)

const testToken = "test-graph-token"

// staticTokens counts the tokens it hands out.
type staticTokens struct {
	calls  atomic.Int32
	resets atomic.Int32
	err    error
}

// Reset counts the resets the client asks for.
func (s *staticTokens) Reset() { s.resets.Add(1) }

func (s *staticTokens) Token(context.Context) (string, error) {
	s.calls.Add(1)
	if s.err != nil {
		return "", s.err
	}
	return testToken, nil
}

// seen is one request as the server received it.
type seen struct {
	Method          string
	RequestURI      string // exactly as sent on the wire
	Path            string // decoded
	Query           map[string][]string
	Authorization   string
	ClientRequestID string
	ContentType     string
	Body            string
	Operation       transport.Operation // the label on the client side
}

// stub is a TLS server that records requests and answers with respond. The
// recording is read in the test goroutine, never asserted in the handler.
type stub struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []seen
	ops     []transport.Operation
	respond http.HandlerFunc
}

func newStub(t *testing.T, respond http.HandlerFunc) *stub {
	t.Helper()
	s := &stub{respond: respond}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{
			Method:          r.Method,
			RequestURI:      r.RequestURI,
			Path:            r.URL.Path,
			Query:           r.URL.Query(),
			Authorization:   r.Header.Get("Authorization"),
			ClientRequestID: r.Header.Get("client-request-id"),
			ContentType:     r.Header.Get("Content-Type"),
			Body:            string(body),
		})
		s.mu.Unlock()
		s.respond(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]seen, len(s.reqs))
	copy(out, s.reqs)
	for i := range out {
		if i < len(s.ops) {
			out[i].Operation = s.ops[i]
		}
	}
	return out
}

// httpClient trusts the stub's certificate and records the operation label of
// every request it sends.
func (s *stub) httpClient() *http.Client {
	hc := s.srv.Client()
	base := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		s.mu.Lock()
		s.ops = append(s.ops, transport.OperationFrom(r.Context()))
		s.mu.Unlock()
		return base.RoundTrip(r)
	})
	return hc
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newTestClient(t *testing.T, s *stub, tokens *staticTokens) *Client {
	t.Helper()
	c, err := New(Options{Endpoint: s.srv.URL, HTTPClient: s.httpClient(), Tokens: tokens})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return c
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

func expectNoRequest(g Gomega, s *stub, tokens *staticTokens) {
	g.Expect(s.requests()).To(BeEmpty())
	g.Expect(tokens.calls.Load()).To(BeZero())
}

var errBoom = errors.New("boom")
