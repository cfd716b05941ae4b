package botframework

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// The emulator suite runs the real client over TLS against internal/emulator:
// every success path of the Connector the operator uses and every error class
// of the Teams status table (reference 3.6).

const (
	botScope   = "https://api.botframework.com/.default"
	graphScope = "https://graph.microsoft.com/.default"
	bot        = emulator.DefaultBotAppID
)

type emuEnv struct {
	t          *testing.T
	emu        *emulator.Emulator
	srv        *emulator.Server
	hc         *http.Client
	serviceURL string
	policy     *ServiceURLPolicy
	client     *Client
}

func (e *emuEnv) tokens(clientID, secret, scope string) emulator.TokenSource {
	return emulator.TokenSource{
		HTTPClient: e.hc,
		TokenURL:   e.srv.URL + "/" + emulator.DefaultTenantID + "/oauth2/v2.0/token",
		ClientID:   clientID, Secret: secret, Scope: scope,
	}
}

// newClient builds a Connector client for the emulator; change adjusts options.
func (e *emuEnv) newClient(change func(*Options)) *Client {
	e.t.Helper()
	o := Options{
		HTTPClient: e.hc,
		Tokens:     e.tokens(bot, emulator.DefaultBotSecret, botScope),
		AppID:      bot,
		TenantID:   emulator.DefaultTenantID,
		Policy:     e.policy,
	}
	if change != nil {
		change(&o)
	}
	c, err := New(o)
	if err != nil {
		e.t.Fatalf("creating client: %v", err)
	}
	return c
}

// botRequests returns the Connector entries of the emulator's journal.
func (e *emuEnv) botRequests() []emulator.JournalEntry {
	var out []emulator.JournalEntry
	for _, j := range e.emu.Requests() {
		if j.API == "botframework" {
			out = append(out, j)
		}
	}
	return out
}

// activity returns the stored activity with this id.
func (e *emuEnv) activity(g Gomega, id string) emulator.StoredActivity {
	for _, a := range e.emu.Activities() {
		if a.ActivityID == id {
			return a
		}
	}
	g.Expect(id).To(BeEmpty(), "activity %s is not in the emulator", id)
	return emulator.StoredActivity{}
}

