package botframework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/transport"
)

var card = json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"hi"}]}`)

// TestRequests checks, for every method, the request on the wire and the answer.
func TestRequests(t *testing.T) {
	const channelThread = "19:abc@thread.tacv2;messageid=1700000000000"
	tests := map[string]struct {
		respond http.HandlerFunc
		call    func(c *Client, serviceURL string) (any, error)
		want    any
		method  string
		uri     string // after the service URL's /teams
		body    string
		op      string
		limits  []string // limiter calls, in order
	}{
		"create 1:1": {
			respond: reply(201, `{"id":"a:1qhNLq"}`),
			call: func(c *Client, u string) (any, error) {
				return c.CreateConversation(context.Background(), u, ConversationParameters{
					Bot:         &ChannelAccount{ID: "28:bot-app"},
					Members:     []ChannelAccount{{ID: "29:user"}},
					TenantID:    "tenant-1",
					ChannelData: &ChannelData{Tenant: &TenantInfo{ID: "tenant-1"}},
				})
			},
			want:   ConversationResource{ID: "a:1qhNLq"},
			method: "POST",
			uri:    "/v3/conversations",
			body:   `{"isGroup":false,"bot":{"id":"28:bot-app"},"members":[{"id":"29:user"}],"tenantId":"tenant-1","channelData":{"tenant":{"id":"tenant-1"}}}`,
			op:     "createConversation",
			limits: []string{"conv-limiter bot-app/29:user", "app-limiter bot-app/tenant-1"},
		},
		"create channel thread": {
			respond: reply(201, `{"id":"`+channelThread+`","activityId":"1700000000000"}`),
			call: func(c *Client, u string) (any, error) {
				return c.CreateConversation(context.Background(), u, ConversationParameters{
					IsGroup:     true,
					ChannelData: &ChannelData{Channel: &ChannelInfo{ID: "19:abc@thread.tacv2"}, Notification: &NotificationInfo{Alert: true}},
					Activity:    &Activity{Text: "root post", TextFormat: TextFormatMarkdown},
				})
			},
			want:   ConversationResource{ID: channelThread, ActivityID: "1700000000000"},
			method: "POST",
			uri:    "/v3/conversations",
			body: `{"isGroup":true,"activity":{"type":"message","text":"root post","textFormat":"markdown"},` +
				`"channelData":{"channel":{"id":"19:abc@thread.tacv2"},"notification":{"alert":true}}}`,
			op:     "createConversation",
			limits: []string{"conv-limiter bot-app/19:abc@thread.tacv2", "app-limiter bot-app/tenant-1"},
		},
		"send text with a mention and an alert": {
			respond: reply(200, `{"id":"1700000000001"}`),
			call: func(c *Client, u string) (any, error) {
				return c.SendActivity(context.Background(), u, "a:1qhNLq", &Activity{
					Text:        "Hello <at>Ada</at>",
					Summary:     "Deploy finished",
					Entities:    []Entity{{Type: EntityTypeMention, Text: "<at>Ada</at>", Mentioned: &ChannelAccount{ID: "29:ada", Name: "Ada"}}},
					ChannelData: &ChannelData{Notification: &NotificationInfo{Alert: true}},
				})
			},
			want:   "1700000000001",
			method: "POST",
			uri:    "/v3/conversations/a%3A1qhNLq/activities",
			body: `{"type":"message","text":"Hello <at>Ada</at>","summary":"Deploy finished",` +
				`"entities":[{"type":"mention","text":"<at>Ada</at>","mentioned":{"id":"29:ada","name":"Ada"}}],` +
				`"channelData":{"notification":{"alert":true}}}`,
			op:     "sendActivity",
			limits: []string{"conv-limiter bot-app/a:1qhNLq", "app-limiter bot-app/tenant-1"},
		},
		"send a card into a channel thread": {
			respond: reply(201, `{"id":"1700000000002"}`),
			call: func(c *Client, u string) (any, error) {
				return c.SendActivity(context.Background(), u, channelThread, &Activity{
					Type:        ActivityTypeMessage,
					Attachments: []Attachment{{ContentType: ContentTypeAdaptiveCard, Content: card}},
				})
			},
			want:   "1700000000002",
			method: "POST",
			uri:    "/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000000/activities",
			body:   `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":` + string(card) + `}]}`,
			op:     "sendActivity",
			limits: []string{"conv-limiter bot-app/19:abc@thread.tacv2", "app-limiter bot-app/tenant-1"},
		},
		"reply": {
			respond: reply(200, `{"id":"1700000000003"}`),
			call: func(c *Client, u string) (any, error) {
				return c.ReplyToActivity(context.Background(), u, "19:abc@thread.tacv2", "1700000000000", &Activity{Text: "in thread"})
			},
			want:   "1700000000003",
			method: "POST",
			uri:    "/v3/conversations/19%3Aabc%40thread.tacv2/activities/1700000000000",
			body:   `{"type":"message","text":"in thread","replyToId":"1700000000000"}`,
			op:     "replyToActivity",
			limits: []string{"conv-limiter bot-app/19:abc@thread.tacv2", "app-limiter bot-app/tenant-1"},
		},
		"update": {
			respond: reply(200, `{"id":"1700000000001"}`),
			call: func(c *Client, u string) (any, error) {
				return c.UpdateActivity(context.Background(), u, "a:1", "1700000000001", &Activity{Text: "edited", Importance: "high"})
			},
			want:   "1700000000001",
			method: "PUT",
			uri:    "/v3/conversations/a%3A1/activities/1700000000001",
			body:   `{"type":"message","id":"1700000000001","text":"edited","importance":"high"}`,
			op:     "updateActivity",
			limits: []string{"app-limiter bot-app/tenant-1"},
		},
		"update without an id in the answer keeps the id": {
			respond: reply(200, ""),
			call: func(c *Client, u string) (any, error) {
				return c.UpdateActivity(context.Background(), u, "a:1", "17", &Activity{Text: "edited"})
			},
			want:   "17",
			method: "PUT",
			uri:    "/v3/conversations/a%3A1/activities/17",
			body:   `{"type":"message","id":"17","text":"edited"}`,
			op:     "updateActivity",
			limits: []string{"app-limiter bot-app/tenant-1"},
		},
		"delete": {
			respond: reply(200, ""),
			call: func(c *Client, u string) (any, error) {
				return nil, c.DeleteActivity(context.Background(), u, "a:1", "1700000000001")
			},
			method: "DELETE",
			uri:    "/v3/conversations/a%3A1/activities/1700000000001",
			op:     "deleteActivity",
			limits: []string{"app-limiter bot-app/tenant-1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, tc.respond)

			got, err := tc.call(f.client, f.server.serviceURL())

			g.Expect(err).NotTo(HaveOccurred())
			if tc.want != nil {
				g.Expect(got).To(Equal(tc.want))
			}
			reqs := f.server.requests()
			g.Expect(reqs).To(HaveLen(1))
			r := reqs[0]
			g.Expect(r.Method).To(Equal(tc.method))
			g.Expect(r.RequestURI).To(Equal("/teams" + tc.uri))
			g.Expect(r.Authorization).To(Equal("Bearer " + testToken))
			g.Expect(f.operations()).To(Equal([]transport.Operation{{API: "botframework", Name: tc.op}}))
			want := append(append([]string{"token"}, tc.limits...), "send "+f.server.hostPort())
			g.Expect(f.j.list()).To(Equal(want), "policy, token, limiters, then the request")
			if tc.body == "" {
				g.Expect(r.Body).To(BeEmpty())
				return
			}
			g.Expect(r.ContentType).To(Equal("application/json; charset=utf-8"))
			g.Expect(r.Body).To(MatchJSON(tc.body))
		})
	}
}

