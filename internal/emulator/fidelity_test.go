//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// Behaviours Microsoft documents and docs/dev/contracts.md lists, one test each.

// azureADAppId is the manifest's webApplicationInfo.id (null without one), and the bot comes only
// when expanded (https://learn.microsoft.com/graph/api/resources/teamsappdefinition).
func TestGraphDefinitionAzureADAppIDIsWebApplicationInfo(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	notifier := v.token(DefaultNotifierAppID, DefaultNotifierSecret, "https://graph.microsoft.com/.default")
	v.install(ScopeTeam, DefaultTeamID)
	_, err := v.e.Install(ScopeTeam, DefaultTeamID, DefaultNotifierTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	path := "/v1.0/teams/" + DefaultTeamID + "/installedApps?"
	defs := func(query url.Values) map[string]map[string]any {
		r := v.do("GET", path+query.Encode(), notifier, nil)
		g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
		out := map[string]map[string]any{}
		for _, it := range r.list("value") {
			in := it.(map[string]any)
			def := in["teamsAppDefinition"].(map[string]any)
			out[def["teamsAppId"].(string)] = def
		}
		return out
	}
	plain := defs(url.Values{"$expand": {"teamsAppDefinition"}})
	g.Expect(plain).To(HaveLen(2))
	g.Expect(plain[DefaultTeamsAppID]).To(HaveKeyWithValue("azureADAppId", DefaultBotAppID))
	g.Expect(plain[DefaultNotifierTeamsAppID]).To(HaveKeyWithValue("azureADAppId", BeNil()))
	g.Expect(plain[DefaultNotifierTeamsAppID]).NotTo(HaveKey("bot"), "bot is a navigation property: only when expanded")
	withBot := defs(url.Values{"$expand": {"teamsAppDefinition($expand=bot)"}})
	g.Expect(withBot[DefaultNotifierTeamsAppID]).To(HaveKeyWithValue("bot", HaveKeyWithValue("id", DefaultNotifierAppID)))
}

// The "Self" permissions reach an app whose webApplicationInfo.id is the caller, not one whose
// bot is the caller (reference 1.4).
func TestGraphSelfPermissionsNeedWebApplicationInfo(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	g.Expect(v.e.RevokeRoles(DefaultTenantID, DefaultNotifierAppID, DefaultNotifierGraphRoles...)).To(Succeed())
	g.Expect(v.e.GrantRoles(DefaultTenantID, DefaultNotifierAppID, DefaultGraphRoles...)).To(Succeed())
	notifier := v.token(DefaultNotifierAppID, DefaultNotifierSecret, "https://graph.microsoft.com/.default")
	r := v.do("POST", "/v1.0/teams/"+DefaultTeamID+"/installedApps", notifier, bind(DefaultNotifierTeamsAppID))
	g.Expect(r.status).To(Equal(http.StatusForbidden), "Self cannot reach an app without webApplicationInfo")
	g.Expect(v.e.GrantRoles(DefaultTenantID, DefaultNotifierAppID, "TeamsAppInstallation.ReadWriteForTeam.All")).To(Succeed())
	notifier = v.token(DefaultNotifierAppID, DefaultNotifierSecret, "https://graph.microsoft.com/.default")
	r = v.do("POST", "/v1.0/teams/"+DefaultTeamID+"/installedApps", notifier, bind(DefaultNotifierTeamsAppID))
	g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
}

// consentedPermissionSet comes back only when selected, with permissionType in lower case
// (https://learn.microsoft.com/graph/api/chat-get-installedapps, example 2).
func TestGraphConsentedPermissionSetOnlyWhenSelected(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const rscApp = "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1d"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Catalog: []CatalogAppSeed{{
		ID: rscApp, DisplayName: "RSC app", BotID: DefaultBotAppID, WebApplicationInfoID: DefaultBotAppID,
		RSCPermissions: []RSCPermission{{PermissionValue: "ChatMessage.Read.Chat", PermissionType: "Application"}},
	}}}}})).To(Succeed())
	g.Expect(v.e.GrantRoles(DefaultTenantID, DefaultBotAppID, "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All")).To(Succeed())
	tok := v.graphToken() // after the grant: a grant shows only in a new token
	base := "/v1.0/chats/" + DefaultGroupChatID + "/installedApps"
	g.Expect(v.do("POST", base, tok, map[string]any{
		"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + rscApp,
		"consentedPermissionSet": map[string]any{"resourceSpecificPermissions": []any{
			map[string]string{"permissionValue": "ChatMessage.Read.Chat", "permissionType": "Application"}}},
	}).status).To(Equal(http.StatusCreated))
	one := base + "/" + url.PathEscape(installationID(DefaultGroupChatID, rscApp))
	r := v.do("GET", one, tok, nil)
	g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
	g.Expect(r.json).NotTo(HaveKey("consentedPermissionSet"))
	r = v.do("GET", one+"?$select=consentedPermissionSet,id", tok, nil)
	g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
	g.Expect(r.json).To(HaveKeyWithValue("consentedPermissionSet", HaveKeyWithValue("resourceSpecificPermissions",
		ConsistOf(map[string]any{"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}))))
	g.Expect(v.do("GET", one+"?$select=nothing", tok, nil).status).To(Equal(http.StatusBadRequest))
}

// A thread id ({channel};messageid={root}) is posted into, never created again: the emulator
// refuses a create whose channel carries ;messageid= (reference 3.3 b/c).
func TestConnectorCreateRefusesThreadID(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	v.install(ScopeTeam, DefaultTeamID)
	tok := v.botToken()
	params := func(channel string) map[string]any {
		return map[string]any{"isGroup": true, "tenantId": DefaultTenantID,
			"channelData": map[string]any{"channel": map[string]string{"id": channel}, "tenant": map[string]string{"id": DefaultTenantID}},
			"activity":    text("root")}
	}
	r := v.do("POST", "/teams/v3/conversations", tok, params(DefaultAlertsChannelID))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	thread := r.str("id")
	g.Expect(thread).To(Equal(DefaultAlertsChannelID + ";messageid=" + r.str("activityId")))
	r = v.do("POST", "/teams/v3/conversations", tok, params(thread))
	g.Expect(r.status).To(Equal(http.StatusBadRequest), string(r.raw))
	g.Expect(r.str("error", "message")).To(ContainSubstring(";messageid="))
	g.Expect(v.do("POST", conv(thread), tok, text("in the thread")).status).To(Equal(http.StatusCreated))
}

// Every proactive request names the tenant in both places the SDKs put it; the emulator records
// where it was missing.
func TestConnectorRecordsMissingTenant(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	v.install(ScopeChat, DefaultGroupChatID)
	tok := v.botToken()
	g.Expect(v.do("POST", conv(DefaultGroupChatID), tok, text("bare")).status).To(Equal(http.StatusCreated))
	full := text("addressed")
	full["conversation"] = map[string]string{"id": DefaultGroupChatID, "tenantId": DefaultTenantID}
	full["channelData"] = map[string]any{"tenant": map[string]string{"id": DefaultTenantID}}
	g.Expect(v.do("POST", conv(DefaultGroupChatID), tok, full).status).To(Equal(http.StatusCreated))
	acts := v.e.ConversationActivities(DefaultGroupChatID)
	g.Expect(acts).To(HaveLen(2))
	g.Expect(acts[0].MissingTenant).To(ConsistOf("conversation.tenantId", "channelData.tenant.id"))
	g.Expect(acts[1].MissingTenant).To(BeEmpty())
}

// Teams counts a message's size in UTF-16, base64 images left out, and answers 413
// MessageSizeTooBig above about 100 KB (format-your-bot-messages).
func TestConnectorMessageSizeIsUTF16(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	v.install(ScopeChat, DefaultGroupChatID)
	tok := v.botToken()
	send := func(s string) *resp { return v.do("POST", conv(DefaultGroupChatID), tok, text(s)) }
	// 45000 CJK characters: 135 KB of UTF-8, 90 KB of UTF-16.
	g.Expect(send(strings.Repeat("漢", 45000)).status).To(Equal(http.StatusCreated))
	// 52000 CJK characters: 104 KB of UTF-16.
	r := send(strings.Repeat("漢", 52000))
	g.Expect(r.status).To(Equal(http.StatusRequestEntityTooLarge))
	g.Expect(r.str("error", "code")).To(Equal("MessageSizeTooBig"))
	// Emoji are 4 bytes either way: 25000 fit, 26000 do not.
	g.Expect(send(strings.Repeat("😀", 25000)).status).To(Equal(http.StatusCreated))
	g.Expect(send(strings.Repeat("😀", 26000)).status).To(Equal(http.StatusRequestEntityTooLarge))
	// ASCII doubles: 60000 characters are 60 KB of UTF-8 but 120 KB of UTF-16.
	g.Expect(send(strings.Repeat("a", 60000)).status).To(Equal(http.StatusRequestEntityTooLarge))
	// A base64 image is not counted.
	g.Expect(send("![x](data:image/png;base64," + strings.Repeat("A", 200000) + ")").status).To(Equal(http.StatusCreated))
}

// An emulator started with a cloud refuses what that cloud's Graph lacks in application context
// (teamwork-national-cloud-differences).
func TestGraphNationalCloudRefusals(t *testing.T) {
	user := "/v1.0/users/" + DefaultUserAdeleID + "/teamwork/installedApps"
	team := "/v1.0/teams/" + DefaultTeamID + "/installedApps"
	chat := "/v1.0/chats/" + DefaultGroupChatID + "/installedApps"
	catalog := "/v1.0/appCatalogs/teamsApps"
	for cloud, refused := range map[string][]bool{ // user, team, chat, catalog
		"Public":       {false, false, false, false},
		"USGovGCCHigh": {true, false, false, false},
		"USGovDoD":     {true, false, false, false},
		"China":        {true, true, true, false},
	} {
		t.Run(cloud, func(t *testing.T) {
			v := newEnv(t, Options{Cloud: cloud})
			g := NewWithT(t)
			tok := v.graphToken()
			for i, path := range []string{user, team, chat, catalog} {
				r := v.do("GET", path, tok, nil)
				if refused[i] {
					g.Expect(r.status).To(Equal(http.StatusBadRequest), path)
					g.Expect(r.str("error", "message")).To(ContainSubstring("not supported"))
				} else {
					g.Expect(r.status).To(Equal(http.StatusOK), path+" "+string(r.raw))
				}
			}
		})
	}
}
