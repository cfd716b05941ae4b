package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// tokenRequest is one POST to the fake token endpoint.
type tokenRequest struct {
	Tenant string
	Form   url.Values
}

// fakeAuthority is a minimal Entra authority: OpenID configuration per tenant and
// a token endpoint. Requests are recorded and asserted in the test goroutine.
type fakeAuthority struct {
	*httptest.Server

	mu       sync.Mutex
	paths    []string
	tokens   []tokenRequest
	issued   int
	respond  func(tenant string, form url.Values) (int, string) // token endpoint answer
	tokenURL func(base, tenant string) string                   // token_endpoint advertised
}

func newFakeAuthority(t *testing.T) *fakeAuthority {
	f := &fakeAuthority{}
	f.respond = f.issue(3599)
	f.tokenURL = func(base, tenant string) string { return base + "/" + tenant + "/oauth2/v2.0/token" }
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.Close)
	return f
}

// issue answers with a fresh token of the given lifetime.
func (f *fakeAuthority) issue(expiresIn int) func(string, url.Values) (int, string) {
	return func(tenant string, form url.Values) (int, string) {
		f.issued++ // under f.mu (see handle)
		tok := fmt.Sprintf("token-%d-%s", f.issued, tenant)
		return http.StatusOK, fmt.Sprintf(`{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":%q}`,
			expiresIn, expiresIn, tok)
	}
}

func (f *fakeAuthority) handle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]string{
			"token_endpoint":         f.tokenURL(f.URL, tenant),
			"authorization_endpoint": f.URL + "/" + tenant + "/oauth2/v2.0/authorize",
			"issuer":                 f.URL + "/" + tenant + "/v2.0",
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		_ = r.ParseForm()
		f.tokens = append(f.tokens, tokenRequest{Tenant: tenant, Form: r.PostForm})
		status, body := f.respond(tenant, r.PostForm)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeAuthority) setRespond(fn func(string, url.Values) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeAuthority) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func (f *fakeAuthority) tokenRequests() []tokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tokenRequest(nil), f.tokens...)
}

// options points token acquisition at the fake authority.
func (f *fakeAuthority) options(t *testing.T) Options {
	t.Helper()
	e, err := cloud.Lookup(cloud.Public)
	if err != nil {
		t.Fatal(err)
	}
	if e, err = e.WithOverrides(f.URL, "", ""); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.Certificate())
	return Options{Endpoints: e, HTTPClient: transport.New(transport.Options{ExtraRootCAs: pool})}
}

// fakeNow is a settable clock for the token sources' refresh decisions.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeNow) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testCertificate returns a self-signed RSA certificate and its key in PEM.
func testCertificate(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "teams-operator test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, cert
}
