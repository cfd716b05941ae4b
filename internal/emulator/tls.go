package emulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Server is a running emulator.
type Server struct {
	// URL is the base URL, https://127.0.0.1:PORT (http:// for StartHTTP). Use it as the
	// authority host (with a trailing slash), the Graph endpoint, and, with a path segment such
	// as /teams/, the Bot service URL.
	URL string
	// Addr is the listening address.
	Addr string
	// CAFile is the path of the CA certificate that signed the server certificate ("" when no
	// caDir was given, or for StartHTTP).
	CAFile string
	// CAPEM is the CA certificate in PEM.
	CAPEM []byte
	// RootCAs trusts the CA, for in-process clients.
	RootCAs *x509.CertPool

	srv       *http.Server
	ln        net.Listener
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// StartTLS serves the emulator over HTTPS on addr ("127.0.0.1:0" picks a port) with a fresh
// self-signed CA and a leaf certificate for 127.0.0.1, ::1 and localhost. The CA certificate is
// written to caDir/ca.crt when caDir is not empty. HTTP/2 and HTTP/1.1 are both served.
func (e *Emulator) StartTLS(addr, caDir string) (*Server, error) {
	caPEM, leaf, err := newCertificates()
	if err != nil {
		return nil, err
	}
	s := &Server{CAPEM: caPEM, RootCAs: x509.NewCertPool()}
	s.RootCAs.AppendCertsFromPEM(caPEM)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	if caDir != "" {
		s.CAFile = filepath.Join(caDir, "ca.crt")
		if err := writeCA(caDir, s.CAFile, caPEM); err != nil {
			return nil, errors.Join(err, ln.Close())
		}
	}
	s.ln = ln
	s.start(e, "https", &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12})
	return s, nil
}

func writeCA(dir, file string, caPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating CA directory: %w", err)
	}
	if err := os.WriteFile(file, caPEM, 0o644); err != nil { //nolint:gosec // a public certificate
		return fmt.Errorf("writing CA certificate: %w", err)
	}
	return nil
}

// StartHTTP serves the emulator over plain HTTP (for curl debugging only: the operator trusts
// only HTTPS endpoints).
func (e *Emulator) StartHTTP(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s := &Server{ln: ln}
	s.start(e, "http", nil)
	return s, nil
}

func (s *Server) start(e *Emulator, scheme string, cfg *tls.Config) {
	s.Addr = s.ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = scheme + "://" + net.JoinHostPort(host, port)
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(scheme == "https")
	protos.SetUnencryptedHTTP2(false)
	s.srv = &http.Server{
		Handler:           e.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		Protocols:         protos,
		TLSConfig:         cfg,
		ErrorLog:          slog.NewLogLogger(e.opts.logger().Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if cfg != nil {
			_ = s.srv.ServeTLS(s.ln, "", "") // returns http.ErrServerClosed after Close
			return
		}
		_ = s.srv.Serve(s.ln)
	}()
}

// Close stops accepting connections, lets in-flight requests finish for up to 5 seconds, then
// closes everything.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = errors.Join(err, s.srv.Close())
		}
		<-s.done
	})
	return s.closeErr
}

// Client returns an HTTP client that trusts the server's CA.
func (s *Server) Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// newCertificates makes a CA and a server certificate for the loopback names.
func newCertificates() (caPEM []byte, leaf tls.Certificate, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, fmt.Errorf("generating CA key: %w", err)
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		return n
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "teams-emulator CA " + strconv.FormatInt(now.Unix(), 10), Organization: []string{"teams-operator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, leaf, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, fmt.Errorf("generating server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "teams-emulator"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("creating server certificate: %w", err)
	}
	leaf = tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), leaf, nil
}
