//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func personalParams(member string) map[string]any {
	return map[string]any{
		"isGroup": false, "bot": map[string]string{"id": "28:" + DefaultBotAppID},
		"members": []any{map[string]string{"id": member}}, "tenantId": DefaultTenantID,
	}
}

func conv(id string) string { return "/teams/v3/conversations/" + url.PathEscape(id) + "/activities" }

func TestConnectorAuthentication(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	const notBot = "0ff3f18e-f596-45b1-ad6c-ce0c9e25412e"
	g.Expect(v.e.MergeSeed(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Apps: []AppSeed{{
		ClientID: notBot, Secrets: []string{"s"},
	}}}}})).To(Succeed())
	tests := map[string]struct {
		token string
		code  string
	}{
		"no token":       {code: "Unauthorized"},
		"graph audience": {token: v.graphToken(), code: "Unauthorized"},
		"not a bot":      {token: v.token(notBot, "s", botScope), code: "BotNotRegistered"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := v.do("POST", "/teams/v3/conversations", tc.token, personalParams(DefaultUserAdeleID))
			g.Expect(r.status).To(Equal(http.StatusUnauthorized))
			g.Expect(r.str("error", "code")).To(Equal(tc.code))
			g.Expect(r.header.Get("X-Correlating-OperationId")).NotTo(BeEmpty())
		})
	}
	t.Run("expired", func(t *testing.T) {
		g := NewWithT(t)
		tok := v.botToken()
		v.clock.Advance(time.Hour)
		g.Expect(v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserAdeleID)).status).To(Equal(401))
	})
}