// TestConversationIDEscaping sends ids with the characters Teams ids carry
// (: @ ; =) and hostile ones (/ ? # % ..), and checks each stays one segment
// and arrives intact.
func TestConversationIDEscaping(t *testing.T) {
	ids := map[string]string{
		"personal":        "a:1qhNLqpUtmuI6U35gzjsJn7uRnCkW8NiZALHfN8AMxdbprS1uta2aT-jytfIlsZR3UZeg3TsIONNInBHsdjzj3PtfHuhkxxvS1jZZ61UAbw8fIdXcNSJyTJm7YvHFOgxo",
		"graph chat id":   "19:0de69e5e-0000-0000-0000-000000000000_f32b83bb-0000-0000-0000-000000000000@unq.gbl.spaces",
		"channel thread":  "19:abc@thread.tacv2;messageid=1700000000000",
		"slash":           "a/../../admin",
		"question mark":   "a?x=1",
		"hash":            "a#b",
		"percent":         "a%2Fb",
		"space and plus":  "a b+c",
		"unicode":         "19:日本@thread.v2",
		"dot segment-ish": "...",
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, reply(200, `{"id":"1"}`))

			_, err := f.client.ReplyToActivity(context.Background(), f.server.serviceURL(), id, id, &Activity{Text: "x"})

			g.Expect(err).NotTo(HaveOccurred())
			r := f.server.requests()[0]
			g.Expect(r.Path).To(Equal("/teams/v3/conversations/" + id + "/activities/" + id))
			g.Expect(strings.Count(r.RequestURI, "/")).To(Equal(6), "each id is one segment: %s", r.RequestURI)
			g.Expect(r.RequestURI).NotTo(ContainAny("?#;:@="))
		})
	}
}

