package botendpoint

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-operator/teams-operator/internal/botframework"
)

const (
	testBot      = "11111111-2222-3333-4444-555555555555"
	otherBot     = "99999999-2222-3333-4444-555555555555"
	testTenant   = "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1b"
	testIssuer   = "https://api.botframework.com"
	testService  = "https://smba.trafficmanager.net/amer/"
	teamsKID     = "teams-key"
	webchatKID   = "webchat-key"
	maxTestBytes = 4096
)

var (
	keysOnce             sync.Once
	teamsKey, webchatKey *rsa.PrivateKey
	strangerKey          *rsa.PrivateKey
)

func testKeys(t *testing.T) {
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&teamsKey, &webchatKey, &strangerKey} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
	if teamsKey == nil {
		t.Fatal("no test keys")
	}
}

func jwk(kid string, k *rsa.PrivateKey, endorsements ...string) map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]any{"kty": "RSA", "use": "sig", "kid": kid, "n": enc(k.N.Bytes()),
		"e": enc(big.NewInt(int64(k.E)).Bytes()), "endorsements": endorsements}
}

// connectorDouble serves OpenID metadata and keys like login.botframework.com, and counts fetches.
type connectorDouble struct {
	srv     *httptest.Server
	fetches atomic.Int32
}

func newConnectorDouble(t *testing.T) *connectorDouble {
	testKeys(t)
	c := &connectorDouble{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": testIssuer, "jwks_uri": c.srv.URL + "/v1/.well-known/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /v1/.well-known/keys", func(w http.ResponseWriter, _ *http.Request) {
		c.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{
			jwk(teamsKID, teamsKey, "msteams", "skype"), jwk(webchatKID, webchatKey, "webchat"),
		}})
	})
	c.srv = httptest.NewTLSServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

type knownBots map[string]bool

func (k knownBots) KnownBot(_ context.Context, appID string) (bool, error) { return k[appID], nil }

// recorder is a handler that must not be called for refused requests.
type recorder struct{ calls atomic.Int32 }

func (r *recorder) HandleActivity(context.Context, *Activity) (bool, error) {
	r.calls.Add(1)
	return true, nil
}

func (r *recorder) Invoke(context.Context, *Activity) InvokeResponse {
	r.calls.Add(1)
	return InvokeResponse{Status: http.StatusOK, Body: map[string]any{"statusCode": 200}}
}

