//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func defaultKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode([]byte(DefaultBotPrivateKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// assertion signs a client assertion the way MSAL does (x5t#S256 for PS256, x5t for RS256).
func assertion(t *testing.T, k *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	cert, err := parseCertPEM(DefaultBotCertificatePEM)
	if err != nil {
		t.Fatal(err)
	}
	x5t, x5tS256 := certThumbprints(cert)
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if alg == "PS256" {
		h["x5t#S256"] = x5tS256
	} else {
		h["x5t"] = x5t
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	if alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func assertionForm(a, scope string) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultBotAppID}, "scope": {scope + " openid profile offline_access"},
		"client_assertion_type": {jwtBearer}, "client_assertion": {a},
	}
}

func TestTokenEndpoint(t *testing.T) {
	v := newEnv(t, Options{})
	key := defaultKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := v.clock.Now()
	tokenURL := v.srv.URL + "/" + DefaultTenantID + "/oauth2/v2.0/token"
	certClaims := func(aud string, exp time.Time) map[string]any {
		return map[string]any{"aud": aud, "iss": DefaultBotAppID, "sub": DefaultBotAppID, "jti": "x",
			"nbf": now.Unix(), "exp": exp.Unix()}
	}
	fic := func(iss, sub, aud string) map[string]any {
		return map[string]any{"iss": iss, "sub": sub, "aud": []string{aud}, "exp": now.Add(time.Hour).Unix()}
	}
	basic := url.Values{"grant_type": {"client_credentials"}, "scope": {graphScope}}
	tests := map[string]struct {
		tenant   string
		form     url.Values
		basic    [2]string
		status   int
		errCode  string
		aadsts   float64
		audience string
	}{
		"secret":                   {form: secretForm(DefaultBotAppID, DefaultBotSecret, graphScope), status: 200, audience: "https://graph.microsoft.com"},
		"secret, bot scope":        {form: secretForm(DefaultBotAppID, DefaultBotSecret, botScope), status: 200, audience: "https://api.botframework.com"},
		"secret, tenant by domain": {tenant: DefaultTenantDomain, form: secretForm(DefaultBotAppID, DefaultBotSecret, botScope), status: 200, audience: "https://api.botframework.com"},
		"secret, HTTP Basic":       {form: basic, basic: [2]string{DefaultBotAppID, DefaultBotSecret}, status: 200, audience: "https://graph.microsoft.com"},
		"MSAL adds OIDC scopes":    {form: secretForm(DefaultBotAppID, DefaultBotSecret, graphScope+" openid offline_access profile"), status: 200, audience: "https://graph.microsoft.com"},
		"bad secret":               {form: secretForm(DefaultBotAppID, "nope", graphScope), status: 401, errCode: "invalid_client", aadsts: 7000215},
		"unknown app":              {form: secretForm("11111111-2222-3333-4444-555555555555", "x", graphScope), status: 400, errCode: "unauthorized_client", aadsts: 700016},
		"unknown tenant":           {tenant: "22222222-2222-3333-4444-555555555555", form: secretForm(DefaultBotAppID, DefaultBotSecret, graphScope), status: 400, errCode: "invalid_request", aadsts: 90002},
		"scope without .default":   {form: secretForm(DefaultBotAppID, DefaultBotSecret, "https://graph.microsoft.com/User.Read.All"), status: 400, errCode: "invalid_scope", aadsts: 70011},
		"two resources":            {form: secretForm(DefaultBotAppID, DefaultBotSecret, graphScope+" "+botScope), status: 400, errCode: "invalid_scope", aadsts: 70011},
		"no scope":                 {form: secretForm(DefaultBotAppID, DefaultBotSecret, ""), status: 400, errCode: "invalid_scope", aadsts: 70011},
		"unknown resource":         {form: secretForm(DefaultBotAppID, DefaultBotSecret, "https://vault.azure.net/.default"), status: 400, errCode: "invalid_resource", aadsts: 500011},
		"wrong grant":              {form: url.Values{"grant_type": {"password"}, "client_id": {DefaultBotAppID}, "scope": {graphScope}}, status: 400, errCode: "unsupported_grant_type", aadsts: 70003},
		"no credential":            {form: url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultBotAppID}, "scope": {graphScope}}, status: 401, errCode: "invalid_client", aadsts: 7000216},
		"single-tenant bot on botframework.com": {tenant: "botframework.com", form: secretForm(DefaultBotAppID, DefaultBotSecret, botScope),
			status: 400, errCode: "unauthorized_client", aadsts: 700016},
		"certificate RS256":                {form: assertionForm(assertion(t, key, "RS256", certClaims(tokenURL, now.Add(10*time.Minute))), graphScope), status: 200, audience: "https://graph.microsoft.com"},
		"certificate PS256":                {form: assertionForm(assertion(t, key, "PS256", certClaims(tokenURL, now.Add(10*time.Minute))), botScope), status: 200, audience: "https://api.botframework.com"},
		"certificate, real Entra audience": {form: assertionForm(assertion(t, key, "PS256", certClaims("https://login.microsoftonline.com/"+DefaultTenantID+"/oauth2/v2.0/token", now.Add(10*time.Minute))), botScope), status: 200, audience: "https://api.botframework.com"},
		"certificate, wrong key":           {form: assertionForm(assertion(t, other, "PS256", certClaims(tokenURL, now.Add(10*time.Minute))), graphScope), status: 401, errCode: "invalid_client", aadsts: 700027},
		"certificate, wrong audience":      {form: assertionForm(assertion(t, key, "PS256", certClaims("https://example.com/token", now.Add(10*time.Minute))), graphScope), status: 401, errCode: "invalid_client", aadsts: 700027},
		"certificate, expired":             {form: assertionForm(assertion(t, key, "RS256", certClaims(tokenURL, now.Add(-10*time.Minute))), graphScope), status: 401, errCode: "invalid_client", aadsts: 700024},
		"federated":                        {form: assertionForm(assertion(t, other, "RS256", fic(DefaultFederatedIssuer, DefaultFederatedSubject, defaultFICAudience)), graphScope), status: 200, audience: "https://graph.microsoft.com"},
		"federated, wrong issuer":          {form: assertionForm(assertion(t, other, "RS256", fic("https://evil", DefaultFederatedSubject, defaultFICAudience)), graphScope), status: 401, errCode: "invalid_client", aadsts: 700211},
		"federated, wrong subject":         {form: assertionForm(assertion(t, other, "RS256", fic(DefaultFederatedIssuer, "system:serviceaccount:x:y", defaultFICAudience)), graphScope), status: 401, errCode: "invalid_client", aadsts: 700213},
		"federated, wrong audience":        {form: assertionForm(assertion(t, other, "RS256", fic(DefaultFederatedIssuer, DefaultFederatedSubject, "api://other")), graphScope), status: 401, errCode: "invalid_client", aadsts: 700212},
		"malformed assertion":              {form: assertionForm("not-a-jwt", graphScope), status: 401, errCode: "invalid_client", aadsts: 50027},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := tc.tenant
			if tenant == "" {
				tenant = DefaultTenantID
			}
			req, _ := http.NewRequest(http.MethodPost, v.srv.URL+"/"+tenant+"/oauth2/v2.0/token", nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic[0] != "" {
				req.SetBasicAuth(url.QueryEscape(tc.basic[0]), url.QueryEscape(tc.basic[1]))
			}
			r := v.tokenRequestWith(req, tc.form)
			g.Expect(r.status).To(Equal(tc.status), string(r.raw))
			if tc.status != 200 {
				g.Expect(r.str("error")).To(Equal(tc.errCode))
				g.Expect(r.json["error_codes"]).To(ConsistOf(tc.aadsts))
				g.Expect(r.str("error_description")).To(HavePrefix("AADSTS"))
				g.Expect(r.json).To(HaveKey("trace_id"))
				return
			}
			g.Expect(r.json).To(HaveKeyWithValue("token_type", "Bearer"))
			g.Expect(r.json).To(HaveKeyWithValue("expires_in", BeEquivalentTo(3599)))
			g.Expect(r.json).To(HaveKey("ext_expires_in"))
			c := claims(g, r.str("access_token"))
			g.Expect(c).To(HaveKeyWithValue("aud", tc.audience))
			g.Expect(c).To(HaveKeyWithValue("tid", DefaultTenantID))
			g.Expect(c).To(HaveKeyWithValue("appid", DefaultBotAppID))
			g.Expect(c).To(HaveKeyWithValue("azp", DefaultBotAppID))
			g.Expect(c["exp"]).To(BeNumerically("==", now.Add(3599*time.Second).Unix()))
			if tc.audience == "https://graph.microsoft.com" {
				g.Expect(c["roles"]).To(ConsistOf(toAny(DefaultGraphRoles)...))
			} else {
				g.Expect(c).NotTo(HaveKey("roles"))
			}
		})
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (v *env) tokenRequestWith(req *http.Request, form url.Values) *resp {
	v.t.Helper()
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	res, err := v.c.Do(req)
	v.g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(res.Body)
	v.g.Expect(err).NotTo(HaveOccurred())
	r := &resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func TestMultiTenantBotToken(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const mtApp = "cd3c7729-d96d-49c1-bc53-0df5ccf84ab3"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Apps: []AppSeed{{
		ClientID: mtApp, Bot: true, MultiTenant: true, Secrets: []string{"mt-secret"}, GraphRoles: []string{"User.Read.All"},
	}}}}})).To(Succeed())

	r := v.tokenRequest("botframework.com", secretForm(mtApp, "mt-secret", botScope))
	g.Expect(r.status).To(Equal(200), string(r.raw))
	c := claims(g, r.str("access_token"))
	g.Expect(c).To(HaveKeyWithValue("tid", BotFrameworkTenantID))
	g.Expect(c).To(HaveKeyWithValue("aud", "https://api.botframework.com"))

	// A Graph token from botframework.com carries no roles in the customer tenant (reference 2.2).
	r = v.tokenRequest("botframework.com", secretForm(mtApp, "mt-secret", graphScope))
	g.Expect(r.status).To(Equal(200))
	g.Expect(claims(g, r.str("access_token"))).NotTo(HaveKey("roles"))
	gr := v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, r.str("access_token"), nil)
	g.Expect(gr.status).To(Equal(403))

	// In the customer tenant the same app gets its roles there.
	tok := v.token(mtApp, "mt-secret", graphScope)
	g.Expect(claims(g, tok)["roles"]).To(ConsistOf("User.Read.All"))
}

func TestOpenIDConfiguration(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	r := v.do("GET", "/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration", "", nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(r.str("token_endpoint")).To(Equal(v.srv.URL + "/" + DefaultTenantID + "/oauth2/v2.0/token"))
	g.Expect(r.str("authorization_endpoint")).To(Equal(v.srv.URL + "/" + DefaultTenantID + "/oauth2/v2.0/authorize"))
	// MSAL checks that the issuer has the authority's scheme and host.
	g.Expect(r.str("issuer")).To(Equal(v.srv.URL + "/" + DefaultTenantID + "/v2.0"))
	keys := v.do("GET", "/"+DefaultTenantID+"/discovery/v2.0/keys", "", nil)
	g.Expect(keys.list("keys")).To(HaveLen(1))

	r = v.do("GET", "/nope.example/v2.0/.well-known/openid-configuration", "", nil)
	g.Expect(r.status).To(Equal(400))
	g.Expect(r.str("error")).To(Equal("invalid_tenant"))
}