func ContainAny(chars string) OmegaMatcher {
	return WithTransform(func(s string) bool { return strings.ContainsAny(s, chars) }, BeTrue())
}

// TestPathEscapeFacts pins what the brief asked to verify: url.PathEscape
// leaves ':', '@' and '=' alone but escapes ';' (and '/', '?'), while segment
// escapes all of them, as the Bot Framework SDKs do.
func TestPathEscapeFacts(t *testing.T) {
	g := NewWithT(t)
	const id = "19:x@thread.tacv2;messageid=1/2?3"
	g.Expect(url.PathEscape(id)).To(Equal("19:x@thread.tacv2%3Bmessageid=1%2F2%3F3"))
	got, err := segment("id", id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal("19%3Ax%40thread.tacv2%3Bmessageid%3D1%2F2%3F3"))
	back, err := url.PathUnescape(got)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back).To(Equal(id))
}

func TestSegment(t *testing.T) {
	tests := map[string]struct {
		id, want string
		invalid  bool
	}{
		"unreserved":    {id: "aZ09-._~", want: "aZ09-._~"},
		"reserved":      {id: ":/?#[]@!$&'()*+,;=", want: "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D"},
		"percent":       {id: "%", want: "%25"},
		"utf-8":         {id: "é", want: "%C3%A9"},
		"empty":         {id: "", invalid: true},
		"dot":           {id: ".", invalid: true},
		"dot dot":       {id: "..", invalid: true},
		"three dots ok": {id: "...", want: "..."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := segment("id", tc.id)
			if tc.invalid {
				g.Expect(err).To(MatchError(msapi.ErrInvalidArgument))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestThreadKeys(t *testing.T) {
	g := NewWithT(t)
	g.Expect(threadOf("19:c@thread.tacv2;messageid=17")).To(Equal("19:c@thread.tacv2"))
	g.Expect(threadOf("a:1")).To(Equal("a:1"))
	g.Expect(createThread(ConversationParameters{Members: []ChannelAccount{{ID: "29:u"}}})).To(Equal("29:u"))
	g.Expect(createThread(ConversationParameters{
		Members:     []ChannelAccount{{ID: "29:u"}},
		ChannelData: &ChannelData{Channel: &ChannelInfo{ID: "19:c@thread.skype"}},
	})).To(Equal("19:c@thread.skype"))
	g.Expect(createThread(ConversationParameters{})).To(BeEmpty())
}

func TestErrorMapping(t *testing.T) {
	blocked := `{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`
	inFuture := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	errBody := func(code, msg string) string { return `{"error":{"code":"` + code + `","message":"` + msg + `"}}` }
	tests := map[string]struct {
		respond    http.HandlerFunc
		status     int
		code       string
		reason     string
		retry      bool
		after      time.Duration
		tolerance  time.Duration
		wantErrMsg string
	}{
		"429 seconds":       {respond: reply(429, errBody("Throttled", "Too many requests"), "Retry-After", "2"), status: 429, code: "Throttled", reason: msapi.ReasonThrottled, retry: true, after: 2 * time.Second},
		"429 fractional":    {respond: reply(429, errBody("Throttled", "x"), "Retry-After", "1.5"), status: 429, code: "Throttled", reason: msapi.ReasonThrottled, retry: true, after: 1500 * time.Millisecond},
		"429 HTTP date":     {respond: reply(429, errBody("Throttled", "x"), "Retry-After", inFuture), status: 429, code: "Throttled", reason: msapi.ReasonThrottled, retry: true, after: 20 * time.Second, tolerance: 2 * time.Second},
		"429 no header":     {respond: reply(429, ""), status: 429, reason: msapi.ReasonThrottled, retry: true},
		"412":               {respond: reply(412, errBody("PreconditionFailed", "x")), status: 412, code: "PreconditionFailed", reason: msapi.ReasonPreconditionFailed, retry: true},
		"502":               {respond: reply(502, errBody("ServiceError", "x")), status: 502, code: "ServiceError", reason: msapi.ReasonBadGateway, retry: true},
		"503":               {respond: reply(503, ""), status: 503, reason: msapi.ReasonServiceUnavailable, retry: true},
		"504":               {respond: reply(504, ""), status: 504, reason: msapi.ReasonGatewayTimeout, retry: true},
		"400":               {respond: reply(400, errBody("BadArgument", "Unknown activity type")), status: 400, code: "BadArgument", reason: msapi.ReasonBadArgument},
		"401":               {respond: reply(401, errBody("BotNotRegistered", "No registration")), status: 401, code: "BotNotRegistered", reason: msapi.ReasonBotNotRegistered},
		"403 roster":        {respond: reply(403, errBody("BotNotInConversationRoster", "The bot isn't part of the conversation roster.")), status: 403, code: "BotNotInConversationRoster", reason: msapi.ReasonBotNotInRoster, wantErrMsg: "botframework sendActivity: HTTP 403 BotNotInConversationRoster: The bot isn't part of the conversation roster."},
		"403 blocked 209":   {respond: reply(403, blocked), status: 403, code: "MessageWritesBlocked", reason: msapi.ReasonBlockedByUser, wantErrMsg: "botframework sendActivity: HTTP 403 MessageWritesBlocked: Thread is blocked from message writes."},
		"403 blocked":       {respond: reply(403, errBody("ConversationBlockedByUser", "User blocked the conversation with the bot.")), status: 403, code: "ConversationBlockedByUser", reason: msapi.ReasonBlockedByUser},
		"403 not installed": {respond: reply(403, errBody("ForbiddenOperationException", "Bot is not installed in user's personal scope")), status: 403, code: "ForbiddenOperationException", reason: msapi.ReasonBotNotInstalledForUser},
		"403 admin":         {respond: reply(403, errBody("BotDisabledByAdmin", "x")), status: 403, code: "BotDisabledByAdmin", reason: msapi.ReasonBotDisabledByAdmin},
		"403 GCC host":      {respond: reply(403, errBody("InvalidBotApiHost", "x")), status: 403, code: "InvalidBotApiHost", reason: msapi.ReasonInvalidBotAPIHost},
		"404 conversation":  {respond: reply(404, errBody("ConversationNotFound", "Conversation not found.")), status: 404, code: "ConversationNotFound", reason: msapi.ReasonConversationNotFound},
		"413":               {respond: reply(413, errBody("MessageSizeTooBig", "Message size too big")), status: 413, code: "MessageSizeTooBig", reason: msapi.ReasonMessageTooLarge},
		"500":               {respond: reply(500, errBody("ServiceError", "Unknown")), status: 500, code: "ServiceError", reason: msapi.ReasonServiceError, wantErrMsg: "botframework sendActivity: HTTP 500 ServiceError: Unknown"},
		"500 plain text": {respond: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			_, _ = w.Write([]byte("oops"))
		}, status: 500, reason: msapi.ReasonServiceError, wantErrMsg: "botframework sendActivity: HTTP 500: response body is not JSON (text/plain)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Correlating-OperationId", "corr-1")
				tc.respond(w, r)
			})

			id, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "hi"})

			g.Expect(id).To(BeEmpty())
			apiErr, ok := msapi.AsAPIError(err)
			g.Expect(ok).To(BeTrue(), "error %v", err)
			g.Expect(apiErr.Status).To(Equal(tc.status))
			g.Expect(apiErr.Code).To(Equal(tc.code))
			g.Expect(apiErr.RequestID).To(Equal("corr-1"))
			g.Expect(apiErr.RetryAfter).To(BeNumerically("~", tc.after, tc.tolerance))
			c := msapi.Classify(err)
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Retry).To(Equal(tc.retry))
			g.Expect(c.Terminal).To(Equal(!tc.retry))
			g.Expect(c.After).To(BeNumerically("~", tc.after, tc.tolerance))
			if tc.wantErrMsg != "" {
				g.Expect(err.Error()).To(Equal(tc.wantErrMsg))
			}
			g.Expect(err.Error()).NotTo(ContainSubstring("corr-1"))
			g.Expect(err.Error()).NotTo(ContainSubstring(testToken))
			g.Expect(f.server.requests()).To(HaveLen(1), "the client never retries")
		})
	}
}

