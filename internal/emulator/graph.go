//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// graphCall is an authenticated Graph request.
type graphCall struct {
	claims *accessClaims
	ver    string // v1.0 or beta
	base   string // https://host/v1.0
}

type graphHandler func(w http.ResponseWriter, r *http.Request, g *graphCall)

// graph registers a Graph route under /v1.0 and /beta: token audience, then the per-app rate
// limit, then h.
func (e *Emulator) graph(pattern string, name opFunc, h graphHandler) {
	method, path, _ := strings.Cut(pattern, " ")
	for _, ver := range []string{"v1.0", "beta"} {
		e.handle(method+" /"+ver+path, apiGraph, name, func(w http.ResponseWriter, r *http.Request) {
			c, fail := e.authenticate(r)
			if fail == nil && !graphResources[c.Aud] {
				fail = &authFailure{codeInvalidToken, "Invalid audience."}
			}
			if fail != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
				e.graphError(w, r, http.StatusUnauthorized, fail.code, fail.msg, nil)
				return
			}
			info := infoFrom(r)
			info.clientID, info.tenantID = c.AppID, c.Tid
			if msg := cloudRefusal(e.opts.Cloud, path); msg != "" {
				// Graph's answer to a call its cloud lacks is undocumented; a 400 names it.
				e.graphError(w, r, http.StatusBadRequest, "BadRequest", msg, nil)
				return
			}
			if e.opts.GraphRPS > 0 {
				lim := []Limit{{Count: e.opts.GraphRPS, Window: time.Second}}
				if wait := e.world().graphLim.get(key(c.AppID)+"|"+key(c.Tid)).admit(e.now(), lim); wait > 0 {
					w.Header().Set("Retry-After", retryAfterFraction(wait))
					e.graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.",
						map[string]string{"code": "429", "status": "429", "message": "Please retry after"})
					return
				}
			}
			h(w, r, &graphCall{claims: c, ver: ver, base: baseURL(r) + "/" + ver})
		})
	}
}

// cloudRefusal says why the cloud's Graph lacks a route in application context, "" when it has
// it. "Microsoft Teams API implementation differences in national clouds"
// (https://learn.microsoft.com/graph/teamwork-national-cloud-differences): in GCC High and DoD the
// user-scope app installation calls and the chat between user and app are not supported in
// application context; in China no API manages app installations, in any scope.
func cloudRefusal(cloud, route string) string {
	installs := strings.Contains(route, "/installedApps")
	switch {
	case strings.EqualFold(cloud, "China") && installs:
		return "APIs that manage app installations are not supported in this national cloud."
	case (strings.EqualFold(cloud, "USGovGCCHigh") || strings.EqualFold(cloud, "USGovDoD")) && installs &&
		strings.HasPrefix(route, "/users/"):
		return "This API is not supported in application context in the GCC High and DoD environments."
	}
	return ""
}

func (e *Emulator) graphRoutes() {
	e.graph("GET /appCatalogs/teamsApps", catalogOp, e.listCatalogApps)
	e.graph("GET /appCatalogs/teamsApps/{app}", op("getCatalogApp"), e.getCatalogApp)
	e.installRoutes(ScopeTeam, "/teams/{scope}")
	e.installRoutes(ScopeUser, "/users/{scope}/teamwork")
	e.installRoutes(ScopeChat, "/chats/{scope}")
	e.graph("GET /users/{scope}/teamwork/installedApps/{install}/chat", op("getInstallationChat"), e.getInstallationChat)
	e.graph("GET /users/{user}", op("getUser"), e.getUser)
	e.graph("GET /teams/{team}/primaryChannel", op("getPrimaryChannel"), e.getPrimaryChannel)
	e.graph("GET /teams/{team}/channels", op("listChannels"), e.listChannels)
	e.graph("GET /teams/{team}/channels/{channel}", op("getChannel"), e.getChannel)
	e.graph("GET /teams/{team}/channels/{channel}/enabledApps", op("listChannelApps"), e.listEnabledApps)
}