// startEmulator starts an emulator with the default seed over TLS, with the
// bot app installed in the team, the group chat and for Adele. The HTTP
// client's idle connections are closed before the server, or the HTTP/2
// server's graceful shutdown waits a second for them.
func startEmulator(t *testing.T, opts emulator.Options) *emuEnv {
	t.Helper()
	emu, err := emulator.New(emulator.DefaultSeed(), opts)
	if err != nil {
		t.Fatalf("creating emulator: %v", err)
	}
	srv, err := emu.StartTLS("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatalf("starting emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	hc := srv.Client()
	t.Cleanup(hc.CloseIdleConnections)
	u, _ := url.Parse(srv.URL)
	env := &emuEnv{
		t: t, emu: emu, srv: srv, hc: hc,
		serviceURL: srv.URL + "/teams/",
		policy:     NewServiceURLPolicy([]string{"smba.trafficmanager.net", u.Host}),
	}
	for _, in := range []struct {
		scope emulator.Scope
		id    string
	}{
		{emulator.ScopeTeam, emulator.DefaultTeamID},
		{emulator.ScopeChat, emulator.DefaultGroupChatID},
		{emulator.ScopeUser, emulator.DefaultUserAdeleID},
	} {
		if _, err := emu.Install(in.scope, in.id, emulator.DefaultTeamsAppID); err != nil {
			t.Fatalf("installing the app: %v", err)
		}
	}
	env.client = env.newClient(nil)
	return env
}

func oneToOne(member string) ConversationParameters {
	return ConversationParameters{
		Bot:         &ChannelAccount{ID: "28:" + bot},
		Members:     []ChannelAccount{{ID: member}},
		TenantID:    emulator.DefaultTenantID,
		ChannelData: &ChannelData{Tenant: &TenantInfo{ID: emulator.DefaultTenantID}},
	}
}

func channelThread(channelID, text string) ConversationParameters {
	return ConversationParameters{
		IsGroup:     true,
		ChannelData: &ChannelData{Channel: &ChannelInfo{ID: channelID}, Tenant: &TenantInfo{ID: emulator.DefaultTenantID}},
		Activity:    &Activity{Text: text},
	}
}

func TestEmulatorPersonalConversation(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()
	want := emulator.PersonalConversationID(bot, emulator.DefaultUserAdeleID)

	byObjectID, err := env.client.CreateConversation(ctx, env.serviceURL, oneToOne(emulator.DefaultUserAdeleID))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byObjectID.ID).To(Equal(want))
	byPairwise, err := env.client.CreateConversation(ctx, env.serviceURL, oneToOne(emulator.BotUserID(bot, emulator.DefaultUserAdeleID)))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byPairwise.ID).To(Equal(want), "creating again returns the same conversation")

	id, err := env.client.SendActivity(ctx, env.serviceURL, byObjectID.ID, &Activity{
		Text: "Deploy **done**", TextFormat: TextFormatMarkdown, Summary: "Deploy done",
		ChannelData: &ChannelData{Notification: &NotificationInfo{Alert: true}},
	})
	g.Expect(err).NotTo(HaveOccurred())
	stored := env.activity(g, id)
	g.Expect(stored.ConversationID).To(Equal(want))
	g.Expect(stored.UserID).To(Equal(emulator.DefaultUserAdeleID))
	g.Expect(stored.Activity).To(MatchJSON(`{"type":"message","text":"Deploy **done**","textFormat":"markdown",` +
		`"summary":"Deploy done","channelData":{"notification":{"alert":true}}}`))

	// The Graph chat id of the same chat works as a conversation id too.
	chatID := emulator.PersonalChatID(bot, emulator.DefaultUserAdeleID)
	id2, err := env.client.SendActivity(ctx, env.serviceURL, chatID, &Activity{Text: "via the Graph chat id"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.activity(g, id2).ConversationID).To(Equal(want))

	// Update, then delete.
	updated, err := env.client.UpdateActivity(ctx, env.serviceURL, want, id, &Activity{Text: "Deploy rolled back"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(updated).To(Equal(id))
	stored = env.activity(g, id)
	g.Expect(stored.UpdatedAt).NotTo(BeNil())
	g.Expect(stored.Activity).To(MatchJSON(`{"type":"message","id":"` + id + `","text":"Deploy rolled back"}`))
	g.Expect(env.client.DeleteActivity(ctx, env.serviceURL, want, id)).To(Succeed())
	g.Expect(env.activity(g, id).Deleted).To(BeTrue())
}

func TestEmulatorChannelThread(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()

	res, err := env.client.CreateConversation(ctx, env.serviceURL, channelThread(emulator.DefaultAlertsChannelID, "Incident opened"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.ActivityID).NotTo(BeEmpty())
	g.Expect(res.ID).To(Equal(emulator.DefaultAlertsChannelID + ";messageid=" + res.ActivityID))
	root := env.activity(g, res.ActivityID)
	g.Expect(root.ChannelID).To(Equal(emulator.DefaultAlertsChannelID))
	g.Expect(root.Operation).To(Equal("createConversation"))

	// A send to the thread's id (';' and '=' escaped in the path) lands in the thread.
	inThread, err := env.client.SendActivity(ctx, env.serviceURL, res.ID, &Activity{Text: "Update 1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.activity(g, inThread).ThreadID).To(Equal(res.ActivityID))

	// So does a reply to the root.
	reply, err := env.client.ReplyToActivity(ctx, env.serviceURL, emulator.DefaultAlertsChannelID, res.ActivityID, &Activity{Text: "Update 2"})
	g.Expect(err).NotTo(HaveOccurred())
	stored := env.activity(g, reply)
	g.Expect(stored.ThreadID).To(Equal(res.ActivityID))
	g.Expect(stored.ReplyToID).To(Equal(res.ActivityID))
	g.Expect(stored.Operation).To(Equal("replyToActivity"))

	// The General channel's id is the team's thread id.
	general, err := env.client.CreateConversation(ctx, env.serviceURL, channelThread(emulator.DefaultGeneralChannelID, "Hello team"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(general.ID).To(HavePrefix(emulator.DefaultGeneralChannelID + ";messageid="))
}

func TestEmulatorGroupChatWithCardAndMention(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()

	id, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{
		Attachments: []Attachment{{ContentType: ContentTypeAdaptiveCard, Content: card}},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.activity(g, id).ConversationType).To(Equal("groupChat"))

	mention := &Activity{
		Text:     "Paging <at>Megan</at>",
		Entities: []Entity{{Type: EntityTypeMention, Text: "<at>Megan</at>", Mentioned: &ChannelAccount{ID: emulator.BotUserID(bot, emulator.DefaultUserMeganID), Name: "Megan"}}},
	}
	id, err = env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, mention)
	g.Expect(err).NotTo(HaveOccurred())
	var got Activity
	g.Expect(json.Unmarshal(env.activity(g, id).Activity, &got)).To(Succeed())
	g.Expect(got.Entities).To(Equal(mention.Entities))
}

// TestEmulatorMessageSplitting: text and a card in one activity are stored as
// two messages and the answer has no id.
func TestEmulatorMessageSplitting(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})

	id, err := env.client.SendActivity(context.Background(), env.serviceURL, emulator.DefaultGroupChatID, &Activity{
		Text: "see card", Attachments: []Attachment{{ContentType: ContentTypeAdaptiveCard, Content: card}},
	})

	g.Expect(id).To(BeEmpty())
	g.Expect(err).To(MatchError(ErrNoActivityID))
	g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonNoActivityID))
	split := 0
	for _, a := range env.emu.Activities() {
		if a.Split {
			split++
		}
	}
	g.Expect(split).To(Equal(2), "delivered, as two messages")
}

// TestEmulatorErrors produces each error of the Teams status table with the
// emulator's own rules.
func TestEmulatorErrors(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		setup  func(g Gomega, env *emuEnv)
		call   func(env *emuEnv) error
		status int
		code   string
		reason string
	}{
		"400 BadArgument (UPN as a member)": {
			call: func(env *emuEnv) error {
				_, err := env.client.CreateConversation(ctx, env.serviceURL, oneToOne(emulator.DefaultUserAdeleUPN))
				return err
			},
			status: 400, code: "BadArgument", reason: msapi.ReasonBadArgument,
		},
		"400 BadArgument (bad text format)": {
			call: func(env *emuEnv) error {
				_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x", TextFormat: "html"})
				return err
			},
			status: 400, code: "BadArgument", reason: msapi.ReasonBadArgument,
		},
		"403 BotNotInConversationRoster": {
			setup: func(g Gomega, env *emuEnv) {
				g.Expect(env.emu.Uninstall(emulator.ScopeChat, emulator.DefaultGroupChatID, emulator.DefaultTeamsAppID)).To(Succeed())
			},
			call: func(env *emuEnv) error {
				_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})
				return err
			},
			status: 403, code: "BotNotInConversationRoster", reason: msapi.ReasonBotNotInRoster,
		},
		"403 ForbiddenOperationException (not installed for the user)": {
			call: func(env *emuEnv) error {
				_, err := env.client.CreateConversation(ctx, env.serviceURL, oneToOne(emulator.DefaultUserDiegoID))
				return err
			},
			status: 403, code: "ForbiddenOperationException", reason: msapi.ReasonBotNotInstalledForUser,
		},
		"403 errorCode 209 (blocked by the user)": {
			setup: func(g Gomega, env *emuEnv) {
				g.Expect(env.emu.SetBlocked(emulator.DefaultUserAdeleID, bot, true)).To(Succeed())
			},
			call: func(env *emuEnv) error {
				_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.PersonalConversationID(bot, emulator.DefaultUserAdeleID), &Activity{Text: "x"})
				return err
			},
			status: 403, code: "MessageWritesBlocked", reason: msapi.ReasonBlockedByUser,
		},
		"404 ConversationNotFound": {
			call: func(env *emuEnv) error {
				_, err := env.client.SendActivity(ctx, env.serviceURL, "19:doesnotexist@thread.tacv2", &Activity{Text: "x"})
				return err
			},
			status: 404, code: "ConversationNotFound", reason: msapi.ReasonConversationNotFound,
		},
		"404 ActivityNotFoundInConversation": {
			call: func(env *emuEnv) error {
				return env.client.DeleteActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, "1700000000000")
			},
			status: 404, code: "ActivityNotFoundInConversation", reason: msapi.ReasonActivityNotFound,
		},
		"413 MessageSizeTooBig": {
			call: func(env *emuEnv) error {
				_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: strings.Repeat("x", 110*1024)})
				return err
			},
			status: 413, code: "MessageSizeTooBig", reason: msapi.ReasonMessageTooLarge,
		},
		"401 Unauthorized (Graph token)": {
			call: func(env *emuEnv) error {
				c := env.newClient(func(o *Options) { o.Tokens = env.tokens(bot, emulator.DefaultBotSecret, graphScope) })
				_, err := c.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})
				return err
			},
			status: 401, code: "Unauthorized", reason: msapi.ReasonUnauthorized,
		},
		"401 BotNotRegistered": {
			setup: func(g Gomega, env *emuEnv) { g.Expect(env.emu.MergeSeed(otherApp(false))).To(Succeed()) },
			call: func(env *emuEnv) error {
				c := env.newClient(func(o *Options) { o.Tokens = env.tokens(otherAppID, otherAppSecret, botScope) })
				_, err := c.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})
				return err
			},
			status: 401, code: "BotNotRegistered", reason: msapi.ReasonBotNotRegistered,
		},
		"403 NotEnoughPermissions (another bot's message)": {
			setup: func(g Gomega, env *emuEnv) { g.Expect(env.emu.MergeSeed(otherApp(true))).To(Succeed()) },
			call: func(env *emuEnv) error {
				id, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "mine"})
				if err != nil {
					return err
				}
				c := env.newClient(func(o *Options) { o.Tokens = env.tokens(otherAppID, otherAppSecret, botScope) })
				_, err = c.UpdateActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, id, &Activity{Text: "theirs"})
				return err
			},
			status: 403, code: "NotEnoughPermissions", reason: msapi.ReasonNotEnoughPermissions,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			env := startEmulator(t, emulator.Options{})
			if tc.setup != nil {
				tc.setup(g, env)
			}

			err := tc.call(env)

			apiErr, ok := msapi.AsAPIError(err)
			g.Expect(ok).To(BeTrue(), "error %v", err)
			g.Expect(apiErr.API).To(Equal("botframework"))
			g.Expect(apiErr.Status).To(Equal(tc.status))
			g.Expect(apiErr.Code).To(Equal(tc.code))
			g.Expect(apiErr.RequestID).NotTo(BeEmpty(), "X-Correlating-OperationId is kept for logs")
			g.Expect(err.Error()).NotTo(ContainSubstring(apiErr.RequestID))
			g.Expect(msapi.Classify(err)).To(Equal(msapi.Classification{Reason: tc.reason, Terminal: true}))
		})
	}
}