func TestPersonalConversations(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.botToken()
	create := func(segment, member string) *resp {
		return v.do("POST", "/"+segment+"/v3/conversations", tok, personalParams(member))
	}

	// Not installed: ForbiddenOperationException (reference 3.3a, 3.6).
	r := create("teams", BotUserID(DefaultBotAppID, DefaultUserAdeleID))
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.str("error", "code")).To(Equal("ForbiddenOperationException"))
	g.Expect(r.str("error", "message")).To(Equal("Bot isn't installed in user's personal scope"))

	v.install(ScopeUser, DefaultUserAdeleID)
	r = create("teams", BotUserID(DefaultBotAppID, DefaultUserAdeleID))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	id := r.str("id")
	g.Expect(id).To(HavePrefix("a:"))
	g.Expect(r.header.Get("X-Correlating-OperationId")).NotTo(BeEmpty())
	// Idempotent per (bot, user), whatever the member id form or service URL segment.
	g.Expect(create("amer", DefaultUserAdeleID).str("id")).To(Equal(id))
	g.Expect(create("emea", BotUserID(DefaultBotAppID, DefaultUserAdeleID)).str("id")).To(Equal(id))

	t.Run("bad create parameters", func(t *testing.T) {
		g := NewWithT(t)
		noTenant := personalParams(DefaultUserAdeleID)
		delete(noTenant, "tenantId")
		channelDataTenant := personalParams(DefaultUserAdeleID)
		delete(channelDataTenant, "tenantId")
		channelDataTenant["channelData"] = map[string]any{"tenant": map[string]string{"id": DefaultTenantID}}
		g.Expect(v.do("POST", "/teams/v3/conversations", tok, channelDataTenant).status).To(Equal(http.StatusCreated))
		for name, body := range map[string]any{
			"no tenant":         noTenant,
			"UPN member":        personalParams(DefaultUserAdeleUPN),
			"other bot's 29":    personalParams(BotUserID("92720947-b3c2-4cd9-992f-5bdec6b4f16b", DefaultUserAdeleID)),
			"not JSON":          "{",
			"group, no channel": map[string]any{"isGroup": true, "tenantId": DefaultTenantID},
		} {
			r := v.do("POST", "/teams/v3/conversations", tok, body)
			g.Expect(r.status).To(Equal(http.StatusBadRequest), name)
			g.Expect(r.str("error", "code")).To(Equal("BadArgument"), name)
		}
	})

	var first string
	t.Run("send", func(t *testing.T) {
		g := NewWithT(t)
		r := v.do("POST", conv(id), tok, text("hello"))
		g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
		first = r.str("id")
		ms, err := strconv.ParseInt(first, 10, 64)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ms).To(BeNumerically(">=", v.clock.Now().UnixMilli()))
		// The Graph chat id of the same chat is accepted (reference 3.3f).
		r = v.do("POST", conv(PersonalChatID(DefaultBotAppID, DefaultUserAdeleID)), tok, text("via graph id"))
		g.Expect(r.status).To(Equal(http.StatusCreated))
		second, _ := strconv.ParseInt(r.str("id"), 10, 64)
		g.Expect(second).To(BeNumerically(">", ms))
		list := v.e.ConversationActivities(id)
		g.Expect(list).To(HaveLen(2))
		g.Expect(list[1].AddressedTo).To(Equal(PersonalChatID(DefaultBotAppID, DefaultUserAdeleID)))
		g.Expect(list[1].ConversationID).To(Equal(id))
		g.Expect(list[1].UserID).To(Equal(DefaultUserAdeleID))
		g.Expect(v.e.ConversationActivities(PersonalChatID(DefaultBotAppID, DefaultUserAdeleID))).To(HaveLen(2))
		g.Expect(string(list[0].Activity)).To(MatchJSON(`{"type":"message","text":"hello"}`))
	})

	t.Run("update and delete", func(t *testing.T) {
		g := NewWithT(t)
		path := conv(id) + "/" + first
		r := v.do("PUT", path, tok, text("edited"))
		g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
		g.Expect(r.str("id")).To(Equal(first))
		a := v.e.ConversationActivities(id)[0]
		g.Expect(string(a.Activity)).To(MatchJSON(`{"type":"message","text":"edited"}`))
		g.Expect(a.UpdatedAt).NotTo(BeNil())
		g.Expect(v.do("DELETE", path, tok, nil).status).To(Equal(http.StatusOK))
		g.Expect(v.e.ConversationActivities(id)[0].Deleted).To(BeTrue())
		for _, m := range []string{"DELETE", "PUT"} {
			r = v.do(m, path, tok, text("again"))
			g.Expect(r.status).To(Equal(http.StatusNotFound), m)
			g.Expect(r.str("error", "code")).To(Equal("ActivityNotFoundInConversation"))
		}
		r = v.do("PUT", conv(id)+"/1", tok, text("x"))
		g.Expect(r.str("error", "code")).To(Equal("ActivityNotFoundInConversation"))
	})

	t.Run("errors", func(t *testing.T) {
		g := NewWithT(t)
		r := v.do("POST", conv("a:1nothing"), tok, text("x"))
		g.Expect(r.status).To(Equal(http.StatusNotFound))
		g.Expect(r.str("error", "code")).To(Equal("ConversationNotFound"))
		// Another bot's conversation with the user is not this bot's.
		r = v.do("POST", conv(PersonalConversationID("92720947-b3c2-4cd9-992f-5bdec6b4f16b", DefaultUserAdeleID)), tok, text("x"))
		g.Expect(r.status).To(Equal(http.StatusNotFound))

		for name, body := range map[string]string{
			"no text":        `{"type":"message"}`,
			"no type":        `{"text":"x"}`,
			"typing":         `{"type":"event","text":"x"}`,
			"not an object":  `[1]`,
			"bad card":       `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"Nope"}}]}`,
			"bad textFormat": `{"type":"message","text":"x","textFormat":"html"}`,
		} {
			r := v.do("POST", conv(id), tok, body)
			g.Expect(r.status).To(Equal(http.StatusBadRequest), name)
			g.Expect(r.str("error", "code")).To(Equal("BadArgument"), name)
		}

		r = v.do("POST", conv(id), tok, text(strings.Repeat("x", 102400)))
		g.Expect(r.status).To(Equal(http.StatusRequestEntityTooLarge))
		g.Expect(r.str("error", "code")).To(Equal("MessageSizeTooBig"))
	})

	t.Run("message splitting", func(t *testing.T) {
		g := NewWithT(t)
		before := len(v.e.ConversationActivities(id))
		r := v.do("POST", conv(id), tok, map[string]any{"type": "message", "text": "see card", "attachments": []any{
			map[string]any{"contentType": "application/vnd.microsoft.card.adaptive",
				"content": map[string]any{"type": "AdaptiveCard", "version": "1.5", "body": []any{}}},
		}})
		g.Expect(r.status).To(Equal(http.StatusCreated))
		g.Expect(r.json).To(BeEmpty())
		all := v.e.ConversationActivities(id)
		g.Expect(all).To(HaveLen(before + 2))
		g.Expect(all[before].Split && all[before+1].Split).To(BeTrue())
		var textPart, cardPart map[string]any
		g.Expect(json.Unmarshal(all[before].Activity, &textPart)).To(Succeed())
		g.Expect(json.Unmarshal(all[before+1].Activity, &cardPart)).To(Succeed())
		g.Expect(textPart).To(And(HaveKey("text"), Not(HaveKey("attachments"))))
		g.Expect(cardPart).To(And(HaveKey("attachments"), Not(HaveKey("text"))))
	})

	t.Run("blocked and uninstalled", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(v.e.SetBlocked(DefaultUserAdeleID, DefaultBotAppID, true)).To(Succeed())
		r := v.do("POST", conv(id), tok, text("x"))
		g.Expect(r.status).To(Equal(http.StatusForbidden))
		g.Expect(r.json).To(HaveKeyWithValue("errorCode", BeEquivalentTo(209)))
		var inner map[string]any
		g.Expect(json.Unmarshal([]byte(r.str("message")), &inner)).To(Succeed())
		g.Expect(inner).To(HaveKeyWithValue("subCode", "MessageWritesBlocked"))
		g.Expect(inner).To(HaveKeyWithValue("details", "Thread is blocked from message writes."))
		g.Expect(v.e.SetBlocked(DefaultUserAdeleID, "", false)).To(Succeed())
		g.Expect(v.do("POST", conv(id), tok, text("x")).status).To(Equal(http.StatusCreated))

		g.Expect(v.e.Uninstall(ScopeUser, DefaultUserAdeleUPN, DefaultTeamsAppID)).To(Succeed())
		r = v.do("POST", conv(id), tok, text("x"))
		g.Expect(r.status).To(Equal(http.StatusForbidden))
		g.Expect(r.json).To(HaveKeyWithValue("errorCode", BeEquivalentTo(209)))
	})

	t.Run("installed through a team", func(t *testing.T) {
		g := NewWithT(t)
		v.install(ScopeTeam, DefaultTeamID)
		g.Expect(create("teams", DefaultUserAlexID).status).To(Equal(http.StatusCreated)) // a member
		r := create("teams", DefaultUserDiegoID)                                          // not a member
		g.Expect(r.status).To(Equal(http.StatusForbidden))
		g.Expect(r.str("error", "code")).To(Equal("ForbiddenOperationException"))
	})
}

