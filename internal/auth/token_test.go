package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

const (
	testTenant = "11111111-2222-3333-4444-555555555555"
	testClient = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	testSecret = "s3cr3t-VALUE-do-not-leak"
	graphScope = "https://graph.microsoft.com/.default"
	botScope   = "https://api.botframework.com/.default"
)

func secretCreds() Credentials {
	return Credentials{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, BotTokenTenant: testTenant}
}

func TestClientSecretTokens(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	creds := secretCreds()
	creds.BotTokenTenant = "botframework.com" // a legacy multi-tenant bot
	tokens, err := New(creds, f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.requests()).To(BeEmpty(), "building token sources makes no request")

	graph, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(graph).To(Equal("token-1-" + testTenant))
	bot, err := tokens.Bot.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bot).To(Equal("token-2-botframework.com"))

	// Exactly these requests, all to the authority host: no instance discovery.
	g.Expect(f.requests()).To(Equal([]string{
		"GET /" + testTenant + "/v2.0/.well-known/openid-configuration",
		"POST /" + testTenant + "/oauth2/v2.0/token",
		"GET /botframework.com/v2.0/.well-known/openid-configuration",
		"POST /botframework.com/oauth2/v2.0/token",
	}))
	reqs := f.tokenRequests()
	g.Expect(reqs[0].Form.Get("grant_type")).To(Equal("client_credentials"))
	g.Expect(reqs[0].Form.Get("client_id")).To(Equal(testClient))
	g.Expect(reqs[0].Form.Get("client_secret")).To(Equal(testSecret))
	g.Expect(scopes(reqs[0].Form)).To(ConsistOf(graphScope, "openid", "offline_access", "profile"))
	g.Expect(scopes(reqs[1].Form)).To(ConsistOf(botScope, "openid", "offline_access", "profile"))
	g.Expect(reqs[1].Form.Get("client_assertion")).To(BeEmpty())
}

// scopes splits the scope field; MSAL adds the OIDC scopes to the one .default.
func scopes(form url.Values) []string { return strings.Fields(form.Get("scope")) }

func TestTokensAreCachedAndRenewedBeforeExpiry(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	// 200 s: below MSAL's five-minute rule, so MSAL itself never reuses the token
	// and every renewal we ask for is visible on the wire.
	f.setRespond(f.issue(200))
	clock := &fakeNow{t: time.Now()}
	opts := f.options(t)
	opts.now = clock.now
	tokens, err := New(secretCreds(), opts)
	g.Expect(err).NotTo(HaveOccurred())

	first, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	clock.advance(99 * time.Second) // still more than half the life left
	again, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(first))
	g.Expect(f.tokenRequests()).To(HaveLen(1))

	clock.advance(2 * time.Second) // past half-life: renew before expiry
	renewed, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(renewed).NotTo(Equal(first))
	g.Expect(f.tokenRequests()).To(HaveLen(2))
}

func TestLongLivedTokensRenewFiveMinutesBeforeExpiry(t *testing.T) {
	g := NewWithT(t)
	clock := &fakeNow{t: time.Now()}
	s := newTokenSource(nil, testTenant, graphScope, clock.now)
	s.token.Token, s.token.ExpiresOn, s.obtained = "tok", clock.t.Add(time.Hour), clock.t

	clock.advance(54*time.Minute + 59*time.Second)
	_, fresh := s.cached(false)
	g.Expect(fresh).To(BeTrue())
	clock.advance(2 * time.Second)
	_, fresh = s.cached(false)
	g.Expect(fresh).To(BeFalse())
}

func TestConcurrentCallersShareOneRequest(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	tokens, err := New(secretCreds(), f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			tok, err := tokens.Graph.Token(context.Background())
			if err != nil {
				tok = err.Error()
			}
			results <- tok
		})
	}
	wg.Wait()
	close(results)
	for tok := range results {
		g.Expect(tok).To(Equal("token-1-" + testTenant))
	}
	g.Expect(f.tokenRequests()).To(HaveLen(1))
}