const (
	otherAppID     = "7d3c9a51-53b4-4a3f-9f55-2d6c1d0f0a11"
	otherAppSecret = "other-app-secret-not-a-real-secret"
)

// otherApp is a second app registration in the default tenant; isBot makes it
// a registered bot.
func otherApp(isBot bool) *emulator.Seed {
	return &emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID:   emulator.DefaultTenantID,
		Apps: []emulator.AppSeed{{ClientID: otherAppID, DisplayName: "Other", Bot: isBot, Secrets: []string{otherAppSecret}}},
	}}}
}

// TestEmulatorRealThrottling: with a frozen clock, the eighth send into one
// conversation in the same instant breaks 7/1 s and gets the emulator's 429.
func TestEmulatorRealThrottling(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	frozen := time.Now()
	env := startEmulator(t, emulator.Options{Clock: func() time.Time { return frozen }})
	ctx := context.Background()

	for i := range 7 {
		_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: fmt.Sprint(i)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	_, err := env.client.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "one too many"})

	apiErr, ok := msapi.AsAPIError(err)
	g.Expect(ok).To(BeTrue(), "error %v", err)
	g.Expect(apiErr.Status).To(Equal(429))
	g.Expect(apiErr.Code).To(Equal("Throttled"))
	g.Expect(apiErr.HasRetryAfter).To(BeTrue())
	c := msapi.Classify(err)
	g.Expect(c.Reason).To(Equal(msapi.ReasonThrottled))
	g.Expect(c.Retry).To(BeTrue())
	g.Expect(c.After).To(BeNumerically(">", 0))
	g.Expect(c.After).To(BeNumerically("<=", time.Second))
}