func newTestEndpoint(t *testing.T, c *connectorDouble, now func() time.Time) (http.Handler, *recorder) {
	v, err := NewVerifier(VerifierOptions{
		MetadataURL: c.srv.URL + "/v1/.well-known/openidconfiguration", Issuer: testIssuer, HTTPClient: c.srv.Client(),
		Bots: knownBots{testBot: true, otherBot: true}, Policy: botframework.NewServiceURLPolicy([]string{"smba.trafficmanager.net"}),
		Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	reg := NewRegistry()
	reg.HandleActivity(TypeMessage, rec)
	reg.HandleInvoke("adaptiveCard/action", rec)
	return NewHandler(HandlerOptions{Auth: v, Registry: reg, MaxBodyBytes: maxTestBytes, Now: now}), rec
}

func testActivity() map[string]any {
	return map[string]any{
		"type": "message", "id": "1700000000001", "serviceUrl": testService, "channelId": "msteams",
		"from":         map[string]any{"id": "29:1abc", "aadObjectId": "aaaaaaaa-0000-0000-0000-000000000001"},
		"recipient":    map[string]any{"id": "28:" + testBot},
		"conversation": map[string]any{"id": "a:1xyz", "conversationType": "personal", "tenantId": testTenant},
		"channelData":  map[string]any{"tenant": map[string]any{"id": testTenant}},
		"text":         "hello",
	}
}

func testClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iss": testIssuer, "aud": testBot, "serviceurl": testService,
		"nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type forged struct {
	name     string
	token    func(t *testing.T, now time.Time) string // "" sends no Authorization header
	activity func(a map[string]any)
	body     []byte // replaces the activity when set
	status   int
	reason   string
}

func withClaims(change func(c jwt.MapClaims)) func(t *testing.T, now time.Time) string {
	return func(t *testing.T, now time.Time) string {
		c := testClaims(now)
		change(c)
		return sign(t, jwt.SigningMethodRS256, teamsKID, teamsKey, c)
	}
}

func forgedRequests() []forged {
	valid := withClaims(func(jwt.MapClaims) {})
	return []forged{
		{name: "no token", reason: ReasonNoToken, token: func(*testing.T, time.Time) string { return "" }, status: 401},
		{name: "expired", reason: ReasonExpired, token: withClaims(func(c jwt.MapClaims) {
			c["exp"] = time.Unix(c["iat"].(int64), 0).Add(-6 * time.Minute).Unix()
		}), status: 401},
		{name: "not yet valid", reason: ReasonNotYetValid, token: withClaims(func(c jwt.MapClaims) {
			c["nbf"] = time.Unix(c["iat"].(int64), 0).Add(6 * time.Minute).Unix()
		}), status: 401},
		{name: "wrong audience", reason: ReasonAudience, token: withClaims(func(c jwt.MapClaims) { c["aud"] = otherBot }), status: 401},
		{name: "wrong issuer", reason: ReasonIssuer, token: withClaims(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/evil/" }), status: 401},
		{name: "alg none", reason: ReasonAlgorithm, token: func(t *testing.T, now time.Time) string {
			return sign(t, jwt.SigningMethodNone, teamsKID, jwt.UnsafeAllowNoneSignatureType, testClaims(now))
		}, status: 401},
		{name: "HS256 signed with the public key", reason: ReasonAlgorithm, token: func(t *testing.T, now time.Time) string {
			der, _ := x509.MarshalPKIXPublicKey(&teamsKey.PublicKey)
			pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return sign(t, jwt.SigningMethodHS256, teamsKID, pub, testClaims(now))
		}, status: 401},
		{name: "unknown key id", reason: ReasonUnknownKey, token: func(t *testing.T, now time.Time) string {
			return sign(t, jwt.SigningMethodRS256, "no-such-key", strangerKey, testClaims(now))
		}, status: 401},
		{name: "bad signature", reason: ReasonSignature, token: func(t *testing.T, now time.Time) string {
			return sign(t, jwt.SigningMethodRS256, teamsKID, strangerKey, testClaims(now))
		}, status: 401},
		{name: "no key id", reason: ReasonSignature, token: func(t *testing.T, now time.Time) string {
			return sign(t, jwt.SigningMethodRS256, "", teamsKey, testClaims(now))
		}, status: 401},
		{name: "missing endorsement", reason: ReasonEndorsement, token: func(t *testing.T, now time.Time) string {
			return sign(t, jwt.SigningMethodRS256, webchatKID, webchatKey, testClaims(now))
		}, status: 403},
		{name: "serviceUrl claim mismatch", reason: ReasonServiceURLClaim, token: withClaims(func(c jwt.MapClaims) {
			c["serviceurl"] = "https://smba.trafficmanager.net/emea/"
		}), status: 401},
		{name: "no serviceUrl claim", reason: ReasonServiceURLClaim, token: withClaims(func(c jwt.MapClaims) { delete(c, "serviceurl") }), status: 401},
		{name: "disallowed serviceUrl", reason: ReasonServiceURLPolicy, token: withClaims(func(c jwt.MapClaims) { c["serviceurl"] = "https://evil.example/amer/" }),
			activity: func(a map[string]any) { a["serviceUrl"] = "https://evil.example/amer/" }, status: 403},
		{name: "recipient is another bot than the audience", reason: ReasonAudience, token: valid,
			activity: func(a map[string]any) { a["recipient"] = map[string]any{"id": "28:" + otherBot} }, status: 401},
		{name: "a bot the operator does not know", reason: ReasonUnknownBot, token: withClaims(func(c jwt.MapClaims) {
			c["aud"] = "77777777-2222-3333-4444-555555555555"
		}), activity: func(a map[string]any) {
			a["recipient"] = map[string]any{"id": "28:77777777-2222-3333-4444-555555555555"}
		}, status: 401},
		{name: "oversized body", reason: ReasonTooLarge, token: valid, body: append([]byte(`{"type":"message","text":"`),
			append(bytes.Repeat([]byte("a"), maxTestBytes), []byte(`"}`)...)...), status: 413},
		{name: "malformed JSON", reason: ReasonMalformed, token: valid, body: []byte(`{"type":"message",`), status: 400},
		{name: "no channelId", reason: ReasonEndorsement, token: valid, activity: func(a map[string]any) { delete(a, "channelId") }, status: 403},
	}
}

// TestForgedRequests: every forged or broken request gets a 4xx and reaches no handler; the
// same request done right reaches it (so the test can fail).
func TestForgedRequests(t *testing.T) {
	c := newConnectorDouble(t)
	now := time.Now()
	h, rec := newTestEndpoint(t, c, func() time.Time { return now })
	cases := forgedRequests()
	if len(cases) < 12 {
		t.Fatal("the issue asks for at least 12 forged requests")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := testActivity()
			if tc.activity != nil {
				tc.activity(a)
			}
			body := tc.body
			if body == nil {
				body, _ = json.Marshal(a)
			}
			before := testutil.ToFloat64(refusedTotal.WithLabelValues(tc.reason))
			code := post(h, tc.token(t, now), body)
			g.Expect(code).To(Equal(tc.status))
			g.Expect(testutil.ToFloat64(refusedTotal.WithLabelValues(tc.reason))-before).To(Equal(1.0), "refused for its reason")
			g.Expect(rec.calls.Load()).To(BeZero(), "a refused request reached a handler")
		})
	}
	g := NewWithT(t)
	body, _ := json.Marshal(testActivity())
	g.Expect(post(h, sign(t, jwt.SigningMethodRS256, teamsKID, teamsKey, testClaims(now)), body)).To(Equal(http.StatusOK))
	g.Expect(rec.calls.Load()).To(Equal(int32(1)))
	g.Expect(c.fetches.Load()).To(BeNumerically("<=", 2), "keys are cached (one refresh for the unknown key id)")
}

func post(h http.Handler, token string, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestDuplicatesAndInvokes: a repeated activity id is acted on once; invokes get the handler's
// answer, and 501 when no handler knows the name; ignored activity types get 200.
func TestDuplicatesAndInvokes(t *testing.T) {
	g := NewWithT(t)
	c := newConnectorDouble(t)
	now := time.Now()
	h, rec := newTestEndpoint(t, c, func() time.Time { return now })
	tok := sign(t, jwt.SigningMethodRS256, teamsKID, teamsKey, testClaims(now))
	body, _ := json.Marshal(testActivity())
	g.Expect(post(h, tok, body)).To(Equal(http.StatusOK))
	g.Expect(post(h, tok, body)).To(Equal(http.StatusOK))
	g.Expect(rec.calls.Load()).To(Equal(int32(1)), "a repeated delivery is acted on once")

	inv := testActivity()
	inv["type"], inv["id"], inv["name"] = "invoke", "f:2", "adaptiveCard/action"
	body, _ = json.Marshal(inv)
	resp := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	h.ServeHTTP(resp, req)
	g.Expect(resp.Code).To(Equal(http.StatusOK))
	g.Expect(resp.Body.String()).To(ContainSubstring(`"statusCode":200`))

	inv["id"], inv["name"] = "f:3", "task/fetch"
	body, _ = json.Marshal(inv)
	g.Expect(post(h, tok, body)).To(Equal(http.StatusNotImplemented))

	ev := testActivity()
	ev["type"], ev["id"] = "typing", "4"
	body, _ = json.Marshal(ev)
	g.Expect(post(h, tok, body)).To(Equal(http.StatusOK))
	g.Expect(rec.calls.Load()).To(Equal(int32(2)))
}
