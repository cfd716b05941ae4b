//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const (
	graphScope = "https://graph.microsoft.com/.default"
	botScope   = "https://api.botframework.com/.default"
)

// fakeClock is a manual clock for Options.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator served over real HTTPS with a client that trusts it.
type env struct {
	t     testing.TB
	g     *WithT
	e     *Emulator
	srv   *Server
	c     *http.Client
	clock *fakeClock
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	return newEnvSeed(t, DefaultSeed(), opts)
}

func newEnvSeed(t testing.TB, seed *Seed, opts Options) *env {
	t.Helper()
	g := NewWithT(t)
	clock := newFakeClock()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	e, err := New(seed, opts)
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := e.StartTLS("127.0.0.1:0", t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	c := srv.Client()
	t.Cleanup(func() {
		// Idle HTTP/2 connections would make Shutdown wait for its GOAWAY timeout.
		c.CloseIdleConnections()
		g.Expect(srv.Close()).To(Succeed())
	})
	return &env{t: t, g: g, e: e, srv: srv, c: c, clock: clock}
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

// str digs a string out of the JSON body: r.str("error", "code").
func (r *resp) str(path ...string) string {
	var cur any = r.json
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func (r *resp) list(k string) []any {
	l, _ := r.json[k].([]any)
	return l
}

func (v *env) do(method, path, token string, body any, headers ...string) *resp {
	v.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		v.g.Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, v.srv.URL+path, rd)
	v.g.Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := v.c.Do(req)
	v.g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(res.Body)
	v.g.Expect(err).NotTo(HaveOccurred())
	r := &resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func (v *env) tokenRequest(tenant string, form url.Values) *resp {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, v.srv.URL+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	v.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := v.c.Do(req)
	v.g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(res.Body)
	v.g.Expect(err).NotTo(HaveOccurred())
	r := &resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func secretForm(clientID, secret, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
}

func (v *env) token(clientID, secret, scope string) string {
	v.t.Helper()
	r := v.tokenRequest(DefaultTenantID, secretForm(clientID, secret, scope))
	v.g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
	return r.str("access_token")
}

func (v *env) graphToken() string {
	return v.token(DefaultBotAppID, DefaultBotSecret, graphScope)
}

func (v *env) botToken() string {
	return v.token(DefaultBotAppID, DefaultBotSecret, botScope)
}

// claims decodes a JWT's claims without verifying it.
func claims(g *WithT, tok string) map[string]any {
	p, err := parseJWT(tok)
	g.Expect(err).NotTo(HaveOccurred())
	return p.claims
}

func bind(appID string) map[string]string {
	return map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + appID}
}

func text(s string) map[string]any { return map[string]any{"type": "message", "text": s} }

func (v *env) install(s Scope, scopeID string) {
	v.t.Helper()
	_, err := v.e.Install(s, scopeID, DefaultTeamsAppID)
	v.g.Expect(err).NotTo(HaveOccurred())
}

// doQuiet is do for goroutines: no assertions, just the status (-1 on a transport error).
func (v *env) doQuiet(method, path, token string, body any) int {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return -1
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, v.srv.URL+path, rd)
	if err != nil {
		return -1
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := v.c.Do(req)
	if err != nil {
		return -1
	}
	defer func() { _ = res.Body.Close() }()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}
