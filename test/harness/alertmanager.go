package harness

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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Alertmanager is Debian's prometheus-alertmanager on loopback, serving its API over TLS with a
// CA of its own, as a namespace's Secret would name it.
type Alertmanager struct {
	*Process
	// URL is https://127.0.0.1:port.
	URL string
	// CAPEM is the CA that signed its certificate.
	CAPEM []byte
}

// AlertmanagerBinary is the path of prometheus-alertmanager, or an error that says how to install it.
func AlertmanagerBinary() (string, error) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		return "", errors.New("prometheus-alertmanager is not on PATH: install it with " +
			"`apt-get install -y prometheus-alertmanager` (.ci/run does)")
	}
	return bin, nil
}

// StartAlertmanager runs Alertmanager in dir with config (alertmanager.yml text) and waits until
// its API answers. Stop it with Stop.
func StartAlertmanager(dir, config string) (*Alertmanager, error) {
	bin, err := AlertmanagerBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	caPEM, err := WriteLoopbackCert(dir)
	if err != nil {
		return nil, err
	}
	web := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n",
		filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	for name, text := range map[string]string{"web.yml": web, "alertmanager.yml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	p, err := StartProcess(dir, "alertmanager", nil, bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.config.file="+filepath.Join(dir, "web.yml"),
		// The URL it puts in notifications (externalURL): the one it is reached at.
		"--web.external-url=https://"+addr,
		"--cluster.listen-address=", "--log.level=debug")
	if err != nil {
		return nil, err
	}
	am := &Alertmanager{Process: p, URL: "https://" + addr, CAPEM: caPEM}
	if err := am.waitReady(30 * time.Second); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	return am, nil
}

// HTTPClient trusts the Alertmanager's CA.
func (am *Alertmanager) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(am.CAPEM)
	return &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func (am *Alertmanager) waitReady(timeout time.Duration) error {
	c := am.HTTPClient()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/-/ready", nil)
		if resp, err := c.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("alertmanager is not ready after %s; see %s", timeout, am.Log)
		case <-am.Done():
			return fmt.Errorf("alertmanager exited: %v; see %s", am.Err(), am.Log)
		case <-tick.C:
		}
	}
}

// WriteLoopbackCert writes a CA-signed tls.crt and tls.key for 127.0.0.1 into dir and returns the
// CA (for servers a test or the demo runs: Alertmanager, the bot endpoint).
func WriteLoopbackCert(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "harness CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	for name, b := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			return nil, err
		}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
