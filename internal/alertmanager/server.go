package alertmanager

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// ServerOptions say where the receiver listens.
type ServerOptions struct {
	// BindAddress is host:port; "" or "0" turns the receiver off.
	BindAddress string
	// CertDir, CertName and KeyName serve TLS from these files (reloaded when they change);
	// an empty CertDir serves plain HTTP.
	CertDir, CertName, KeyName string
	// EnableHTTP2 allows HTTP/2 over TLS (off: HTTP/2 Rapid Reset CVEs).
	EnableHTTP2 bool
	// MaxConnections caps the open connections; more wait to be accepted. Zero: DefaultMaxConnections.
	MaxConnections int
}

// DefaultMaxConnections is far above what an Alertmanager cluster opens.
const DefaultMaxConnections = 64

// Enabled reports whether the receiver should run.
func (o ServerOptions) Enabled() bool { return o.BindAddress != "" && o.BindAddress != "0" }

// shutdownTimeout lets notifications in flight finish when the manager stops.
const shutdownTimeout = 10 * time.Second

// AddToManager adds the receiver to mgr as a server on every replica (no leader election: the
// Service sends each notification to any replica, and all of them must answer). It returns nil
// when so turns the receiver off.
func AddToManager(mgr ctrl.Manager, so ServerOptions, o Options) (*Server, error) {
	if !so.Enabled() {
		return nil, nil
	}
	if o.Reader == nil {
		o.Reader = mgr.GetAPIReader()
	}
	if o.Writer == nil {
		o.Writer = mgr.GetClient()
	}
	if o.Metadata == nil {
		o.Metadata = mgr.GetClient() // Secret metadata from the cache; see Options.Metadata
	}
	if o.Recorder == nil {
		o.Recorder = mgr.GetEventRecorder("alertmanager-receiver")
	}
	srv, err := NewServer(so, NewHandler(o))
	if err != nil {
		return nil, err
	}
	if w, ok := srv.watcher(); ok {
		if err := mgr.Add(w); err != nil {
			return nil, fmt.Errorf("adding the receiver's certificate watcher: %w", err)
		}
	}
	if err := mgr.Add(srv.Server); err != nil {
		return nil, fmt.Errorf("adding the Alertmanager receiver: %w", err)
	}
	return srv, nil
}

// Server is the receiver's listener and HTTP server.
type Server struct {
	*manager.Server
	certs *certwatcher.CertWatcher
}

func (s *Server) watcher() (*certwatcher.CertWatcher, bool) { return s.certs, s.certs != nil }

// NewServer listens on so.BindAddress at once, so a port in use fails the manager's start.
func NewServer(so ServerOptions, h http.Handler) (*Server, error) {
	s := &Server{}
	var tlsConfig *tls.Config
	if so.CertDir != "" {
		w, err := certwatcher.New(filepath.Join(so.CertDir, so.CertName), filepath.Join(so.CertDir, so.KeyName))
		if err != nil {
			return nil, fmt.Errorf("loading the receiver's certificate: %w", err)
		}
		s.certs = w
		tlsConfig = &tls.Config{GetCertificate: w.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		if so.EnableHTTP2 {
			tlsConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	l, err := net.Listen("tcp", so.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("the Alertmanager receiver cannot listen on %s: %w", so.BindAddress, err)
	}
	if so.MaxConnections == 0 {
		so.MaxConnections = DefaultMaxConnections
	}
	l = limitListener(l, so.MaxConnections)
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	timeout := shutdownTimeout
	s.Server = &manager.Server{
		Name:     "alertmanager-receiver",
		Listener: l,
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    16 << 10,
		},
		ShutdownTimeout: &timeout,
	}
	return s, nil
}

// Addr is the address the receiver listens on (useful with port 0).
func (s *Server) Addr() string { return s.Listener.Addr().String() }

// limitListener accepts at most n connections at once: the others wait in the kernel's backlog,
// so a flood of connections cannot exhaust the manager's file descriptors or memory.
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n)}
}

type limitedListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
