//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestGraphAuthentication(t *testing.T) {
	v := newEnv(t, Options{})
	graph, bot := v.graphToken(), v.botToken()
	tests := map[string]struct {
		token  string
		before func()
		msg    string
	}{
		"no token":         {token: "", msg: "Access token is empty."},
		"garbage":          {token: "abc.def.ghi", msg: "IDX14100: JWT is not well formed."},
		"bot audience":     {token: bot, msg: "Invalid audience."},
		"forged signature": {token: graph[:len(graph)-4] + "AAAA", msg: "Access token validation failure: invalid signature."},
		"expired":          {token: graph, before: func() { v.clock.Advance(3599 * time.Second) }, msg: "Lifetime validation failed, the token is expired."},
	}
	for _, name := range []string{"no token", "garbage", "bot audience", "forged signature", "expired"} {
		tc := tests[name]
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.before != nil {
				tc.before()
			}
			r := v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, tc.token, nil, "client-request-id", "my-client-id")
			g.Expect(r.status).To(Equal(http.StatusUnauthorized))
			g.Expect(r.str("error", "code")).To(Equal("InvalidAuthenticationToken"))
			g.Expect(r.str("error", "message")).To(Equal(tc.msg))
			g.Expect(r.header.Get("request-id")).NotTo(BeEmpty())
			g.Expect(r.str("error", "innerError", "request-id")).To(Equal(r.header.Get("request-id")))
			g.Expect(r.str("error", "innerError", "client-request-id")).To(Equal("my-client-id"))
			g.Expect(r.str("error", "innerError", "date")).NotTo(BeEmpty())
		})
	}
}

func TestGraphCatalog(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const quoted = "4c0d6d5f-0000-4000-8000-000000000001"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Catalog: []CatalogAppSeed{
		{ID: quoted, ExternalID: "o'neil-app", DisplayName: "O'Neil", DistributionMethod: "sideloaded"},
		{ID: "com.example.store", DisplayName: "Store app", DistributionMethod: "store"},
	}}}})).To(Succeed())
	tok := v.graphToken()
	list := func(filter string, extra ...string) *resp {
		q := url.Values{}
		if filter != "" {
			q.Set("$filter", filter)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return v.do("GET", "/v1.0/appCatalogs/teamsApps?"+q.Encode(), tok, nil)
	}
	ids := func(r *resp) []any {
		out := make([]any, 0, len(r.list("value")))
		for _, a := range r.list("value") {
			out = append(out, a.(map[string]any)["id"])
		}
		return out
	}
	tests := map[string]struct {
		filter string
		want   []any
		status int
		msg    string
	}{
		"all":                  {want: []any{quoted, "com.example.store", DefaultTeamsAppID, DefaultNotifierTeamsAppID}},
		"by externalId":        {filter: "externalId eq '" + DefaultTeamsAppExternalID + "'", want: []any{DefaultTeamsAppID}},
		"by id":                {filter: "id eq '" + DefaultTeamsAppID + "'", want: []any{DefaultTeamsAppID}},
		"escaped quote":        {filter: "externalId eq 'o''neil-app'", want: []any{quoted}},
		"org catalog":          {filter: "distributionMethod eq 'organization'", want: []any{DefaultTeamsAppID, DefaultNotifierTeamsAppID}},
		"and/or":               {filter: "(distributionMethod eq 'store' or distributionMethod eq 'sideloaded') and displayName ne 'x'", want: []any{quoted, "com.example.store"}},
		"apps with a bot":      {filter: "appDefinitions/any(a:a/bot ne null)", want: []any{DefaultTeamsAppID, DefaultNotifierTeamsAppID}},
		"by bot id":            {filter: "appDefinitions/any(a:a/bot/id eq '" + DefaultNotifierAppID + "')", want: []any{DefaultNotifierTeamsAppID}},
		"no match":             {filter: "externalId eq 'nothing'", want: []any{}},
		"unterminated literal": {filter: "externalId eq 'abc", status: 400, msg: "Invalid filter clause: Syntax error at position 14 in 'externalId eq 'abc': unterminated string literal."},
		"unescaped quote":      {filter: "externalId eq 'o'neil-app'", status: 400},
		"unknown property":     {filter: "manifestId eq 'x'", status: 400, msg: "Could not find a property named 'manifestId' on type 'microsoft.graph.teamsApp'."},
		"missing operand":      {filter: "id eq", status: 400},
		"unsupported operator": {filter: "id gt 'a'", status: 400},
		"trailing garbage":     {filter: "id eq 'a' 'b'", status: 400},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := list(tc.filter)
			if tc.status != 0 {
				g.Expect(r.status).To(Equal(tc.status), string(r.raw))
				g.Expect(r.str("error", "code")).To(Equal("BadRequest"))
				if tc.msg != "" {
					g.Expect(r.str("error", "message")).To(Equal(tc.msg))
				}
				return
			}
			g.Expect(r.status).To(Equal(200), string(r.raw))
			g.Expect(ids(r)).To(ConsistOf(tc.want...))
		})
	}

	t.Run("expand appDefinitions", func(t *testing.T) {
		g := NewWithT(t)
		r := list("id eq '"+DefaultTeamsAppID+"'", "$expand", "appDefinitions($expand=bot)")
		g.Expect(r.status).To(Equal(200))
		app := r.list("value")[0].(map[string]any)
		g.Expect(app).To(HaveKeyWithValue("externalId", DefaultTeamsAppExternalID))
		g.Expect(app).To(HaveKeyWithValue("distributionMethod", "organization"))
		def := app["appDefinitions"].([]any)[0].(map[string]any)
		g.Expect(def).To(HaveKeyWithValue("version", "1.0.0"))
		g.Expect(def).To(HaveKeyWithValue("publishingState", "published"))
		g.Expect(def).To(HaveKeyWithValue("bot", HaveKeyWithValue("id", DefaultBotAppID)))
		raw, _ := base64.StdEncoding.DecodeString(def["id"].(string))
		g.Expect(string(raw)).To(Equal(DefaultTeamsAppID + "##1.0.0"))

		r = list("", "$expand", "nope")
		g.Expect(r.status).To(Equal(400))
	})
	t.Run("store app has no externalId", func(t *testing.T) {
		g := NewWithT(t)
		r := list("id eq 'com.example.store'")
		g.Expect(r.list("value")[0]).To(HaveKeyWithValue("externalId", BeNil()))
	})
	t.Run("operation names in the journal", func(t *testing.T) {
		g := NewWithT(t)
		seq := lastSeq(v.e)
		list("id eq 'x'")
		list("externalId eq 'x'")
		list("distributionMethod eq 'organization'")
		reqs := v.e.RequestsSince(seq)
		ops := make([]string, 0, len(reqs))
		for _, j := range reqs {
			ops = append(ops, j.Operation)
		}
		g.Expect(ops).To(Equal([]string{"getCatalogApp", "listCatalogApps", "listCatalogApps"}))
	})
}