func (e *Emulator) installRoutes(s Scope, prefix string) {
	e.graph("GET "+prefix+"/installedApps", op("listInstalledApps"), e.listInstalled(s))
	e.graph("POST "+prefix+"/installedApps", op("installApp"), e.installApp(s))
	e.graph("GET "+prefix+"/installedApps/{install}", installationOp, e.getInstalled(s))
	e.graph("DELETE "+prefix+"/installedApps/{install}", op("uninstallApp"), e.uninstallApp(s))
	e.graph("POST "+prefix+"/installedApps/{install}/upgrade", op("upgradeApp"), e.upgradeApp(s))
}

// installationOp: a read that selects consentedPermissionSet is getConsentedPermissions, as the
// Graph client names it; any other read of one installation is getInstalledApp.
func installationOp(r *http.Request) string {
	if strings.Contains(r.URL.Query().Get("$select"), "consentedPermissionSet") {
		return "getConsentedPermissions"
	}
	return "getInstalledApp"
}

// catalogOp: a lookup by catalog id is getCatalogApp; anything else (by externalId, which can
// match several apps, or unfiltered) is listCatalogApps, as the Graph client names them.
func catalogOp(r *http.Request) string {
	f := strings.ToLower(r.URL.Query().Get("$filter"))
	if strings.HasPrefix(strings.TrimSpace(f), "id eq") {
		return "getCatalogApp"
	}
	return "listCatalogApps"
}

// perm is a permission requirement: any role of anyOf, or a role of self when the app is the
// caller's own (the "Self" permissions of reference 1.4).
type perm struct{ self, anyOf []string }

func teamsAppPerm(scopeName string, write bool) perm {
	p := perm{
		self: []string{
			"TeamsAppInstallation.ReadWriteSelfFor" + scopeName + ".All",
			"TeamsAppInstallation.ReadWriteAndConsentSelfFor" + scopeName + ".All",
		},
		anyOf: []string{
			"TeamsAppInstallation.ReadWriteFor" + scopeName + ".All",
			"TeamsAppInstallation.ReadWriteAndConsentFor" + scopeName + ".All",
		},
	}
	if scopeName == "Team" {
		p.anyOf = append(p.anyOf, "Group.ReadWrite.All", "Directory.ReadWrite.All")
	}
	if !write {
		p.anyOf = append(p.anyOf, "TeamsAppInstallation.ReadFor"+scopeName+".All")
		if scopeName == "Team" {
			p.anyOf = append(p.anyOf, "Group.Read.All", "Directory.Read.All")
		}
	}
	return p
}

func consentPerm(scopeName string) perm {
	return perm{
		self:  []string{"TeamsAppInstallation.ReadWriteAndConsentSelfFor" + scopeName + ".All"},
		anyOf: []string{"TeamsAppInstallation.ReadWriteAndConsentFor" + scopeName + ".All"},
	}
}