func TestCertificateAssertion(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	certPEM, keyPEM, cert := testCertificate(t)
	creds, err := FromSecretData(map[string][]byte{
		"tenantId": []byte(testTenant), "clientId": []byte(testClient), "tls.crt": certPEM, "tls.key": keyPEM,
	}, "")
	g.Expect(err).NotTo(HaveOccurred())
	tokens, err := New(creds, f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	form := f.tokenRequests()[0].Form
	g.Expect(form.Get("client_secret")).To(BeEmpty())
	g.Expect(form.Get("client_assertion_type")).To(Equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
	header, claims, signed, sig := splitJWT(g, form.Get("client_assertion"))
	g.Expect(header["alg"]).To(Equal("PS256"))
	thumb := sha256.Sum256(cert.Raw)
	g.Expect(header["x5t#S256"]).To(Equal(base64.StdEncoding.EncodeToString(thumb[:])))
	g.Expect(claims["aud"]).To(Equal(f.URL + "/" + testTenant + "/oauth2/v2.0/token"))
	g.Expect(claims["iss"]).To(Equal(testClient))
	g.Expect(claims["sub"]).To(Equal(testClient))
	g.Expect(claims["jti"]).NotTo(BeEmpty())
	digest := sha256.Sum256([]byte(signed))
	g.Expect(rsa.VerifyPSS(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig, nil)).To(Succeed())
}

func TestWorkloadIdentityRereadsTheTokenFile(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	f.setRespond(f.issue(200))
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	g.Expect(os.WriteFile(file, []byte("federated-token-v1\n"), 0o600)).To(Succeed())
	creds, err := FromSecretData(map[string][]byte{"tenantId": []byte(testTenant), "clientId": []byte(testClient)}, file)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(creds.Kind()).To(Equal("workloadIdentity"))
	clock := &fakeNow{t: time.Now()}
	opts := f.options(t)
	opts.now = clock.now
	tokens, err := New(creds, opts)
	g.Expect(err).NotTo(HaveOccurred())

	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(file, []byte("federated-token-v2"), 0o600)).To(Succeed()) // the kubelet rotates it
	clock.advance(150 * time.Second)
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	reqs := f.tokenRequests()
	g.Expect(reqs).To(HaveLen(2))
	g.Expect(reqs[0].Form.Get("client_assertion")).To(Equal("federated-token-v1"))
	g.Expect(reqs[1].Form.Get("client_assertion")).To(Equal("federated-token-v2"))
	g.Expect(reqs[1].Form.Get("client_assertion_type")).To(Equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))

	g.Expect(os.Remove(file)).To(Succeed())
	clock.advance(150 * time.Second)
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("reading the federated token file " + file)))
	g.Expect(errors.Is(err, os.ErrNotExist)).To(BeTrue())
}

func TestTokenErrorsAreStableAndSecretFree(t *testing.T) {
	entraError := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. ` +
		`Trace ID: TRACE-1 Correlation ID: CORR-1 Timestamp: 2026-01-01 00:00:00Z","error_codes":[7000215],` +
		`"timestamp":"2026-01-01 00:00:00Z","trace_id":"TRACE-1","correlation_id":"CORR-1","echo":"` + testSecret + `"}`
	tests := map[string]struct {
		status    int
		body      string
		want      string
		rejected  bool
		temporary bool
	}{
		"wrong secret": {
			status: http.StatusUnauthorized, body: entraError, rejected: true,
			want: "acquiring token for tenant " + testTenant + ": invalid_client (AADSTS7000215): the client secret is wrong",
		},
		"no OAuth body": {
			status: http.StatusForbidden, body: "<html>" + testSecret + "</html>", rejected: true,
			want: "acquiring token for tenant " + testTenant + ": the authority answered HTTP 403",
		},
		"server error": {
			status: http.StatusInternalServerError, body: `{"error":"temporarily_unavailable","error_codes":[]}`, temporary: true,
			want: "acquiring token for tenant " + testTenant + ": temporarily_unavailable",
		},
		"a code that is not an OAuth code": {
			status: http.StatusBadRequest, body: `{"error":"` + testSecret + `","error_codes":[1]}`, rejected: true,
			want: "acquiring token for tenant " + testTenant + ": the authority answered HTTP 400",
		},
		"malformed success quoting the token": {
			status: http.StatusOK, body: `{"access_token":"LEAKED-TOKEN","expires_in":"soon`,
			want: "acquiring token for tenant " + testTenant + ": the authority's token response could not be read",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFakeAuthority(t)
			f.setRespond(func(string, url.Values) (int, string) { return tc.status, tc.body })
			tokens, err := New(secretCreds(), f.options(t))
			g.Expect(err).NotTo(HaveOccurred())
			_, err = tokens.Graph.Token(context.Background())
			g.Expect(err).To(MatchError(tc.want))
			g.Expect(errors.Is(err, ErrTokenRejected)).To(Equal(tc.rejected))
			var te *TokenError
			g.Expect(errors.As(err, &te)).To(BeTrue())
			g.Expect(te.Temporary()).To(Equal(tc.temporary))
			g.Expect(te.Scope).To(Equal(graphScope))
			assertNoLeak(g, err)
		})
	}
}

func TestCertificateErrorsDoNotLeakTheAssertion(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	var assertion string
	f.setRespond(func(_ string, form url.Values) (int, string) {
		assertion = form.Get("client_assertion")
		return http.StatusUnauthorized, `{"error":"invalid_client","error_codes":[700027],"trace_id":"TRACE-1","correlation_id":"CORR-1"}`
	})
	certPEM, keyPEM, _ := testCertificate(t)
	creds := Credentials{TenantID: testTenant, ClientID: testClient, CertificatePEM: certPEM, KeyPEM: keyPEM, BotTokenTenant: testTenant}
	tokens, err := New(creds, f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Bot.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("invalid_client (AADSTS700027): the certificate is not registered")))
	g.Expect(assertion).NotTo(BeEmpty())
	g.Expect(err.Error()).NotTo(ContainSubstring(assertion[:20]))
	assertNoLeak(g, err)
}

