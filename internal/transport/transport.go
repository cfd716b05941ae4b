// Package transport builds the one *http.Client the operator uses for every
// Microsoft call (Entra, Graph, Bot Framework Connector).
//
// The client has explicit timeouts, takes proxies only from the standard
// environment variables, trusts the standard library's roots (which honour
// SSL_CERT_FILE and SSL_CERT_DIR) plus optional extra roots for in-process tests,
// does not follow redirects (the operator talks only to the hosts it is
// configured with), records Prometheus metrics and V(1) logs per exchange, and
// retries idempotent requests (GET, HEAD, PUT, DELETE) on 502/503/504 and
// connection errors. POST and PATCH are never retried here: the Connector has no
// idempotency key, so resending a message is the delivery engine's decision.
//
// Label requests with WithOperation; read bodies with ReadBody.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultTimeout               = 2 * time.Minute
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxRetries            = 2
	DefaultRetryBaseDelay        = 250 * time.Millisecond
	DefaultMaxRetryAfter         = 5 * time.Second
)

// Options configures New. The zero value is the production configuration.
type Options struct {
	// ExtraRootCAs, when set, are the roots trusted instead of the system's, for
	// tests that run a TLS server in the same process (SSL_CERT_FILE is read only
	// once per process). Verification is Go's own either way: nothing in the
	// manager skips it (the binary has no InsecureSkipVerify; a test checks).
	ExtraRootCAs *x509.CertPool

	// Timeout bounds one call, retries included; callers should also pass a
	// context deadline shorter than their reconcile deadline.
	Timeout               time.Duration
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration

	// MaxRetries is how many times an idempotent request is retried; negative
	// disables retries.
	MaxRetries int
	// RetryBaseDelay is the first backoff (doubled per retry, with jitter).
	RetryBaseDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the transport waits for itself;
	// a longer one is returned to the caller, which can requeue instead of
	// holding a worker.
	MaxRetryAfter time.Duration
}

// New returns a client configured as the package documentation describes. Build
// one per process and share it.
func New(opts Options) *http.Client {
	opts = opts.withDefaults()
	return &http.Client{
		Timeout: opts.Timeout,
		Transport: &retryTransport{
			next:          &instrumentedTransport{next: newHTTPTransport(opts), metrics: apiMetrics()},
			maxRetries:    opts.MaxRetries,
			baseDelay:     opts.RetryBaseDelay,
			maxRetryAfter: opts.MaxRetryAfter,
			sleep:         sleep,
		},
		// A redirect would lead to a host the configuration does not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (o Options) withDefaults() Options {
	setDefault(&o.Timeout, DefaultTimeout)
	setDefault(&o.DialTimeout, DefaultDialTimeout)
	setDefault(&o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	setDefault(&o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	setDefault(&o.IdleConnTimeout, DefaultIdleConnTimeout)
	setDefault(&o.RetryBaseDelay, DefaultRetryBaseDelay)
	setDefault(&o.MaxRetryAfter, DefaultMaxRetryAfter)
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	return o
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func newHTTPTransport(opts Options) *http.Transport {
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.ExtraRootCAs},
		TLSHandshakeTimeout:   opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		IdleConnTimeout:       opts.IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
	}
	return t
}

// closeIdler is what http.Client.CloseIdleConnections looks for on a transport.
type closeIdler interface{ CloseIdleConnections() }

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// CloseIdleConnections passes http.Client.CloseIdleConnections through the wrappers, so
// a shutting-down process (or test) does not keep idle connections open.
func (t *retryTransport) CloseIdleConnections() { closeIdle(t.next) }

// CloseIdleConnections passes the call to the wrapped transport.
func (t *instrumentedTransport) CloseIdleConnections() { closeIdle(t.next) }