func TestActivityNotFoundOnUpdate(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, reply(404, `{"error":{"code":"ActivityNotFoundInConversation","message":"Activity not found."}}`))
	_, err := f.client.UpdateActivity(context.Background(), f.server.serviceURL(), "a:1", "9", &Activity{Text: "x"})
	g.Expect(msapi.IsNotFound(err)).To(BeTrue())
	g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonActivityNotFound))
}

// TestNoActivityID: Teams split the message and returned no id. That is a
// delivery, reported as ErrNoActivityID, never as an empty id.
func TestNoActivityID(t *testing.T) {
	tests := map[string]http.HandlerFunc{
		"empty object":   reply(201, `{}`),
		"empty id":       reply(200, `{"id":""}`),
		"no body":        reply(201, ""),
		"202 no body":    reply(202, ""),
		"body cut short": cutShort(201, `{"id":"17000`),
	}
	for name, respond := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, respond)
			for _, send := range []func() (string, error){
				func() (string, error) {
					return f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "t", Attachments: []Attachment{{ContentType: ContentTypeAdaptiveCard, Content: card}}})
				},
				func() (string, error) {
					return f.client.ReplyToActivity(context.Background(), f.server.serviceURL(), "19:c@thread.tacv2", "1", &Activity{Text: "t"})
				},
			} {
				id, err := send()
				g.Expect(id).To(BeEmpty())
				g.Expect(err).To(MatchError(ErrNoActivityID))
				c := msapi.Classify(err)
				g.Expect(c.Reason).To(Equal(msapi.ReasonNoActivityID))
				g.Expect(c.Retry).To(BeFalse(), "never send again")
			}
		})
	}
}