func assertNoLeak(g Gomega, err error) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		g.Expect(e.Error()).NotTo(Or(
			ContainSubstring(testSecret), ContainSubstring("TRACE-1"), ContainSubstring("CORR-1"),
			ContainSubstring("LEAKED-TOKEN"), ContainSubstring("Trace ID"), ContainSubstring("-----BEGIN"),
		))
	}
}

func TestOnlyTheAuthorityHostIsContacted(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	// A tampered or misconfigured discovery document points the token endpoint at
	// the public cloud.
	f.tokenURL = func(_, tenant string) string {
		return "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0/token"
	}
	tokens, err := New(secretCreds(), f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("refusing to send a token request to https://login.microsoftonline.com")))
	g.Expect(f.requests()).To(Equal([]string{"GET /" + testTenant + "/v2.0/.well-known/openid-configuration"}))
	assertNoLeak(g, err)
}

func TestUnreachableAuthority(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	opts := f.options(t)
	f.Close()
	tokens, err := New(secretCreds(), opts)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Graph.Token(context.Background())
	var te *TokenError
	g.Expect(errors.As(err, &te)).To(BeTrue())
	g.Expect(te.StatusCode).To(BeZero())
	g.Expect(te.Temporary()).To(BeTrue())
	g.Expect(err).To(MatchError(ContainSubstring("connect")))
	assertNoLeak(g, err)
}

func TestCancelledContext(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	tokens, err := New(secretCreds(), f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tokens.Graph.Token(ctx)
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
}

func TestAStillValidTokenSurvivesAFailedRenewal(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	f.setRespond(f.issue(200))
	clock := &fakeNow{t: time.Now()}
	opts := f.options(t)
	opts.now = clock.now
	tokens, err := New(secretCreds(), opts)
	g.Expect(err).NotTo(HaveOccurred())
	first, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	f.setRespond(func(string, url.Values) (int, string) { return http.StatusBadRequest, `{"error":"invalid_request"}` })
	clock.advance(110 * time.Second) // renewal due, 90 s of life left
	tok, err := tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tok).To(Equal(first))

	clock.advance(40 * time.Second) // under a minute left: no longer handed out
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("invalid_request")))
}

func TestRegionalAuthorityIsRefused(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("AZURE_REGIONAL_AUTHORITY_NAME", "TryAutoDetect")
	f := newFakeAuthority(t)
	_, err := New(secretCreds(), f.options(t))
	g.Expect(err).To(MatchError(ContainSubstring("AZURE_REGIONAL_AUTHORITY_NAME is set")))
}

func TestTokenRequestsAreLabelledForMetrics(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	tokens, err := New(secretCreds(), f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var labels []string
	for _, mf := range families {
		if mf.GetName() != "teams_operator_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			labels = append(labels, strings.Join(parts, ","))
		}
	}
	g.Expect(labels).To(ContainElements(
		"api=entra,code=200,operation=token",
		"api=entra,code=200,operation=openidConfiguration",
	))
}

func TestCache(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	opts := f.options(t)
	opts.MaxEntries = 2
	c := NewCache(opts)

	a1, err := c.Get(secretCreds())
	g.Expect(err).NotTo(HaveOccurred())
	a2, err := c.Get(secretCreds())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a2.Graph).To(BeIdenticalTo(a1.Graph), "same Secret contents, same sources (and cached tokens)")

	rotated := secretCreds()
	rotated.ClientSecret = "rotated"
	b, err := c.Get(rotated)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b.Graph).NotTo(BeIdenticalTo(a1.Graph), "a rotated Secret gets fresh credentials")

	other := secretCreds()
	other.TenantID = "other-tenant"
	_, err = c.Get(other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Len()).To(Equal(2))

	a3, err := c.Get(secretCreds()) // the least recently used entry was evicted
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a3.Graph).NotTo(BeIdenticalTo(a1.Graph))
}

func TestOneCredentialObjectPerTenant(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	tokens, err := New(secretCreds(), f.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tokens.Graph.(*tokenSource).cred).To(BeIdenticalTo(tokens.Bot.(*tokenSource).cred))
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Bot.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	// One discovery for the shared tenant, then one token per scope.
	g.Expect(f.requests()).To(HaveLen(3))
}

func splitJWT(g Gomega, jwt string) (header, claims map[string]any, signed string, sig []byte) {
	parts := strings.Split(jwt, ".")
	g.Expect(parts).To(HaveLen(3))
	decode := func(s string, into any) {
		data, err := base64.RawURLEncoding.DecodeString(s)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(json.Unmarshal(data, into)).To(Succeed())
	}
	decode(parts[0], &header)
	decode(parts[1], &claims)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	g.Expect(err).NotTo(HaveOccurred())
	return header, claims, parts[0] + "." + parts[1], sig
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	g := NewWithT(t)
	f := newFakeAuthority(t)
	bad := secretCreds()
	bad.TenantID = "bad/tenant"
	_, err := New(bad, f.options(t))
	g.Expect(err).To(MatchError(ContainSubstring("creating clientSecret credential for tenant bad/tenant")))

	opts := f.options(t)
	opts.Endpoints.AuthorityHost = "http://127.0.0.1/"
	_, err = New(secretCreds(), opts)
	g.Expect(err).To(MatchError(ContainSubstring("must be an absolute https URL")))
}