func lastSeq(e *Emulator) int64 {
	r := e.Requests()
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1].Seq
}

func TestGraphInstallations(t *testing.T) {
	scopes := map[string]struct {
		base          string
		scopeID       string
		installStatus int
	}{
		"team":        {base: "/v1.0/teams/" + DefaultTeamID, scopeID: DefaultTeamID, installStatus: 200},
		"user by id":  {base: "/v1.0/users/" + DefaultUserAdeleID + "/teamwork", scopeID: DefaultUserAdeleID, installStatus: 201},
		"user by UPN": {base: "/beta/users/" + DefaultUserAdeleUPN + "/teamwork", scopeID: DefaultUserAdeleID, installStatus: 201},
		"chat":        {base: "/v1.0/chats/" + DefaultGroupChatID, scopeID: DefaultGroupChatID, installStatus: 201},
	}
	for name, tc := range scopes {
		t.Run(name, func(t *testing.T) {
			v := newEnv(t, Options{})
			g := NewWithT(t)
			tok := v.graphToken()
			filter := "?$expand=teamsApp,teamsAppDefinition&$filter=" + url.QueryEscape("teamsApp/id eq '"+DefaultTeamsAppID+"'")

			r := v.do("GET", tc.base+"/installedApps"+filter, tok, nil)
			g.Expect(r.status).To(Equal(200), string(r.raw))
			g.Expect(r.list("value")).To(BeEmpty())

			r = v.do("POST", tc.base+"/installedApps", tok, bind(DefaultTeamsAppID))
			g.Expect(r.status).To(Equal(tc.installStatus), string(r.raw))
			g.Expect(r.raw).To(BeEmpty())

			r = v.do("POST", tc.base+"/installedApps", tok, bind(DefaultTeamsAppID))
			g.Expect(r.status).To(Equal(http.StatusConflict))
			g.Expect(r.str("error", "code")).To(Equal("Conflict"))
			g.Expect(r.str("error", "innerError", "request-id")).NotTo(BeEmpty())

			r = v.do("GET", tc.base+"/installedApps?$expand=teamsApp&$filter="+
				url.QueryEscape("teamsApp/externalId eq '"+DefaultTeamsAppExternalID+"'"), tok, nil)
			g.Expect(r.list("value")).To(HaveLen(1))
			inst := r.list("value")[0].(map[string]any)
			g.Expect(inst).To(HaveKeyWithValue("teamsApp", HaveKeyWithValue("id", DefaultTeamsAppID)))
			id := inst["id"].(string)
			raw, err := base64.StdEncoding.DecodeString(id)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(raw)).To(Equal(tc.scopeID + "##" + DefaultTeamsAppID))

			r = v.do("GET", tc.base+"/installedApps/"+url.PathEscape(id)+"?$expand=teamsAppDefinition", tok, nil)
			g.Expect(r.status).To(Equal(200), string(r.raw))
			g.Expect(r.json).To(HaveKeyWithValue("teamsAppDefinition", HaveKeyWithValue("version", "1.0.0")))

			// Ids without their base64 padding work too (reference 1.3).
			r = v.do("GET", tc.base+"/installedApps/"+url.PathEscape(trimPad(id)), tok, nil)
			g.Expect(r.status).To(Equal(200), string(r.raw))

			// A new catalog version, then upgrade.
			g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Catalog: []CatalogAppSeed{{
				ID: DefaultTeamsAppID, ExternalID: DefaultTeamsAppExternalID, DisplayName: DefaultTeamsAppName,
				Version: "1.1.0", BotID: DefaultBotAppID, WebApplicationInfoID: DefaultBotAppID,
			}}}}})).To(Succeed())
			r = v.do("POST", tc.base+"/installedApps/"+url.PathEscape(id)+"/upgrade", tok, nil)
			g.Expect(r.status).To(Equal(http.StatusNoContent), string(r.raw))
			r = v.do("GET", tc.base+"/installedApps/"+url.PathEscape(id)+"?$expand=teamsAppDefinition", tok, nil)
			g.Expect(r.json).To(HaveKeyWithValue("teamsAppDefinition", HaveKeyWithValue("version", "1.1.0")))

			r = v.do("DELETE", tc.base+"/installedApps/"+url.PathEscape(id), tok, nil)
			g.Expect(r.status).To(Equal(http.StatusNoContent))
			r = v.do("DELETE", tc.base+"/installedApps/"+url.PathEscape(id), tok, nil)
			g.Expect(r.status).To(Equal(http.StatusNotFound))
			g.Expect(r.str("error", "code")).To(Equal("NotFound"))

			r = v.do("POST", tc.base+"/installedApps", tok, bind("99999999-9999-4999-8999-999999999999"))
			g.Expect(r.status).To(Equal(http.StatusNotFound))
			r = v.do("POST", tc.base+"/installedApps", tok, map[string]string{"teamsApp": "x"})
			g.Expect(r.status).To(Equal(http.StatusBadRequest))

			g.Expect(v.e.RevokeRoles(DefaultTenantID, DefaultBotAppID, DefaultGraphRoles...)).To(Succeed())
			r = v.do("POST", tc.base+"/installedApps", tok, bind(DefaultTeamsAppID))
			g.Expect(r.status).NotTo(Equal(http.StatusForbidden), "the token issued before the revoke still carries the roles")
			r = v.do("POST", tc.base+"/installedApps", v.graphToken(), bind(DefaultTeamsAppID))
			g.Expect(r.status).To(Equal(http.StatusForbidden))
			g.Expect(r.str("error", "code")).To(Equal("Forbidden"))
			g.Expect(r.str("error", "message")).To(Equal("Caller is not authorized."))
			g.Expect(r.str("error", "innerError", "date")).NotTo(BeEmpty())
		})
	}
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