func TestCreateWithoutID(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, reply(201, `{"activityId":"1"}`))
	_, err := f.client.CreateConversation(context.Background(), f.server.serviceURL(), ConversationParameters{Members: []ChannelAccount{{ID: "29:u"}}})
	g.Expect(err).To(MatchError(ErrNoConversationID))
	g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonOutcomeUnknown))
}

// cutShort answers status with a Content-Length longer than body, then drops
// the connection: the answer is a success whose body is lost.
func cutShort(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n%s",
			status, http.StatusText(status), body)
		_ = buf.Flush()
	}
}

// dropAfterRead reads the whole request, then closes the connection without an
// answer: the service may have acted on it.
func dropAfterRead(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = conn.Close()
}

func TestOutcomeUnknown(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, dropAfterRead)

	_, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "hi"})

	g.Expect(msapi.IsOutcomeUnknown(err)).To(BeTrue(), "error %v", err)
	g.Expect(msapi.Classify(err)).To(Equal(msapi.Classification{Reason: msapi.ReasonOutcomeUnknown}))
	g.Expect(f.server.requests()).To(HaveLen(1), "a POST is never resent")
	g.Expect(err.Error()).NotTo(ContainSubstring(f.server.srv.URL))
}

func TestIdempotentCallWithoutAnswerIsRetryable(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, dropAfterRead)
	err := f.client.DeleteActivity(context.Background(), f.server.serviceURL(), "a:1", "1")
	g.Expect(msapi.IsOutcomeUnknown(err)).To(BeFalse())
	g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonRequestFailed))
}