// TestEmulatorLimitersPreventThrottling: the same burst through the real
// client-side limiters is spread out and never sees a 429, even when a request
// reaches Teams late (here the first one by 300 ms, as a new connection's
// handshake or a stalled process would make it): Teams counts arrivals, and the
// limiters count each request until its answer. Counting send times alone, the
// 8th request left 1.05 s after the first and arrived within 1 s of it.
func TestEmulatorLimitersPreventThrottling(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	c := env.newClient(func(o *Options) {
		o.AppLimiter = ratelimit.NewAppLimiter(48)
		o.ConversationLimiter = ratelimit.NewConversationLimiter()
	})
	ctx := context.Background()
	const n = 10 // past both the 7/1 s and the 8/2 s windows

	// A quick request first (another conversation), so that the limiters know
	// the shortest round trip, then the slow one.
	_, err := c.SendActivity(ctx, env.serviceURL, emulator.DefaultGeneralChannelID, &Activity{Text: "warm"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.emu.AddFault(emulator.Fault{
		API: "botframework", Operation: "sendActivity", Latency: 300 * time.Millisecond, Count: 1,
	})).NotTo(BeEmpty())
	for i := range n {
		_, err := c.SendActivity(ctx, env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: fmt.Sprint(i)})
		g.Expect(err).NotTo(HaveOccurred())
	}

	g.Expect(env.emu.ConversationActivities(emulator.DefaultGroupChatID)).To(HaveLen(n))
	for _, j := range env.botRequests() {
		g.Expect(j.Status).NotTo(Equal(429))
	}
}

