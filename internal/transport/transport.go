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
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	// ExtraRootCAs are trusted in addition to the system roots, for tests that run
	// a TLS server in the same process (SSL_CERT_FILE is read only once per
	// process). They apply to direct connections, not to connections through an
	// HTTPS proxy.
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
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		IdleConnTimeout:       opts.IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
	}
	if opts.ExtraRootCAs != nil {
		t.DialTLSContext = tlsDialer(dialer, opts.ExtraRootCAs, opts.TLSHandshakeTimeout)
	}
	return t
}

// tlsDialer dials direct TLS connections that accept a certificate from either the
// system roots or extra. The standard library has no way to merge two pools, and a
// VerifyConnection callback cannot check an IP-literal host (the emulator's
// 127.0.0.1) because such hosts are not sent as SNI; dialing ourselves gives the
// verifier the host.
func tlsDialer(d *net.Dialer, extra *x509.CertPool, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, &tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: host,
			NextProtos: []string{"h2", "http/1.1"},
			// Verification is not skipped: VerifyConnection does it, against two pools.
			InsecureSkipVerify: true, //nolint:gosec // see VerifyConnection
			VerifyConnection:   verifyPeer(host, extra),
		})
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := conn.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

func verifyPeer(host string, extra *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		opts := x509.VerifyOptions{DNSName: host, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		// nil Roots means the system pool, SSL_CERT_FILE and SSL_CERT_DIR included.
		_, sysErr := cs.PeerCertificates[0].Verify(opts)
		if sysErr == nil {
			return nil
		}
		opts.Roots = extra
		if _, err := cs.PeerCertificates[0].Verify(opts); err == nil {
			return nil
		}
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: sysErr}
	}
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