func TestChannelAndGroupChat(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.botToken()
	thread := map[string]any{
		"isGroup": true, "tenantId": DefaultTenantID,
		"channelData": map[string]any{"channel": map[string]string{"id": DefaultAlertsChannelID}},
		"activity":    text("new thread"),
	}

	r := v.do("POST", "/teams/v3/conversations", tok, thread)
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.str("error", "code")).To(Equal("BotNotInConversationRoster"))
	r = v.do("POST", conv(DefaultGeneralChannelID), tok, text("x"))
	g.Expect(r.str("error", "code")).To(Equal("BotNotInConversationRoster"))
	r = v.do("POST", conv(DefaultGroupChatID), tok, text("x"))
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.str("error", "code")).To(Equal("BotNotInConversationRoster"))

	v.install(ScopeTeam, DefaultTeamID)
	r = v.do("POST", "/teams/v3/conversations", tok, thread)
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	root := r.str("activityId")
	g.Expect(r.str("id")).To(Equal(DefaultAlertsChannelID + ";messageid=" + root))

	// A send to the thread id lands in the thread; so does a reply to a message of the thread.
	r = v.do("POST", conv(r.str("id")), tok, text("follow-up"))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	followUp := r.str("id")
	r = v.do("POST", conv(DefaultAlertsChannelID)+"/"+followUp, tok, text("reply"))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))

	list := v.e.ConversationActivities(DefaultAlertsChannelID)
	g.Expect(list).To(HaveLen(3))
	for _, a := range list {
		g.Expect(a.ThreadID).To(Equal(root))
		g.Expect(a.TeamID).To(Equal(DefaultTeamID))
		g.Expect(a.ConversationType).To(Equal(ConversationChannel))
	}
	g.Expect(list[0].Operation).To(Equal("createConversation"))
	g.Expect(list[1].ReplyToID).To(Equal(root))
	g.Expect(list[2].ReplyToID).To(Equal(followUp))
	g.Expect(list[2].Operation).To(Equal("replyToActivity"))
	g.Expect(v.e.ConversationActivities(DefaultAlertsChannelID + ";messageid=" + root)).To(HaveLen(3))

	// A post to the General channel (id == the team's Bot Framework id) starts a new thread.
	r = v.do("POST", conv(DefaultGeneralChannelID), tok, text("announcement"))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	post := v.e.ConversationActivities(DefaultGeneralChannelID)
	g.Expect(post).To(HaveLen(1))
	g.Expect(post[0].ThreadID).To(Equal(post[0].ActivityID))

	r = v.do("POST", conv(DefaultAlertsChannelID+";messageid=42"), tok, text("x"))
	g.Expect(r.status).To(Equal(http.StatusNotFound))
	g.Expect(r.str("error", "code")).To(Equal("ConversationNotFound"))

	v.install(ScopeChat, DefaultGroupChatID)
	r = v.do("POST", conv(DefaultGroupChatID), tok, text("hi all"))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	g.Expect(v.e.ConversationActivities(DefaultGroupChatID)[0].ConversationType).To(Equal(ConversationGroupChat))
}

