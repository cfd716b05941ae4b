package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// server is an httptest TLS server that counts requests and answers each with the
// next status of a script (the last one repeats).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  map[string]string
	bodies   []string
	count    atomic.Int32
}

func newServer(t *testing.T, statuses ...int) *server {
	s := &server{statuses: statuses, headers: map[string]string{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	n := int(s.count.Add(1))
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	status := s.statuses[min(n, len(s.statuses))-1]
	for k, v := range s.headers {
		w.Header().Set(k, v)
	}
	s.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (s *server) client(opts Options) *http.Client {
	opts.ExtraRootCAs = x509.NewCertPool()
	opts.ExtraRootCAs.AddCert(s.Certificate())
	if opts.RetryBaseDelay == 0 {
		opts.RetryBaseDelay = time.Millisecond
	}
	return New(opts)
}

func do(ctx context.Context, g Gomega, c *http.Client, method, url, body string) *http.Response {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := c.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = ReadBody(resp, 0)
	g.Expect(err).NotTo(HaveOccurred())
	return resp
}

func TestTrustsExtraRootsAndChecksTheHost(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusOK)

	resp := do(context.Background(), g, s.client(Options{}), http.MethodGet, s.URL, "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	_, err := New(Options{}).Get(s.URL)
	g.Expect(err).To(MatchError(ContainSubstring("certificate")), "the test CA is not a system root")

	// The httptest certificate names 127.0.0.1 and example.com, not localhost.
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	_, err = s.client(Options{}).Get("https://localhost:" + port + "/")
	g.Expect(err).To(MatchError(ContainSubstring("localhost")))
}

func TestRetriesIdempotentVerbs(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			g := NewWithT(t)
			s := newServer(t, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusOK)
			body := ""
			if method == http.MethodPut {
				body = `{"v":1}`
			}
			resp := do(context.Background(), g, s.client(Options{}), method, s.URL, body)
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
			g.Expect(s.count.Load()).To(BeEquivalentTo(3))
			if method == http.MethodPut {
				g.Expect(s.bodies).To(Equal([]string{body, body, body}), "each retry resends the whole body")
			}
		})
	}
}

func TestNeverRetriesPost(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout} {
		g := NewWithT(t)
		s := newServer(t, status, http.StatusOK)
		resp := do(context.Background(), g, s.client(Options{MaxRetries: 5}), http.MethodPost, s.URL, `{"text":"hi"}`)
		g.Expect(resp.StatusCode).To(Equal(status))
		g.Expect(s.count.Load()).To(BeEquivalentTo(1), "a POST is sent exactly once")
	}
}

func TestDoesNotRetry(t *testing.T) {
	tests := map[string]struct {
		status     int
		retryAfter string
		opts       Options
	}{
		"429 belongs to the caller":      {status: http.StatusTooManyRequests},
		"500 is terminal":                {status: http.StatusInternalServerError},
		"404":                            {status: http.StatusNotFound},
		"a long Retry-After":             {status: http.StatusServiceUnavailable, retryAfter: "30"},
		"retries disabled":               {status: http.StatusServiceUnavailable, opts: Options{MaxRetries: -1}},
		"a long Retry-After (HTTP date)": {status: http.StatusServiceUnavailable, retryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newServer(t, tc.status, http.StatusOK)
			if tc.retryAfter != "" {
				s.headers["Retry-After"] = tc.retryAfter
			}
			resp := do(context.Background(), g, s.client(tc.opts), http.MethodGet, s.URL, "")
			g.Expect(resp.StatusCode).To(Equal(tc.status))
			g.Expect(s.count.Load()).To(BeEquivalentTo(1))
		})
	}
}

func TestHonoursAShortRetryAfter(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusServiceUnavailable, http.StatusOK)
	s.headers["Retry-After"] = "0.05"
	start := time.Now()
	resp := do(context.Background(), g, s.client(Options{RetryBaseDelay: time.Nanosecond}), http.MethodGet, s.URL, "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 50*time.Millisecond))
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusServiceUnavailable)
	resp := do(context.Background(), g, s.client(Options{MaxRetries: 3}), http.MethodGet, s.URL, "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
	g.Expect(s.count.Load()).To(BeEquivalentTo(4))
}

func TestRetriesConnectionErrorsOnlyForIdempotentVerbs(t *testing.T) {
	for method, wantCalls := range map[string]int32{http.MethodGet: 2, http.MethodPost: 1} {
		t.Run(method, func(t *testing.T) {
			g := NewWithT(t)
			var calls atomic.Int32
			s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if calls.Add(1) == 1 { // drop the connection before any response
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						_ = conn.Close()
					}
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer s.Close()
			pool := x509.NewCertPool()
			pool.AddCert(s.Certificate())
			c := New(Options{ExtraRootCAs: pool, RetryBaseDelay: time.Millisecond})

			req, err := http.NewRequest(method, s.URL, strings.NewReader("x"))
			g.Expect(err).NotTo(HaveOccurred())
			resp, err := c.Do(req)
			if method == http.MethodPost {
				g.Expect(err).To(HaveOccurred())
			} else {
				g.Expect(err).NotTo(HaveOccurred())
				_, _ = ReadBody(resp, 0)
			}
			g.Expect(calls.Load()).To(Equal(wantCalls))
		})
	}
}