// TestEmulatorFaults covers the statuses the emulator only produces on request.
func TestEmulatorFaults(t *testing.T) {
	tests := map[string]struct {
		fault     emulator.Fault
		code      string
		reason    string
		retry     bool
		after     time.Duration
		tolerance time.Duration
	}{
		"429 seconds":            {fault: emulator.Fault{Status: 429, RetryAfter: "2"}, reason: msapi.ReasonThrottled, retry: true, after: 2 * time.Second},
		"429 fractional":         {fault: emulator.Fault{Status: 429, RetryAfter: "1.5"}, reason: msapi.ReasonThrottled, retry: true, after: 1500 * time.Millisecond},
		"429 HTTP date":          {fault: emulator.Fault{Status: 429, RetryAfter: "DATE+30s"}, reason: msapi.ReasonThrottled, retry: true, after: 30 * time.Second, tolerance: 2 * time.Second},
		"412":                    {fault: emulator.Fault{Status: 412, Code: "PreconditionFailed"}, code: "PreconditionFailed", reason: msapi.ReasonPreconditionFailed, retry: true},
		"500":                    {fault: emulator.Fault{Status: 500, Code: "ServiceError", Message: "Unknown"}, code: "ServiceError", reason: msapi.ReasonServiceError},
		"502":                    {fault: emulator.Fault{Status: 502, Code: "ServiceError"}, code: "ServiceError", reason: msapi.ReasonBadGateway, retry: true},
		"503":                    {fault: emulator.Fault{Status: 503}, reason: msapi.ReasonServiceUnavailable, retry: true},
		"504":                    {fault: emulator.Fault{Status: 504}, reason: msapi.ReasonGatewayTimeout, retry: true},
		"403 BotDisabledByAdmin": {fault: emulator.Fault{Status: 403, Code: "BotDisabledByAdmin"}, code: "BotDisabledByAdmin", reason: msapi.ReasonBotDisabledByAdmin},
		"403 InvalidBotApiHost":  {fault: emulator.Fault{Status: 403, Code: "InvalidBotApiHost"}, code: "InvalidBotApiHost", reason: msapi.ReasonInvalidBotAPIHost},
		"403 ConversationBlockedByUser": {
			fault: emulator.Fault{Status: 403, Code: "ConversationBlockedByUser"}, code: "ConversationBlockedByUser", reason: msapi.ReasonBlockedByUser,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			env := startEmulator(t, emulator.Options{})
			f := tc.fault
			f.API, f.Operation, f.Count = "botframework", "sendActivity", 1
			if f.RetryAfter == "DATE+30s" {
				f.RetryAfter = time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
			}
			g.Expect(env.emu.AddFault(f)).NotTo(BeEmpty())

			_, err := env.client.SendActivity(context.Background(), env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})

			g.Expect(msapi.StatusOf(err)).To(Equal(tc.fault.Status), "error %v", err)
			if tc.code != "" {
				apiErr, _ := msapi.AsAPIError(err)
				g.Expect(apiErr.Code).To(Equal(tc.code))
			}
			c := msapi.Classify(err)
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Retry).To(Equal(tc.retry))
			g.Expect(c.Terminal).To(Equal(!tc.retry))
			g.Expect(c.After).To(BeNumerically("~", tc.after, tc.tolerance))
			g.Expect(env.botRequests()).To(HaveLen(1), "the client never retries a send")
			g.Expect(env.emu.ConversationActivities(emulator.DefaultGroupChatID)).To(BeEmpty())
		})
	}
}