func TestRefusedBeforeAnyRequest(t *testing.T) {
	tests := map[string]func(c *Client, u string) error{
		"send, nil activity": func(c *Client, u string) error {
			_, err := c.SendActivity(context.Background(), u, "a:1", nil)
			return err
		},
		"send, empty id": func(c *Client, u string) error {
			_, err := c.SendActivity(context.Background(), u, "", &Activity{})
			return err
		},
		"send, dot-dot id": func(c *Client, u string) error {
			_, err := c.SendActivity(context.Background(), u, "..", &Activity{})
			return err
		},
		"reply, empty reply id": func(c *Client, u string) error {
			_, err := c.ReplyToActivity(context.Background(), u, "a:1", "", &Activity{})
			return err
		},
		"update, dot activity id": func(c *Client, u string) error {
			_, err := c.UpdateActivity(context.Background(), u, "a:1", ".", &Activity{})
			return err
		},
		"update, nil activity": func(c *Client, u string) error {
			_, err := c.UpdateActivity(context.Background(), u, "a:1", "1", nil)
			return err
		},
		"delete, empty conv": func(c *Client, u string) error { return c.DeleteActivity(context.Background(), u, "", "1") },
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, reply(200, `{"id":"1"}`))
			err := call(f.client, f.server.serviceURL())
			g.Expect(err).To(MatchError(msapi.ErrInvalidArgument))
			g.Expect(msapi.IsTerminal(err)).To(BeTrue())
			g.Expect(f.j.list()).To(BeEmpty())
		})
	}
}

func TestLimiterErrorStopsTheCall(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, reply(200, `{"id":"1"}`), func(o *Options) {
		o.ConversationLimiter = journalLimiter{j: &journal{}, name: "conv", err: context.DeadlineExceeded}
	})
	_, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "x"})
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
	g.Expect(err).To(MatchError(ContainSubstring("waiting for the rate limiter")))
	g.Expect(f.j.list()).To(Equal([]string{"token"}), "no request, and no place taken at the app limiter")
}

func TestLimitersAreOptional(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, reply(200, `{"id":"1"}`), func(o *Options) { o.AppLimiter, o.ConversationLimiter = nil, nil })
	_, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "x"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.j.list()).To(Equal([]string{"token", "send " + f.server.hostPort()}))
}

func TestTokenErrorStopsTheCall(t *testing.T) {
	g := NewWithT(t)
	boom := errors.New("boom")
	f := newFixture(t, reply(200, `{"id":"1"}`), func(o *Options) { o.Tokens = journalTokens{j: &journal{}, err: boom} })
	_, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "x"})
	g.Expect(err).To(MatchError(boom))
	g.Expect(err).To(MatchError(ContainSubstring("acquiring token for botframework sendActivity")))
	g.Expect(f.server.requests()).To(BeEmpty())
}

func TestCallerActivityIsNotModified(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, reply(200, `{"id":"1"}`))
	a := &Activity{Text: "x"}
	p := ConversationParameters{IsGroup: true, Activity: a, ChannelData: &ChannelData{Channel: &ChannelInfo{ID: "19:c@thread.tacv2"}}}
	_, err := f.client.ReplyToActivity(context.Background(), f.server.serviceURL(), "a:1", "5", a)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = f.client.UpdateActivity(context.Background(), f.server.serviceURL(), "a:1", "5", a)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = f.client.CreateConversation(context.Background(), f.server.serviceURL(), p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*a).To(Equal(Activity{Text: "x"}))
	g.Expect(p.Activity).To(BeIdenticalTo(a))
}

func TestNewValidatesOptions(t *testing.T) {
	g := NewWithT(t)
	policy := NewServiceURLPolicy([]string{"smba.trafficmanager.net"})
	tokens := journalTokens{j: &journal{}}
	hc := &http.Client{}
	_, err := New(Options{Tokens: tokens, Policy: policy})
	g.Expect(err).To(MatchError(ContainSubstring("required")))
	_, err = New(Options{HTTPClient: hc, Policy: policy})
	g.Expect(err).To(MatchError(ContainSubstring("required")))
	_, err = New(Options{HTTPClient: hc, Tokens: tokens})
	g.Expect(err).To(MatchError(ContainSubstring("Policy")))
	c, err := New(Options{HTTPClient: hc, Tokens: tokens, Policy: policy})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.hc.CheckRedirect).NotTo(BeNil())
	g.Expect(hc.CheckRedirect).To(BeNil(), "the caller's client is untouched")
}

func TestFakeReturnsNotImplemented(t *testing.T) {
	g := NewWithT(t)
	f := &Fake{}
	_, err := f.SendActivity(context.Background(), "u", "c", &Activity{})
	g.Expect(err).To(MatchError(ErrNotImplemented))
	g.Expect(f.DeleteActivity(context.Background(), "u", "c", "a")).To(MatchError(ErrNotImplemented))
	f.SendActivityFunc = func(context.Context, string, string, *Activity) (string, error) { return "1", nil }
	g.Expect(f.SendActivity(context.Background(), "u", "c", &Activity{})).To(Equal("1"))
}