func TestContextCancelStopsBackoff(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(context.Background())
	c := s.client(Options{RetryBaseDelay: time.Hour})
	rt := c.Transport.(*retryTransport)
	sleeping := make(chan struct{})
	rt.sleep = func(ctx context.Context, d time.Duration) error {
		close(sleeping)
		return sleep(ctx, d)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	g.Eventually(sleeping).Should(BeClosed())
	cancel()
	g.Eventually(done).Should(Receive(MatchError(context.Canceled)))
	g.Expect(s.count.Load()).To(BeEquivalentTo(1))
}

func TestDoesNotFollowRedirects(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusFound)
	s.headers["Location"] = "https://login.microsoftonline.com/"
	resp := do(context.Background(), g, s.client(Options{}), http.MethodGet, s.URL, "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusFound))
	g.Expect(s.count.Load()).To(BeEquivalentTo(1))
}

func TestMetrics(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	c := s.client(Options{})
	ctx := WithOperation(context.Background(), "botframework", "metricsTest")
	m := apiMetrics()

	count := func() [3]float64 {
		return [3]float64{
			testutil.ToFloat64(m.requests.WithLabelValues("botframework", "metricsTest", "503")),
			testutil.ToFloat64(m.requests.WithLabelValues("botframework", "metricsTest", "429")),
			testutil.ToFloat64(m.throttled.WithLabelValues("botframework", "metricsTest")),
		}
	}
	before := count()

	do(ctx, g, c, http.MethodGet, s.URL, "") // 503, then 429 (not retried)

	g.Expect(count()).To(Equal([3]float64{before[0] + 1, before[1] + 1, before[2] + 1}))
	g.Expect(testutil.CollectAndCount(m.duration, "teams_operator_api_request_duration_seconds")).To(BeNumerically(">=", 1))

	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	g.Expect(names).To(ContainElements(
		"teams_operator_api_requests_total",
		"teams_operator_api_request_duration_seconds",
		"teams_operator_api_throttled_total",
	))
	g.Expect(New(Options{})).NotTo(BeNil(), "a second client shares the registered metrics")
}

func TestMetricsLabelUnknownOperation(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusNoContent)
	before := testutil.ToFloat64(apiMetrics().requests.WithLabelValues("unknown", "unknown", "204"))
	do(context.Background(), g, s.client(Options{}), http.MethodDelete, s.URL, "")
	g.Expect(testutil.ToFloat64(apiMetrics().requests.WithLabelValues("unknown", "unknown", "204"))).To(Equal(before + 1))
}

func TestLogsRequestIDsButNoSecrets(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusCreated)
	s.headers["request-id"] = "req-123"
	s.headers["client-request-id"] = "creq-456"
	s.headers["X-Correlating-OperationId"] = "corr-789"
	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
	ctx := logr.NewContext(WithOperation(context.Background(), "graph", "installApp"), logger)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1.0/users/u1?sig=SECRETQUERY", strings.NewReader("SECRETBODY"))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer SECRETTOKEN")
	resp, err := s.client(Options{}).Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_, _ = ReadBody(resp, 0)

	mu.Lock()
	defer mu.Unlock()
	g.Expect(lines).To(HaveLen(1))
	g.Expect(lines[0]).To(SatisfyAll(
		ContainSubstring(`"operation"="installApp"`),
		ContainSubstring(`"api"="graph"`),
		ContainSubstring(`"status"=201`),
		ContainSubstring(`"path"="/v1.0/users/u1"`),
		ContainSubstring(`"requestId"="req-123"`),
		ContainSubstring(`"clientRequestId"="creq-456"`),
		ContainSubstring(`"correlatingOperationId"="corr-789"`),
	))
	g.Expect(lines[0]).NotTo(Or(ContainSubstring("SECRET"), ContainSubstring("Bearer")))
}

func TestNoLogWithoutVerbosity(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, http.StatusOK)
	var count atomic.Int32
	logger := funcr.New(func(string, string) { count.Add(1) }, funcr.Options{Verbosity: 0})
	do(logr.NewContext(context.Background(), logger), g, s.client(Options{}), http.MethodGet, s.URL, "")
	g.Expect(count.Load()).To(BeZero())
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestReadBody(t *testing.T) {
	tests := map[string]struct {
		body    string
		limit   int64
		want    string
		wantErr error
	}{
		"under the limit": {body: "hello", limit: 10, want: "hello"},
		"at the limit":    {body: "hello", limit: 5, want: "hello"},
		"over the limit":  {body: "hello world", limit: 5, want: "hello", wantErr: ErrBodyTooLarge},
		"default limit":   {body: "hello", limit: 0, want: "hello"},
		"empty":           {body: "", limit: 5, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			body := &closeTracker{Reader: strings.NewReader(tc.body)}
			data, err := ReadBody(&http.Response{Body: body}, tc.limit)
			if tc.wantErr != nil {
				g.Expect(errors.Is(err, tc.wantErr)).To(BeTrue())
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(string(data)).To(Equal(tc.want))
			g.Expect(body.closed).To(BeTrue())
		})
	}
	data, err := ReadBody(nil, 1)
	NewWithT(t).Expect(data).To(BeNil())
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

func TestOperationFrom(t *testing.T) {
	g := NewWithT(t)
	g.Expect(OperationFrom(context.Background())).To(Equal(Operation{API: "unknown", Name: "unknown"}))
	ctx := WithOperation(context.Background(), "entra", "token")
	g.Expect(OperationFrom(ctx)).To(Equal(Operation{API: "entra", Name: "token"}))
}