// TestEmulatorAcceptedThenDropped: Teams stores the message and the connection
// drops. The client reports an unknown outcome and does not send again.
func TestEmulatorAcceptedThenDropped(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	g.Expect(env.emu.AddFault(emulator.Fault{API: "botframework", Operation: "sendActivity", Action: emulator.FaultAcceptThenDrop, Count: 1})).NotTo(BeEmpty())

	_, err := env.client.SendActivity(context.Background(), env.serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})

	g.Expect(msapi.IsOutcomeUnknown(err)).To(BeTrue(), "error %v", err)
	g.Expect(msapi.Classify(err)).To(Equal(msapi.Classification{Reason: msapi.ReasonOutcomeUnknown}))
	g.Expect(env.emu.ConversationActivities(emulator.DefaultGroupChatID)).To(HaveLen(1), "delivered once")
	g.Expect(env.botRequests()).To(HaveLen(1))
}

// TestEmulatorPolicyRefusesOtherNamesOfTheSameServer: localhost and [::1] reach
// the same emulator, but only the configured host:port may get a token.
func TestEmulatorPolicyRefusesOtherNamesOfTheSameServer(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	u, _ := url.Parse(env.srv.URL)
	port := u.Port()
	for _, serviceURL := range []string{
		"https://localhost:" + port + "/teams/",
		"https://[::1]:" + port + "/teams/",
		"http://" + u.Host + "/teams/",
		"https://" + u.Host + "@evil.example/teams/",
	} {
		_, err := env.client.SendActivity(context.Background(), serviceURL, emulator.DefaultGroupChatID, &Activity{Text: "x"})
		g.Expect(err).To(MatchError(ErrServiceURLRefused), serviceURL)
	}
	g.Expect(env.emu.Requests()).To(BeEmpty(), "not even a token request")
}