var (
	permCatalog  = perm{anyOf: []string{"AppCatalog.Read.All", "AppCatalog.ReadWrite.All", "AppCatalog.Submit", "Directory.Read.All", "Directory.ReadWrite.All"}}
	permUserRead = perm{anyOf: []string{"User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}}
	permChannels = perm{anyOf: []string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All",
		"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}}
)

func scopeName(s Scope) string {
	switch s {
	case ScopeTeam:
		return "Team"
	case ScopeUser:
		return "User"
	}
	return "Chat"
}

// grant tells what the caller's roles allow: everything, only its own app, or nothing. The roles
// are the token's "roles" claim, as Graph reads them: a grant (or revoke) shows only in a token
// issued after it ("Microsoft Graph permissions": application permissions are in the access
// token's roles claim; https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
type grant int

const (
	grantNone grant = iota
	grantSelf
	grantAll
)

func (g *graphCall) grantFor(_ *directory, p perm) grant {
	roles := make(map[string]bool, len(g.claims.Roles))
	for _, r := range g.claims.Roles {
		roles[r] = true
	}
	for _, r := range p.anyOf {
		if roles[r] {
			return grantAll
		}
	}
	for _, r := range p.self {
		if roles[r] {
			return grantSelf
		}
	}
	return grantNone
}

// allows: a "Self" permission reaches only an app whose manifest's webApplicationInfo.id is the
// caller's app id, not an app whose bot merely is the caller: "the app must have
// webApplicationInfo with id set to its Entra app id" (reference 1.4;
// https://learn.microsoft.com/microsoftteams/platform/graph-api/proactive-bots-and-messages/graph-proactive-bots-and-messages).
func (g *graphCall) allows(gr grant, app *catalogApp) bool {
	return gr == grantAll || (gr == grantSelf && app != nil && app.WebApplicationInfoID != "" &&
		strings.EqualFold(app.WebApplicationInfoID, g.claims.AppID))
}

func (e *Emulator) forbidden(w http.ResponseWriter, r *http.Request) {
	e.graphError(w, r, http.StatusForbidden, "Forbidden", "Caller is not authorized.", nil)
}

func (e *Emulator) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	e.graphError(w, r, http.StatusBadRequest, "BadRequest", msg, nil)
}

func (e *Emulator) notFound(w http.ResponseWriter, r *http.Request, code, msg string) {
	e.graphError(w, r, http.StatusNotFound, code, msg, nil)
}

// expansion is a parsed $expand.
type expansion map[string]string // property → its nested options

func parseExpand(q url.Values, t *odataType) (expansion, error) {
	out := expansion{}
	raw := q.Get("$expand")
	if raw == "" {
		return out, nil
	}
	depth, start := 0, 0
	var items []string
	for i, c := range raw {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				items = append(items, raw[start:i])
				start = i + 1
			}
		}
	}
	items = append(items, raw[start:])
	for _, it := range items {
		it = strings.TrimSpace(it)
		name, opts, _ := strings.Cut(it, "(")
		if _, ok := t.props[name]; !ok || name == "id" {
			return nil, fmt.Errorf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type '%s'.", name, t.name) //nolint:staticcheck // Graph's message
		}
		out[name] = strings.TrimSuffix(opts, ")")
	}
	return out, nil
}

// selection is a parsed $select: the structural properties to return beyond id.
type selection map[string]bool

// installationProps are the structural properties of a teamsAppInstallation.
var installationProps = map[string]bool{"id": true, "consentedPermissionSet": true}

func (e *Emulator) parseSelect(w http.ResponseWriter, r *http.Request) (selection, bool) {
	sel := selection{}
	raw := r.URL.Query().Get("$select")
	if raw == "" {
		return sel, true
	}
	for f := range strings.SplitSeq(raw, ",") {
		f = strings.TrimSpace(f)
		if !installationProps[f] {
			e.badRequest(w, r, fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named "+
				"'%s' on type 'microsoft.graph.teamsAppInstallation'.", f))
			return nil, false
		}
		sel[f] = true
	}
	return sel, true
}

