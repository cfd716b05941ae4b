//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	jwtBearer          = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	defaultFICAudience = "api://AzureADTokenExchange"
	clockSkew          = 5 * time.Minute
)

// graphResources and botResources are the token audiences (scope without /.default) of Graph
// and the Bot Framework in every cloud (reference 2.5).
var (
	graphResources = map[string]bool{
		"https://graph.microsoft.com": true, "https://graph.microsoft.us": true, "https://dod-graph.microsoft.us": true,
		"https://microsoftgraph.chinacloudapi.cn": true, "00000003-0000-0000-c000-000000000000": true,
	}
	botResources = map[string]bool{
		"https://api.botframework.com": true, "https://api.botframework.us": true, "https://api.botframework.azure.cn": true,
	}
	loginHosts = map[string]bool{
		"login.microsoftonline.com": true, "login.microsoftonline.us": true, "login.chinacloudapi.cn": true,
		"login.partner.microsoftonline.cn": true, "login.windows.net": true, "sts.windows.net": true,
	}
	oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true}
)

// accessClaims are the claims of the tokens the emulator issues.
type accessClaims struct {
	Aud      string   `json:"aud"`
	Iss      string   `json:"iss"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	AppID    string   `json:"appid"`
	Azp      string   `json:"azp"`
	AppIDAcr string   `json:"appidacr"`
	Idp      string   `json:"idp"`
	IDTyp    string   `json:"idtyp"`
	Oid      string   `json:"oid"`
	Sub      string   `json:"sub"`
	Tid      string   `json:"tid"`
	Roles    []string `json:"roles,omitempty"`
	Ver      string   `json:"ver"`
	Uti      string   `json:"uti"`
}

// tokenCache remembers verified tokens so a request costs a map lookup, not an RSA verify.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]*accessClaims
}

func (c *tokenCache) get(tok string) (*accessClaims, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[tok]
	return v, ok
}

func (c *tokenCache) put(tok string, v *accessClaims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]*accessClaims{}
	}
	c.m[tok] = v
}

func (c *tokenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// baseURL is the scheme and host the client used to reach the emulator.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tokenRequest is a parsed client-credentials request, with what the directory said about it.
type tokenRequest struct {
	tenantSeg string
	tid       string
	domain    string
	legacy    bool
	clientID  string
	secret    string
	resource  string
	reg       appReg
	roles     []string
}

func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	if err := r.ParseForm(); err != nil {
		e.entraError(w, r, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	tr := &tokenRequest{tenantSeg: r.PathValue("tenant")}
	if u, p, ok := r.BasicAuth(); ok {
		tr.clientID, _ = url.QueryUnescape(u)
		tr.secret, _ = url.QueryUnescape(p)
	}
	if tr.clientID == "" {
		tr.clientID = form.Get("client_id")
	}
	info.clientID = tr.clientID
	switch g := form.Get("grant_type"); {
	case g == "":
		e.entraError(w, r, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	case g != "client_credentials":
		e.entraError(w, r, 400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", g))
		return
	case tr.clientID == "":
		e.entraError(w, r, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	res, msg := parseScope(form.Get("scope"))
	if msg != "" {
		e.entraError(w, r, 400, "invalid_scope", 70011, msg)
		return
	}
	tr.resource = res
	if !e.lookupTokenApp(w, r, tr) {
		return
	}
	info.tenantID = tr.tid
	acr, ok := e.checkClientCredential(w, r, tr, form)
	if !ok {
		return
	}
	e.issueToken(w, r, tr, acr)
}

// parseScope returns the resource of a client-credentials scope: exactly one {resource}/.default,
// with the OIDC scopes MSAL adds ignored (reference 2.1;
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
func parseScope(scope string) (string, string) {
	var rest []string
	for s := range strings.FieldsSeq(scope) {
		if !oidcScopes[s] {
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 {
		return "", "The provided request must include a 'scope' input parameter."
	}
	if len(rest) > 1 {
		return "", fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope '%s' is not valid: "+
			"a client credentials request takes exactly one resource's /.default scope.", strings.Join(rest, " "))
	}
	res, ok := strings.CutSuffix(rest[0], "/.default")
	if !ok || res == "" {
		return "", fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope '%s' is not valid. "+
			"Client credential flows must have a scope value with /.default suffixed to the resource identifier.", rest[0])
	}
	return strings.TrimSuffix(res, "/"), ""
}

// lookupTokenApp resolves the tenant and the app, and copies what the token needs.
func (e *Emulator) lookupTokenApp(w http.ResponseWriter, r *http.Request, tr *tokenRequest) bool {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	tr.legacy = strings.EqualFold(tr.tenantSeg, botFrameworkTenant)
	var t *tenant
	if tr.legacy {
		tr.tid = BotFrameworkTenantID
	} else {
		t = d.tenantFor(tr.tenantSeg)
		if t == nil {
			e.entraError(w, r, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have "+
				"the correct tenant ID and are signing into the correct cloud.", tr.tenantSeg))
			return false
		}
		tr.tid, tr.domain = t.id, t.domain
	}
	reg := d.apps[key(tr.clientID)]
	switch {
	case tr.legacy && (reg == nil || !reg.multiTenant):
		e.entraError(w, r, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found "+
			"in the directory 'Bot Framework'. This can happen if the application is not a multi-tenant app.", tr.clientID))
		return false
	case !tr.legacy && (reg == nil || t.apps[key(tr.clientID)] == nil):
		e.entraError(w, r, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found "+
			"in the directory '%s'. This can happen if the application has not been installed by the administrator of the "+
			"tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
			tr.clientID, t.name))
		return false
	}
	tr.reg = *reg
	tr.reg.secrets = slices.Clone(reg.secrets)
	tr.reg.certs = slices.Clone(reg.certs)
	tr.reg.fics = slices.Clone(reg.fics)
	if !tr.legacy && graphResources[tr.resource] {
		tr.roles = sortedKeys(t.apps[key(tr.clientID)].roles)
	}
	return true
}

// checkClientCredential verifies the secret or the client assertion; it returns the appidacr.
func (e *Emulator) checkClientCredential(w http.ResponseWriter, r *http.Request, tr *tokenRequest, form url.Values) (string, bool) {
	if tr.secret == "" {
		tr.secret = form.Get("client_secret")
	}
	assertion := form.Get("client_assertion")
	switch {
	case tr.secret != "" && assertion != "":
		e.entraError(w, r, 400, "invalid_request", 90015, "Requested query string is too long or the request has both "+
			"'client_secret' and 'client_assertion'; send only one credential.")
		return "", false
	case tr.secret != "":
		if !slices.Contains(tr.reg.secrets, tr.secret) {
			e.entraError(w, r, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret "+
				"being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.",
				tr.clientID))
			return "", false
		}
		return "1", true
	case assertion != "":
		if t := form.Get("client_assertion_type"); t != jwtBearer {
			e.entraError(w, r, 400, "invalid_request", 7000216, fmt.Sprintf("client_assertion_type '%s' is not supported; "+
				"use '%s'.", t, jwtBearer))
			return "", false
		}
		if code, msg := e.checkAssertion(r, tr, assertion); code != 0 {
			e.entraError(w, r, 401, "invalid_client", code, msg)
			return "", false
		}
		return "2", true
	default:
		e.entraError(w, r, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required "+
			"for the 'client_credentials' grant type.")
		return "", false
	}
}

// checkAssertion verifies a certificate assertion (iss = sub = client id; reference 2.3) or a
// federated token (reference 2.4). It returns an AADSTS code and message on failure.
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials ;
// https://learn.microsoft.com/graph/api/resources/federatedidentitycredential
func (e *Emulator) checkAssertion(r *http.Request, tr *tokenRequest, assertion string) (int, string) {
	p, err := parseJWT(assertion)
	if err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	iss, sub := p.str(p.claims, "iss"), p.str(p.claims, "sub")
	now := e.now()
	if exp, ok := p.num("exp"); !ok || now.After(time.Unix(exp, 0).Add(clockSkew)) {
		return 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, expiry time "+
			"of assertion %s.", now.UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	if nbf, ok := p.num("nbf"); ok && now.Add(clockSkew).Before(time.Unix(nbf, 0)) {
		return 700024, "Client assertion is not within its valid time range (nbf is in the future)."
	}
	if strings.EqualFold(iss, tr.clientID) || strings.EqualFold(sub, tr.clientID) {
		return e.checkCertificateAssertion(r, tr, p)
	}
	return checkFederatedAssertion(tr, p, iss, sub)
}

func (e *Emulator) checkCertificateAssertion(r *http.Request, tr *tokenRequest, p *jwtParts) (int, string) {
	if !strings.EqualFold(p.str(p.claims, "iss"), tr.clientID) || !strings.EqualFold(p.str(p.claims, "sub"), tr.clientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter: iss and sub must " +
			"both be the client id."
	}
	if !slices.ContainsFunc(p.audiences(), func(a string) bool { return tr.acceptsAssertionAudience(r, a) }) {
		return 700027, fmt.Sprintf("Client assertion contains an invalid audience %q: expected this tenant's token "+
			"endpoint (%s/%s/oauth2/v2.0/token).", strings.Join(p.audiences(), ","), baseURL(r), tr.tenantSeg)
	}
	x5t, x5tS256 := p.str(p.header, "x5t"), p.str(p.header, "x5t#S256")
	now := e.now()
	var tried bool
	for _, c := range tr.reg.certs {
		t1, t256 := certThumbprints(c)
		if (x5t != "" && !sameThumbprint(x5t, t1)) || (x5tS256 != "" && !sameThumbprint(x5tS256, t256)) {
			continue
		}
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		tried = true
		if p.verifyRSA(pub) != nil {
			continue
		}
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return 700027, "Client assertion contains an invalid signature. [Reason - The key used is expired.]"
		}
		return 0, ""
	}
	if !tried {
		return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered "+
			"on application. [Reason - The key was not found., Thumbprint of key used by client: '%s%s']", x5tS256, x5t)
	}
	return 700027, "Client assertion failed signature validation."
}

// acceptsAssertionAudience: the token endpoint of this tenant, on the emulator's host or a real
// Entra host.
func (tr *tokenRequest) acceptsAssertionAudience(r *http.Request, aud string) bool {
	u, err := url.Parse(aud)
	if err != nil || (u.Host != r.Host && !loginHosts[strings.ToLower(u.Hostname())]) {
		return false
	}
	seg, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !strings.EqualFold(seg, tr.tenantSeg) && !strings.EqualFold(seg, tr.tid) &&
		(tr.domain == "" || !strings.EqualFold(seg, tr.domain)) {
		return false
	}
	rest = strings.TrimSuffix(rest, "/")
	return rest == "oauth2/v2.0/token" || rest == "oauth2/token" || rest == "v2.0"
}

func checkFederatedAssertion(tr *tokenRequest, p *jwtParts, iss, sub string) (int, string) {
	const hint = " Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
	var byIssuer []FederatedCredential
	for _, f := range tr.reg.fics {
		if f.Issuer == iss {
			byIssuer = append(byIssuer, f)
		}
	}
	if len(byIssuer) == 0 {
		return 700211, fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'.%s", iss, hint)
	}
	var bySubject []FederatedCredential
	for _, f := range byIssuer {
		if f.Subject == sub {
			bySubject = append(bySubject, f)
		}
	}
	if len(bySubject) == 0 {
		return 700213, fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'.%s", sub, hint)
	}
	auds := p.audiences()
	for _, f := range bySubject {
		want := f.Audiences
		if f.Audience != "" {
			want = append(slices.Clone(want), f.Audience)
		}
		if len(want) == 0 {
			want = []string{defaultFICAudience}
		}
		for _, a := range auds {
			if slices.Contains(want, a) {
				return 0, ""
			}
		}
	}
	return 700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.%s",
		strings.Join(auds, ","), hint)
}

func (e *Emulator) issueToken(w http.ResponseWriter, r *http.Request, tr *tokenRequest, acr string) {
	if !graphResources[tr.resource] && !botResources[tr.resource] {
		// Checked here, not earlier: Entra checks the client before the resource.
		e.entraError(w, r, 400, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found "+
			"in the tenant named %s. This can happen if the application has not been installed by the administrator of the "+
			"tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong "+
			"tenant.", tr.resource, tr.tenantSeg))
		return
	}
	now := e.now()
	life := e.opts.TokenLifetime
	sp := uuid.NewSHA1(uuid.NameSpaceURL, []byte("sp:"+key(tr.tid)+":"+key(tr.clientID))).String()
	c := accessClaims{
		Aud: tr.resource, Iss: "https://sts.windows.net/" + tr.tid + "/", Iat: now.Unix(), Nbf: now.Add(-clockSkew).Unix(),
		Exp: now.Add(life).Unix(), AppID: tr.clientID, Azp: tr.clientID, AppIDAcr: acr,
		Idp: "https://sts.windows.net/" + tr.tid + "/", IDTyp: "app", Oid: sp, Sub: sp, Tid: tr.tid, Roles: tr.roles,
		Ver: "1.0", Uti: uuid.NewString(),
	}
	tok, err := e.signer.sign(c)
	if err != nil {
		writeJSON(w, 500, map[string]string{"error": "server_error", "error_description": err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	secs := int64(life / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
}

func (e *Emulator) handleOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	d := e.world().dir
	d.mu.RLock()
	t := d.tenantFor(seg)
	d.mu.RUnlock()
	tid := "{tenantid}"
	switch {
	case t != nil:
		tid = t.id
	case strings.EqualFold(seg, botFrameworkTenant):
		tid = BotFrameworkTenantID
	case seg == "common" || seg == "organizations":
	default:
		e.entraError(w, r, 400, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have "+
			"the correct tenant ID and are signing into the correct cloud.", seg))
		return
	}
	b := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        b + "/" + seg + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              b + "/" + seg + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{algRS256},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                b + "/" + tid + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     b + "/oidc/userinfo",
		"authorization_endpoint":                b + "/" + seg + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/" + seg + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  b + "/" + seg + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		"kerberos_endpoint":     b + "/" + seg + "/kerberos",
		"tenant_region_scope":   "NA",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          "graph.microsoft.com",
		"rbac_url":              "https://pas.windows.net",
	})
}

func (e *Emulator) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{e.signer.jwk()}})
}

// handleInstanceDiscovery answers MSAL's instance discovery for the emulator's own host, in case
// a client leaves it on.
func (e *Emulator) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	tenantSeg := "common"
	if a, err := url.Parse(r.URL.Query().Get("authorization_endpoint")); err == nil {
		if seg, _, _ := strings.Cut(strings.TrimPrefix(a.Path, "/"), "/"); seg != "" {
			tenantSeg = seg
		}
	}
	b := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": b + "/" + tenantSeg + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host}}},
	})
}

type authFailure struct {
	code, msg string
}

// authenticate verifies a bearer token issued by this emulator (signature, lifetime). The
// caller checks the audience.
func (e *Emulator) authenticate(r *http.Request) (*accessClaims, *authFailure) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, &authFailure{codeInvalidToken, "Access token is empty."}
	}
	tok = strings.TrimSpace(tok)
	c, ok := e.tokens.get(tok)
	if !ok {
		p, err := parseJWT(tok)
		if err != nil {
			return nil, &authFailure{codeInvalidToken, "IDX14100: JWT is not well formed."}
		}
		if p.str(p.header, "alg") != algRS256 || p.str(p.header, "kid") != e.signer.kid || p.verifyRSA(&e.signer.key.PublicKey) != nil {
			return nil, &authFailure{codeInvalidToken, "Access token validation failure: invalid signature."}
		}
		c = &accessClaims{}
		if err := json.Unmarshal(p.rawClaims, c); err != nil {
			return nil, &authFailure{codeInvalidToken, "Access token validation failure."}
		}
		e.tokens.put(tok, c)
	}
	now := e.now()
	if !now.Before(time.Unix(c.Exp, 0)) {
		return nil, &authFailure{codeInvalidToken, "Lifetime validation failed, the token is expired."}
	}
	if now.Before(time.Unix(c.Nbf, 0)) {
		return nil, &authFailure{codeInvalidToken, "Lifetime validation failed, the token is not yet valid."}
	}
	return c, nil
}