// TestEmulatorOperationLabels: the client's operation names match the
// emulator's journal.
func TestEmulatorOperationLabels(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()
	hc := transport.New(transport.Options{ExtraRootCAs: env.srv.RootCAs, MaxRetries: -1})
	c := env.newClient(func(o *Options) { o.HTTPClient = hc; o.Tokens = env.tokens(bot, emulator.DefaultBotSecret, botScope) })

	res, err := c.CreateConversation(ctx, env.serviceURL, channelThread(emulator.DefaultAlertsChannelID, "root"))
	g.Expect(err).NotTo(HaveOccurred())
	id, err := c.SendActivity(ctx, env.serviceURL, res.ID, &Activity{Text: "a"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.ReplyToActivity(ctx, env.serviceURL, emulator.DefaultAlertsChannelID, res.ActivityID, &Activity{Text: "b"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.UpdateActivity(ctx, env.serviceURL, res.ID, id, &Activity{Text: "a2"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.DeleteActivity(ctx, env.serviceURL, res.ID, id)).To(Succeed())

	var ops []string
	for _, j := range env.botRequests() {
		ops = append(ops, j.Operation)
	}
	g.Expect(ops).To(Equal([]string{"createConversation", "sendActivity", "replyToActivity", "updateActivity", "deleteActivity"}))
}

// TestEmulatorTwoClustersOneBot: two managers (two clusters) share one bot, each with its
// own app limiter at the default 48 per second. Together they exceed Teams' 50, Teams
// answers 429, and each limiter, which sent fewer than 50 itself, warns that another sender
// uses the bot (docs/performance.md "Several clusters, one bot").
func TestEmulatorTwoClustersOneBot(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	var users []emulator.UserSeed
	var chats []string
	for i := range 40 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", 500+i)
		users = append(users, emulator.UserSeed{ID: id, UserPrincipalName: fmt.Sprintf("two-%d@%s", i, emulator.DefaultTenantDomain),
			InstalledApps: []string{emulator.DefaultTeamsAppID}})
		chats = append(chats, emulator.PersonalChatID(emulator.DefaultBotAppID, id))
	}
	g.Expect(env.emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{ID: emulator.DefaultTenantID, Users: users}}})).To(Succeed())

	var mu sync.Mutex
	var warnings []string
	ctx := ctrl.LoggerInto(context.Background(), funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, args)
	}, funcr.Options{}))
	var wg sync.WaitGroup
	for range 2 {
		c := env.newClient(func(o *Options) { o.AppLimiter = ratelimit.NewAppLimiter(48) })
		wg.Go(func() {
			for i := range 80 {
				// Errors are expected: the 429s.
				_, _ = c.SendActivity(ctx, env.serviceURL, chats[i%len(chats)], &Activity{Text: fmt.Sprint(i)})
			}
		})
	}
	wg.Wait()

	throttled := 0
	for _, j := range env.botRequests() {
		if j.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	g.Expect(throttled).To(BeNumerically(">", 0), "two senders at 48 per second exceed Teams' 50")
	mu.Lock()
	defer mu.Unlock()
	g.Expect(warnings).NotTo(BeEmpty())
	g.Expect(len(warnings)).To(BeNumerically("<=", 2), "at most one warning a minute per limiter")
	g.Expect(warnings[0]).To(ContainSubstring("another cluster's manager or another program is using the same bot"))
}