func (e *Emulator) parseQuery(w http.ResponseWriter, r *http.Request, t *odataType) (filterNode, expansion, bool) {
	q := r.URL.Query()
	exp, err := parseExpand(q, t)
	if err != nil {
		e.badRequest(w, r, err.Error())
		return nil, nil, false
	}
	var f filterNode
	if raw, ok := q["$filter"]; ok {
		if f, err = parseFilter(raw[0], t); err != nil {
			e.badRequest(w, r, err.Error())
			return nil, nil, false
		}
	}
	return f, exp, true
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func definitionJSON(app *catalogApp, version string, withBot bool) map[string]any {
	rsc := make([]any, 0, len(app.RSCPermissions))
	for _, p := range app.RSCPermissions {
		rsc = append(rsc, map[string]string{"permissionValue": p.PermissionValue, "permissionType": p.PermissionType})
	}
	d := map[string]any{
		// azureADAppId is the manifest's webApplicationInfo.id, not the bot
		// (https://learn.microsoft.com/graph/api/resources/teamsappdefinition); the bot is the
		// navigation property "bot", present only when expanded.
		"id": definitionID(app.ID, version), "teamsAppId": app.ID, "azureADAppId": nullable(app.WebApplicationInfoID),
		"displayName": app.DisplayName, "version": version, "publishingState": "published",
		"shortDescription": app.DisplayName, "description": nil, "lastModifiedDateTime": timeJSON(app.lastModified),
		"createdBy": nil,
		"authorization": map[string]any{
			"clientAppId":           nil,
			"requiredPermissionSet": map[string]any{"resourceSpecificPermissions": rsc},
		},
	}
	if withBot {
		if app.BotID != "" {
			d["bot"] = map[string]any{"id": app.BotID}
		} else {
			d["bot"] = nil
		}
	}
	return d
}

func catalogJSON(app *catalogApp, defs, bot bool) map[string]any {
	m := map[string]any{
		"id": app.ID, "externalId": nullable(app.ExternalID), "displayName": app.DisplayName,
		"distributionMethod": app.DistributionMethod,
	}
	if defs {
		m["appDefinitions"] = []map[string]any{definitionJSON(app, app.Version, bot)}
	}
	return m
}

func (e *Emulator) listCatalogApps(w http.ResponseWriter, r *http.Request, g *graphCall) {
	f, exp, ok := e.parseQuery(w, r, odataTeamsApp)
	if !ok {
		return
	}
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if g.grantFor(d, permCatalog) == grantNone {
		e.forbidden(w, r)
		return
	}
	out := make([]map[string]any, 0)
	if t := d.tenants[key(g.claims.Tid)]; t != nil {
		apps := make([]*catalogApp, 0, len(t.catalog))
		for _, a := range t.catalog {
			apps = append(apps, a)
		}
		slices.SortFunc(apps, func(a, b *catalogApp) int { return strings.Compare(a.DisplayName+a.ID, b.DisplayName+b.ID) })
		defs, hasDefs := exp["appDefinitions"]
		for _, a := range apps {
			if f != nil && !f.eval(catalogFilterObj(a), nil) {
				continue
			}
			out = append(out, catalogJSON(a, hasDefs, strings.Contains(defs, "bot")))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		odataContext:   g.base + "/$metadata#appCatalogs/teamsApps",
		"@odata.count": len(out),
		odataValue:     out,
	})
}

func catalogFilterObj(a *catalogApp) map[string]any {
	m := catalogJSON(a, false, false)
	m["appDefinitions"] = []map[string]any{definitionJSON(a, a.Version, true)}
	return m
}

func (e *Emulator) getCatalogApp(w http.ResponseWriter, r *http.Request, g *graphCall) {
	_, exp, ok := e.parseQuery(w, r, odataTeamsApp)
	if !ok {
		return
	}
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if g.grantFor(d, permCatalog) == grantNone {
		e.forbidden(w, r)
		return
	}
	var app *catalogApp
	if t := d.tenants[key(g.claims.Tid)]; t != nil {
		app = t.catalog[key(r.PathValue("app"))]
	}
	if app == nil {
		e.notFound(w, r, "NotFound", fmt.Sprintf("App with id '%s' was not found in the catalog.", r.PathValue("app")))
		return
	}
	defs, hasDefs := exp["appDefinitions"]
	m := catalogJSON(app, hasDefs, strings.Contains(defs, "bot"))
	m[odataContext] = g.base + "/$metadata#appCatalogs/teamsApps/$entity"
	writeJSON(w, http.StatusOK, m)
}

// installationJSON renders an installation. consentedPermissionSet is returned only when
// $select names it, and its permissionType values come back lower case: see the example "get
// the names of the RSC permissions consented" of
// https://learn.microsoft.com/graph/api/team-get-installedapps and chat-get-installedapps.
func installationJSON(in *installation, app *catalogApp, exp expansion, sel selection) map[string]any {
	m := map[string]any{"id": in.id}
	if sel["consentedPermissionSet"] {
		var consented any
		if len(in.consented) > 0 {
			rsc := make([]map[string]string, 0, len(in.consented))
			for _, p := range in.consented {
				rsc = append(rsc, map[string]string{
					"permissionValue": p.PermissionValue, "permissionType": strings.ToLower(p.PermissionType),
				})
			}
			consented = map[string]any{"resourceSpecificPermissions": rsc}
		}
		m["consentedPermissionSet"] = consented
	}
	if _, ok := exp["teamsApp"]; ok {
		m["teamsApp"] = catalogJSON(app, false, false)
	}
	if _, ok := exp["teamsAppDefinition"]; ok {
		m["teamsAppDefinition"] = definitionJSON(app, in.version, strings.Contains(exp["teamsAppDefinition"], "bot"))
	}
	return m
}

func installationFilterObj(in *installation, app *catalogApp) map[string]any {
	return map[string]any{
		"id":                 in.id,
		"teamsApp":           catalogFilterObj(app),
		"teamsAppDefinition": definitionJSON(app, in.version, true),
	}
}

// scopeInstalls finds the tenant and the scope's installations, answering 404 if the scope does
// not exist. Caller holds d.mu.
func (e *Emulator) scopeInstalls(w http.ResponseWriter, r *http.Request, g *graphCall, d *directory, s Scope) (
	*tenant, map[string]*installation, bool) {
	id := r.PathValue("scope")
	t := d.tenants[key(g.claims.Tid)]
	var installs map[string]*installation
	if t != nil {
		installs = t.installsOf(s, id)
	}
	if installs == nil {
		switch s {
		case ScopeTeam:
			e.notFound(w, r, "NotFound", fmt.Sprintf("No team found with Group Id %s", id))
		case ScopeUser:
			e.notFound(w, r, "NotFound", fmt.Sprintf("User '%s' was not found.", id))
		default:
			e.notFound(w, r, "NotFound", fmt.Sprintf("Chat '%s' was not found.", id))
		}
		return nil, nil, false
	}
	return t, installs, true
}

func (e *Emulator) listInstalled(s Scope) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		f, exp, ok := e.parseQuery(w, r, odataInstallation)
		if !ok {
			return
		}
		sel, ok := e.parseSelect(w, r)
		if !ok {
			return
		}
		d := e.world().dir
		d.mu.RLock()
		defer d.mu.RUnlock()
		gr := g.grantFor(d, teamsAppPerm(scopeName(s), false))
		if gr == grantNone {
			e.forbidden(w, r)
			return
		}
		t, installs, ok := e.scopeInstalls(w, r, g, d, s)
		if !ok {
			return
		}
		list := make([]*installation, 0, len(installs))
		for _, in := range installs {
			list = append(list, in)
		}
		slices.SortFunc(list, func(a, b *installation) int { return strings.Compare(a.id, b.id) })
		out := make([]map[string]any, 0, len(list))
		for _, in := range list {
			app := t.catalog[key(in.teamsAppID)]
			if app == nil || !g.allows(gr, app) || (f != nil && !f.eval(installationFilterObj(in, app), nil)) {
				continue
			}
			out = append(out, installationJSON(in, app, exp, sel))
		}
		writeJSON(w, http.StatusOK, map[string]any{
			odataContext:   g.base + "/$metadata#" + string(s) + "s('" + r.PathValue("scope") + "')/installedApps",
			"@odata.count": len(out),
			odataValue:     out,
		})
	}
}