func TestGraphSelfPermissions(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const otherApp = "92720947-b3c2-4cd9-992f-5bdec6b4f16b"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Catalog: []CatalogAppSeed{{
		ID: otherApp, ExternalID: "other", DisplayName: "Someone else's app", BotID: "0dfaeeca-028e-4d6f-8a24-384518c57a6c",
	}}}}})).To(Succeed())
	tok := v.graphToken()
	// ReadWriteSelfForTeam lets the bot install itself, not another app.
	r := v.do("POST", "/v1.0/teams/"+DefaultTeamID+"/installedApps", tok, bind(otherApp))
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(v.e.GrantRoles(DefaultTenantID, DefaultBotAppID, "TeamsAppInstallation.ReadWriteForTeam.All")).To(Succeed())
	r = v.do("POST", "/v1.0/teams/"+DefaultTeamID+"/installedApps", tok, bind(otherApp))
	g.Expect(r.status).To(Equal(http.StatusForbidden), "a grant shows only in a new token")
	r = v.do("POST", "/v1.0/teams/"+DefaultTeamID+"/installedApps", v.graphToken(), bind(otherApp))
	g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
}

func TestGraphRSCConsent(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const rscApp = "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1c"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Catalog: []CatalogAppSeed{{
		ID: rscApp, DisplayName: "RSC app", BotID: DefaultBotAppID, WebApplicationInfoID: DefaultBotAppID,
		RSCPermissions: []RSCPermission{{PermissionValue: "ChatMessage.Read.Chat", PermissionType: "Application"}},
	}}}}})).To(Succeed())
	tok := v.graphToken()
	path := "/v1.0/chats/" + DefaultGroupChatID + "/installedApps"
	body := map[string]any{
		"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + rscApp,
		"consentedPermissionSet": map[string]any{"resourceSpecificPermissions": []any{
			map[string]string{"permissionValue": "ChatMessage.Read.Chat", "permissionType": "Application"}}},
	}
	g.Expect(v.do("POST", path, tok, body).status).To(Equal(http.StatusForbidden)) // needs an AndConsent role
	g.Expect(v.e.GrantRoles(DefaultTenantID, DefaultBotAppID, "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All")).To(Succeed())
	tok = v.graphToken()
	g.Expect(v.do("POST", path, tok, bind(rscApp)).status).To(Equal(http.StatusBadRequest)) // consent missing
	g.Expect(v.do("POST", path, tok, body).status).To(Equal(http.StatusCreated))
}