func TestDoubledSlashIsNotRedirected(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	r := v.do("POST", "/teams//v3/conversations", v.botToken(), personalParams(DefaultUserAdeleID))
	g.Expect(r.status).To(Equal(http.StatusNotFound))
	g.Expect(r.str("error", "message")).To(ContainSubstring("empty segment"))
}

// Private and shared channels take a bot only where its app was added to the channel, besides
// the team (channelAllows); Graph reports the channel's membershipType and its enabledApps.
func TestPrivateAndSharedChannels(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.botToken()
	thread := func(channelID string) map[string]any {
		return map[string]any{
			"isGroup": true, "tenantId": DefaultTenantID,
			"channelData": map[string]any{"channel": map[string]string{"id": channelID}},
			"activity":    text("new thread"),
		}
	}
	v.install(ScopeTeam, DefaultTeamID)

	gt := v.token(DefaultNotifierAppID, DefaultNotifierSecret, graphScope)
	for id, want := range map[string]string{DefaultPrivateChannelID: ChannelPrivate, DefaultSharedChannelID: ChannelShared,
		DefaultAlertsChannelID: ChannelStandard} {
		r := v.do("GET", "/v1.0/teams/"+DefaultTeamID+"/channels/"+url.PathEscape(id), gt, nil)
		g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
		g.Expect(r.str("membershipType")).To(Equal(want))
	}
	apps := func(channelID, token string) *resp {
		return v.do("GET", "/v1.0/teams/"+DefaultTeamID+"/channels/"+url.PathEscape(channelID)+"/enabledApps", token, nil)
	}
	r := apps(DefaultSharedChannelID, gt)
	g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
	g.Expect(r.list("value")).To(ConsistOf(HaveKeyWithValue("id", DefaultTeamsAppID)))
	g.Expect(apps(DefaultPrivateChannelID, gt).list("value")).To(BeEmpty())
	// The "Self" permissions are not in the list call's permissions table.
	g.Expect(apps(DefaultSharedChannelID, v.graphToken()).status).To(Equal(http.StatusForbidden))

	r = v.do("POST", "/teams/v3/conversations", tok, thread(DefaultSharedChannelID))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	r = v.do("POST", "/teams/v3/conversations", tok, thread(DefaultPrivateChannelID))
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.str("error", "code")).To(Equal("BotNotInConversationRoster"))
	g.Expect(v.do("POST", conv(DefaultPrivateChannelID), tok, text("x")).status).To(Equal(http.StatusForbidden))

	g.Expect(v.e.EnableAppInChannel(DefaultPrivateChannelID, DefaultTeamsAppID, true)).To(Succeed())
	g.Expect(apps(DefaultPrivateChannelID, gt).list("value")).To(HaveLen(1))
	r = v.do("POST", "/teams/v3/conversations", tok, thread(DefaultPrivateChannelID))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	g.Expect(v.e.EnableAppInChannel(DefaultAlertsChannelID, DefaultTeamsAppID, true)).To(MatchError(ContainSubstring("standard")))

	// Without the app in the team, being added to the channel is not enough.
	g.Expect(v.e.Uninstall(ScopeTeam, DefaultTeamID, DefaultTeamsAppID)).To(Succeed())
	g.Expect(v.do("POST", "/teams/v3/conversations", tok, thread(DefaultSharedChannelID)).status).To(Equal(http.StatusForbidden))
}