// findInstall resolves an installation id in a scope (404 if unknown or not of this Scope).
// authorizedInstall is the common start of the calls on one installation: the caller needs
// the scope's read (or write) permission, the installation must exist in that scope, and a
// "Self" grant reaches only the caller's own app. It answers the error itself when not ok.
func (e *Emulator) authorizedInstall(w http.ResponseWriter, r *http.Request, g *graphCall, d *directory, s Scope,
	write bool) (map[string]*installation, *installation, *catalogApp, bool) {
	gr := g.grantFor(d, teamsAppPerm(scopeName(s), write))
	if gr == grantNone {
		e.forbidden(w, r)
		return nil, nil, nil, false
	}
	t, installs, ok := e.scopeInstalls(w, r, g, d, s)
	if !ok {
		return nil, nil, nil, false
	}
	in, app, ok := e.findInstall(w, r, t, s, installs)
	if !ok {
		return nil, nil, nil, false
	}
	if !g.allows(gr, app) {
		e.forbidden(w, r)
		return nil, nil, nil, false
	}
	return installs, in, app, true
}

func (e *Emulator) findInstall(w http.ResponseWriter, r *http.Request, t *tenant, s Scope,
	installs map[string]*installation) (*installation, *catalogApp, bool) {
	raw := r.PathValue("install")
	scopeID, appID, ok := parseInstallationID(raw)
	var in *installation
	if ok {
		in = installs[key(appID)]
	}
	if in == nil || !strings.EqualFold(in.scopeID, scopeID) || t.catalog[key(in.teamsAppID)] == nil {
		e.notFound(w, r, "NotFound", fmt.Sprintf("The app installation '%s' was not found in this %s.", raw, s))
		return nil, nil, false
	}
	return in, t.catalog[key(in.teamsAppID)], true
}