func TestGraphInstallationChatAndDirectory(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.graphToken()
	g.Expect(v.do("POST", "/v1.0/users/"+DefaultUserMeganUPN+"/teamwork/installedApps", tok, bind(DefaultTeamsAppID)).status).
		To(Equal(http.StatusCreated))
	id := installationID(DefaultUserMeganID, DefaultTeamsAppID)
	r := v.do("GET", "/v1.0/users/"+DefaultUserMeganID+"/teamwork/installedApps/"+url.PathEscape(id)+"/chat", tok, nil)
	g.Expect(r.status).To(Equal(200), string(r.raw))
	g.Expect(r.str("id")).To(Equal("19:" + DefaultBotAppID + "_" + DefaultUserMeganID + "@unq.gbl.spaces"))
	g.Expect(r.str("chatType")).To(Equal("oneOnOne"))

	r = v.do("GET", "/v1.0/users/"+DefaultUserAlexUPN, tok, nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(r.json).To(And(HaveKeyWithValue("id", DefaultUserAlexID), HaveKeyWithValue("userPrincipalName", DefaultUserAlexUPN),
		HaveKeyWithValue("displayName", "Alex Wilber"), HaveKeyWithValue("mail", DefaultUserAlexUPN)))
	r = v.do("GET", "/v1.0/users/"+DefaultUserAlexID+"?$select=id,displayName", tok, nil)
	g.Expect(r.json).To(And(HaveKey("id"), HaveKey("displayName"), Not(HaveKey("mail"))))
	r = v.do("GET", "/v1.0/users/nobody@contoso.onmicrosoft.com", tok, nil)
	g.Expect(r.status).To(Equal(http.StatusNotFound))
	g.Expect(r.str("error", "code")).To(Equal("Request_ResourceNotFound"))

	r = v.do("GET", "/v1.0/teams/"+DefaultTeamID+"/primaryChannel", tok, nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(r.json).To(And(HaveKeyWithValue("id", DefaultGeneralChannelID), HaveKeyWithValue("displayName", "General")))
	r = v.do("GET", "/v1.0/teams/"+DefaultTeamID+"/channels", tok, nil)
	names := make([]any, 0, len(r.list("value")))
	for _, c := range r.list("value") {
		names = append(names, c.(map[string]any)["displayName"])
	}
	g.Expect(names).To(Equal([]any{"General", "alerts", "deployments", "security", "partners"}))
	r = v.do("GET", "/v1.0/teams/99999999-9999-4999-8999-999999999999/primaryChannel", tok, nil)
	g.Expect(r.status).To(Equal(http.StatusNotFound))
}

func TestGraphThrottling(t *testing.T) {
	v := newEnv(t, Options{GraphRPS: 3})
	g := NewWithT(t)
	tok := v.graphToken()
	get := func() *resp { return v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, tok, nil) }
	for range 3 {
		g.Expect(get().status).To(Equal(200))
	}
	v.clock.Advance(400 * time.Millisecond)
	r := get()
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.str("error", "code")).To(Equal("TooManyRequests"))
	g.Expect(r.str("error", "innerError", "code")).To(Equal("429"))
	// The window (t-1s, t] still holds the 3 requests at t0 for another 600 ms.
	g.Expect(r.header.Get("Retry-After")).To(Equal("0.6"))
	secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
	g.Expect(err).NotTo(HaveOccurred())
	v.clock.Advance(time.Duration(secs * float64(time.Second)))
	g.Expect(get().status).To(Equal(200))
}
