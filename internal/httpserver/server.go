// Package httpserver is the HTTPS listener the manager's receivers share (the Alertmanager
// receiver, the bot endpoint): TLS from a certificate directory reloaded when the files change,
// a cap on open connections, and conservative timeouts. It runs as a manager Runnable on every
// replica.
package httpserver

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

// Options say where a receiver listens.
type Options struct {
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

// DefaultMaxConnections is far above what an Alertmanager cluster or the Bot Connector opens.
const DefaultMaxConnections = 64

// Enabled reports whether the receiver should run.
func (o Options) Enabled() bool { return o.BindAddress != "" && o.BindAddress != "0" }

// shutdownTimeout lets requests in flight finish when the manager stops.
const shutdownTimeout = 10 * time.Second

// Server is a receiver's listener and HTTP server.
type Server struct {
	*manager.Server
	certs *certwatcher.CertWatcher
}

// New listens on o.BindAddress at once, so a port in use fails the manager's start. name names
// the runnable ("alertmanager-receiver"); what names the receiver in errors ("the Alertmanager
// receiver").
func New(name, what string, o Options, h http.Handler) (*Server, error) {
	s := &Server{}
	var tlsConfig *tls.Config
	if o.CertDir != "" {
		w, err := certwatcher.New(filepath.Join(o.CertDir, o.CertName), filepath.Join(o.CertDir, o.KeyName))
		if err != nil {
			return nil, fmt.Errorf("loading the receiver's certificate: %w", err)
		}
		s.certs = w
		tlsConfig = &tls.Config{GetCertificate: w.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		if o.EnableHTTP2 {
			tlsConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	l, err := net.Listen("tcp", o.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s: %w", what, o.BindAddress, err)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	l = limitListener(l, o.MaxConnections)
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	timeout := shutdownTimeout
	s.Server = &manager.Server{
		Name:     name,
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

// AddToManager adds the server (and its certificate watcher) to mgr. Servers are not
// leader-elected: every replica answers.
func (s *Server) AddToManager(mgr ctrl.Manager) error {
	if s.certs != nil {
		if err := mgr.Add(s.certs); err != nil {
			return fmt.Errorf("adding the %s certificate watcher: %w", s.Name, err)
		}
	}
	if err := mgr.Add(s.Server); err != nil {
		return fmt.Errorf("adding the %s server: %w", s.Name, err)
	}
	return nil
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