func (e *Emulator) getInstalled(s Scope) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		_, exp, ok := e.parseQuery(w, r, odataInstallation)
		if !ok {
			return
		}
		sel, ok := e.parseSelect(w, r)
		if !ok {
			return
		}
		d := e.world().dir
		d.mu.RLock()
		defer d.mu.RUnlock()
		_, in, app, ok := e.authorizedInstall(w, r, g, d, s, false)
		if !ok {
			return
		}
		m := installationJSON(in, app, exp, sel)
		m[odataContext] = g.base + "/$metadata#" + string(s) + "s('" + r.PathValue("scope") + "')/installedApps/$entity"
		writeJSON(w, http.StatusOK, m)
	}
}

var bindRE = regexp.MustCompile(`(?i)/appCatalogs/teamsApps(?:/|\(')([^/'()]+)(?:'\))?/?$`)

type installBody struct {
	Bind      string `json:"teamsApp@odata.bind"`
	Consented *struct {
		RSC []RSCPermission `json:"resourceSpecificPermissions"`
	} `json:"consentedPermissionSet"`
}

func (e *Emulator) readGraphBody(w http.ResponseWriter, r *http.Request, v any, required bool) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		e.badRequest(w, r, "Unable to read the request body.")
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 && !required {
		return true
	}
	if err := json.Unmarshal(b, v); err != nil {
		e.badRequest(w, r, "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return false
	}
	return true
}

func (e *Emulator) installApp(s Scope) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		var body installBody
		if !e.readGraphBody(w, r, &body, true) {
			return
		}
		d := e.world().dir
		d.mu.Lock()
		defer d.mu.Unlock()
		gr := g.grantFor(d, teamsAppPerm(scopeName(s), true))
		if gr == grantNone {
			e.forbidden(w, r)
			return
		}
		t, installs, ok := e.scopeInstalls(w, r, g, d, s)
		if !ok {
			return
		}
		m := bindRE.FindStringSubmatch(body.Bind)
		if m == nil {
			e.badRequest(w, r, "Bind property 'teamsApp@odata.bind' is missing or is not a teamsApp URL "+
				"(https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}).")
			return
		}
		app := t.catalog[key(m[1])]
		if app == nil {
			e.notFound(w, r, "NotFound", fmt.Sprintf("App with id '%s' was not found in the catalog.", m[1]))
			return
		}
		if !g.allows(gr, app) {
			e.forbidden(w, r)
			return
		}
		consented, ok := e.checkConsent(w, r, g, d, s, app, body.Consented)
		if !ok {
			return
		}
		if installs[key(app.ID)] != nil {
			// Undocumented 409, user-reported: github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/3686.
			e.graphError(w, r, http.StatusConflict, "Conflict", "The app is already installed in this "+string(s)+".", nil)
			return
		}
		scopeID := r.PathValue("scope")
		if s == ScopeUser {
			scopeID = t.userFor(scopeID).id // installation ids carry the object id, even when addressed by UPN
		}
		t.install(installs, s, scopeID, app.ID, consented)
		w.Header().Set("Content-Length", "0")
		if s == ScopeTeam {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
	}
}

// checkConsent: an app with Application RSC permissions needs an AndConsent role and a
// consentedPermissionSet that matches its declaration (reference 1.2, 1.4;
// https://learn.microsoft.com/graph/api/chat-post-installedapps).
func (e *Emulator) checkConsent(w http.ResponseWriter, r *http.Request, g *graphCall, d *directory, s Scope,
	app *catalogApp, body *struct {
		RSC []RSCPermission `json:"resourceSpecificPermissions"`
	}) ([]RSCPermission, bool) {
	var want []string
	for _, p := range app.RSCPermissions {
		if strings.EqualFold(p.PermissionType, rscApplication) {
			want = append(want, p.PermissionValue)
		}
	}
	var got []string
	var consented []RSCPermission
	if body != nil {
		consented = body.RSC
		for _, p := range body.RSC {
			if strings.EqualFold(p.PermissionType, rscApplication) {
				got = append(got, p.PermissionValue)
			}
		}
	}
	if len(want) == 0 {
		return consented, true
	}
	if !g.allows(g.grantFor(d, consentPerm(scopeName(s))), app) {
		e.forbidden(w, r)
		return nil, false
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, slices.Compact(got)) {
		e.badRequest(w, r, fmt.Sprintf("The consentedPermissionSet must list exactly the application resource-specific "+
			"permissions the app declares: %s.", strings.Join(want, ", ")))
		return nil, false
	}
	return consented, true
}

func (e *Emulator) uninstallApp(s Scope) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		d := e.world().dir
		d.mu.Lock()
		defer d.mu.Unlock()
		installs, in, _, ok := e.authorizedInstall(w, r, g, d, s, true)
		if !ok {
			return
		}
		delete(installs, key(in.teamsAppID))
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *Emulator) upgradeApp(s Scope) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		var body struct {
			Consented *struct {
				RSC []RSCPermission `json:"resourceSpecificPermissions"`
			} `json:"consentedPermissionSet"`
		}
		if !e.readGraphBody(w, r, &body, false) {
			return
		}
		d := e.world().dir
		d.mu.Lock()
		defer d.mu.Unlock()
		_, in, app, ok := e.authorizedInstall(w, r, g, d, s, true)
		if !ok {
			return
		}
		if body.Consented != nil {
			consented, ok := e.checkConsent(w, r, g, d, s, app, body.Consented)
			if !ok {
				return
			}
			in.consented = consented
		}
		in.version = app.Version
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *Emulator) getInstallationChat(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	gr := g.grantFor(d, teamsAppPerm("User", false))
	if gr == grantNone {
		e.forbidden(w, r)
		return
	}
	t, installs, ok := e.scopeInstalls(w, r, g, d, ScopeUser)
	if !ok {
		return
	}
	_, app, ok := e.findInstall(w, r, t, ScopeUser, installs)
	if !ok {
		return
	}
	if !g.allows(gr, app) {
		e.forbidden(w, r)
		return
	}
	if app.BotID == "" {
		e.notFound(w, r, "NotFound", "The app has no bot, so there is no chat between the user and the app.")
		return
	}
	u := t.userFor(r.PathValue("scope"))
	id := PersonalChatID(app.BotID, u.id)
	writeJSON(w, http.StatusOK, map[string]any{
		odataContext:          g.base + "/$metadata#chats/$entity",
		"id":                  id,
		"topic":               nil,
		"createdDateTime":     timeJSON(app.lastModified),
		"lastUpdatedDateTime": timeJSON(app.lastModified),
		"chatType":            "oneOnOne",
		"webUrl":              "https://teams.microsoft.com/l/chat/" + url.PathEscape(id) + "/0?tenantId=" + t.id,
		"tenantId":            t.id,
		"onlineMeetingInfo":   nil,
		"viewpoint":           nil,
	})
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if g.grantFor(d, permUserRead) == grantNone {
		e.forbidden(w, r)
		return
	}
	id := r.PathValue("user")
	var u *user
	if t := d.tenants[key(g.claims.Tid)]; t != nil {
		u = t.userFor(id)
	}
	if u == nil {
		e.notFound(w, r, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried "+
			"reference-property objects are not present.", id))
		return
	}
	given, sur, _ := strings.Cut(u.displayName, " ")
	full := map[string]any{
		"id": u.id, "userPrincipalName": u.upn, "displayName": u.displayName, "mail": u.mail,
		"givenName": nullable(given), "surname": nullable(sur), "jobTitle": nil, "businessPhones": []string{},
		"mobilePhone": nil, "officeLocation": nil, "preferredLanguage": nil,
	}
	out := map[string]any{odataContext: g.base + "/$metadata#users/$entity"}
	if sel := r.URL.Query().Get("$select"); sel != "" {
		for f := range strings.SplitSeq(sel, ",") {
			f = strings.TrimSpace(f)
			v, ok := full[f]
			if !ok {
				e.badRequest(w, r, fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named "+
					"'%s' on type 'microsoft.graph.user'.", f))
				return
			}
			out[f] = v
		}
	} else {
		maps.Copy(out, full)
	}
	writeJSON(w, http.StatusOK, out)
}

func channelJSON(c *channel, t *team) map[string]any {
	return map[string]any{
		"id": c.id, "displayName": c.displayName, "description": nullable(c.description),
		"createdDateTime": timeJSON(t.created), "isFavoriteByDefault": nil, "email": "", "tenantId": t.tenantID,
		"membershipType": c.membershipType,
		"webUrl": "https://teams.microsoft.com/l/channel/" + url.PathEscape(c.id) + "/" + url.PathEscape(c.displayName) +
			"?groupId=" + t.id + "&tenantId=" + t.tenantID,
	}
}

// teamFor resolves the team of a Graph call, answering 403/404. Caller holds d.mu.
func (e *Emulator) teamFor(w http.ResponseWriter, r *http.Request, g *graphCall, d *directory) (*team, bool) {
	if g.grantFor(d, permChannels) == grantNone {
		e.forbidden(w, r)
		return nil, false
	}
	var tm *team
	if t := d.tenants[key(g.claims.Tid)]; t != nil {
		tm = t.teams[key(r.PathValue("team"))]
	}
	if tm == nil {
		e.notFound(w, r, "NotFound", fmt.Sprintf("No team found with Group Id %s", r.PathValue("team")))
		return nil, false
	}
	return tm, true
}

func (e *Emulator) getPrimaryChannel(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	tm, ok := e.teamFor(w, r, g, d)
	if !ok {
		return
	}
	m := channelJSON(tm.general, tm)
	m[odataContext] = g.base + "/$metadata#teams('" + tm.id + "')/primaryChannel/$entity"
	writeJSON(w, http.StatusOK, m)
}

func (e *Emulator) listChannels(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	tm, ok := e.teamFor(w, r, g, d)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(tm.channels))
	for _, c := range tm.channels {
		out = append(out, channelJSON(c, tm))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		odataContext:   g.base + "/$metadata#teams('" + tm.id + "')/channels",
		"@odata.count": len(out),
		odataValue:     out,
	})
}

func (e *Emulator) getChannel(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	tm, ok := e.teamFor(w, r, g, d)
	if !ok {
		return
	}
	c := d.channels[key(r.PathValue("channel"))]
	if c == nil || c.team != tm {
		e.notFound(w, r, "NotFound", fmt.Sprintf("Channel '%s' was not found in the team.", r.PathValue("channel")))
		return
	}
	m := channelJSON(c, tm)
	m[odataContext] = g.base + "/$metadata#teams('" + tm.id + "')/channels/$entity"
	writeJSON(w, http.StatusOK, m)
}
