//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// maxRequestBytes bounds what the Connector reads, whatever MaxMessageBytes is.
const maxRequestBytes = 8 << 20

// botCall is an authenticated Connector request.
type botCall struct {
	claims *accessClaims
	bot    string // lower-case app id
}

type botHandler func(w http.ResponseWriter, r *http.Request, b *botCall)

// connector registers a Connector route under any one service-URL segment (and none):
// token audience and bot registration, then h.
func (e *Emulator) connector(pattern, name string, h botHandler) {
	method, path, _ := strings.Cut(pattern, " ")
	for _, prefix := range []string{"/{segment}", ""} {
		e.handle(method+" "+prefix+path, apiBot, op(name), func(w http.ResponseWriter, r *http.Request) {
			c, fail := e.authenticate(r)
			if fail == nil && !botResources[c.Aud] {
				fail = &authFailure{"Unauthorized", "Invalid audience."}
			}
			if fail != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="botframework"`)
				botError(w, http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request. "+fail.msg)
				return
			}
			info := infoFrom(r)
			info.clientID, info.tenantID = c.AppID, c.Tid
			d := e.world().dir
			d.mu.RLock()
			reg := d.apps[key(c.AppID)]
			isBot := reg != nil && reg.bot
			d.mu.RUnlock()
			if !isBot {
				botError(w, http.StatusUnauthorized, "BotNotRegistered", fmt.Sprintf("No bot is registered for app %s.", c.AppID))
				return
			}
			h(w, r, &botCall{claims: c, bot: key(c.AppID)})
		})
	}
}

func (e *Emulator) connectorRoutes() {
	e.connector("POST /v3/conversations", "createConversation", e.createConversation)
	e.connector("POST /v3/conversations/{conv}/activities", "sendActivity", e.sendActivity)
	e.connector("POST /v3/conversations/{conv}/activities/{activity}", "replyToActivity", e.sendActivity)
	e.connector("PUT /v3/conversations/{conv}/activities/{activity}", "updateActivity", e.updateActivity)
	e.connector("DELETE /v3/conversations/{conv}/activities/{activity}", "deleteActivity", e.deleteActivity)
}

// target is a resolved conversation.
type target struct {
	kind      string
	canonical string
	chatID    string
	tenantID  string
	user      *user
	team      *team
	channel   *channel
	chat      *chat
	root      string // thread root from {channel};messageid={root}
}

type botErr struct {
	status int
	code   string
	msg    string
	raw    []byte // a body of another shape
}

func (b *botErr) write(w http.ResponseWriter) {
	if b.raw != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(b.status)
		_, _ = w.Write(b.raw)
		return
	}
	botError(w, b.status, b.code, b.msg)
}

func conversationNotFound(id string) *botErr {
	return &botErr{status: http.StatusNotFound, code: "ConversationNotFound", msg: fmt.Sprintf("Conversation %s not found.", id)}
}

// blockedBody is the odd 403 Teams answers when the user blocked or removed the bot (reference 3.6).
// https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages
var blockedBody = []byte(`{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  ` +
	`\"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`)

// resolve maps any conversation id the Connector accepts to its conversation. Caller holds d.mu.
func (w *world) resolve(d *directory, id, bot string) (*target, *botErr) {
	base, root, threaded := strings.Cut(id, ";messageid=")
	if b, u, ok := decodePair("a:1", personalPad, base); ok {
		return personalTarget(d, id, b, u, bot, threaded)
	}
	if b, u, ok := parsePersonalChatID(base); ok {
		return personalTarget(d, id, b, u, bot, threaded)
	}
	if c := d.channels[key(base)]; c != nil {
		tg := &target{kind: ConversationChannel, canonical: c.id, tenantID: c.team.tenantID, team: c.team, channel: c}
		if threaded {
			conv := w.convs.lookup(c.id)
			var rec *activityRecord
			if conv != nil {
				rec = conv.find(root)
			}
			if rec == nil || rec.deleted() {
				return nil, conversationNotFound(id)
			}
			tg.root = root
		}
		return tg, nil
	}
	if c := d.chats[key(base)]; c != nil && !threaded {
		return &target{kind: ConversationGroupChat, canonical: c.id, tenantID: c.tenantID, chat: c}, nil
	}
	return nil, conversationNotFound(id)
}

func personalTarget(d *directory, id, b, u, bot string, threaded bool) (*target, *botErr) {
	usr := d.users[key(u)]
	if usr == nil || threaded || !strings.EqualFold(b, bot) {
		return nil, conversationNotFound(id)
	}
	return &target{
		kind: ConversationPersonal, canonical: PersonalConversationID(b, usr.id), chatID: PersonalChatID(b, usr.id),
		tenantID: usr.tenantID, user: usr,
	}, nil
}

// access applies the roster rules to a write into an existing conversation. Caller holds d.mu.
// Codes: https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/conversation-messages#status-codes-from-bot-conversational-apis
func (d *directory) access(tg *target, bot string) *botErr {
	t := d.tenants[key(tg.tenantID)]
	switch tg.kind {
	case ConversationPersonal:
		if tg.user.blocks(bot) || !d.botReachesUser(tg.user, bot) {
			return &botErr{status: http.StatusForbidden, raw: blockedBody}
		}
	case ConversationChannel:
		if !t.botInstalled(tg.team.installs, bot) || !t.channelAllows(tg.channel, bot) {
			return &botErr{status: http.StatusForbidden, code: "BotNotInConversationRoster",
				msg: "The bot is not part of the conversation roster."}
		}
	case ConversationGroupChat:
		if !t.botInstalled(tg.chat.installs, bot) {
			return &botErr{status: http.StatusForbidden, code: "BotNotInConversationRoster",
				msg: "The bot is not part of the conversation roster."}
		}
	}
	return nil
}

// readBody reads the request body, at most maxRequestBytes (413 beyond). The message size
// rule itself is checkSize's, on the activity.
func (e *Emulator) readBody(r *http.Request) ([]byte, *botErr) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		return nil, &botErr{status: http.StatusBadRequest, code: codeBadArgument, msg: "Unable to read the request body."}
	}
	if len(b) > maxRequestBytes {
		return nil, tooBig(len(b), maxRequestBytes)
	}
	return b, nil
}

func tooBig(n, limit int) *botErr {
	return &botErr{status: http.StatusRequestEntityTooLarge, code: "MessageSizeTooBig",
		msg: fmt.Sprintf("Message size too big: %d bytes, the limit is %d.", n, limit)}
}

// dataImageRE matches a base64 image, which Teams leaves out of the size.
var dataImageRE = regexp.MustCompile(`data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=]*`)

// checkSize applies Teams' message size rule to an activity: about 100 KB of "the message
// itself (text, image links, etc.), @-mentions, and reactions encoded as UTF-16", base64 images
// excluded; over it, 413 MessageSizeTooBig
// (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages).
// The activity is measured decoded (no JSON escapes), as UTF-16 code units times two.
func (e *Emulator) checkSize(raw json.RawMessage) *botErr {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil // parseActivity reports it
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	n := 0
	for _, r := range dataImageRE.ReplaceAllString(strings.TrimSpace(buf.String()), "") {
		n += 2
		if r >= 0x10000 {
			n += 2 // a surrogate pair
		}
	}
	if n > e.opts.MaxMessageBytes {
		return tooBig(n, e.opts.MaxMessageBytes)
	}
	return nil
}

// parsedActivity is an outgoing activity, checked.
type parsedActivity struct {
	raw       json.RawMessage
	fields    map[string]json.RawMessage
	text      string
	hasAttach bool
	replyToID string
	// missingTenant lists where the tenant is absent (conversation.tenantId,
	// channelData.tenant.id); a create overrides it with what its parameters lack.
	missingTenant []string
}

func badArgument(msg string) *botErr {
	return &botErr{status: http.StatusBadRequest, code: codeBadArgument, msg: msg}
}

func parseActivity(raw json.RawMessage) (*parsedActivity, *botErr) {
	p := &parsedActivity{raw: raw}
	if err := json.Unmarshal(raw, &p.fields); err != nil || p.fields == nil {
		return nil, badArgument("Invalid activity: the body must be a JSON object.")
	}
	var a struct {
		Type         string            `json:"type"`
		Text         string            `json:"text"`
		TextFormat   string            `json:"textFormat"`
		ReplyToID    string            `json:"replyToId"`
		Attachments  []json.RawMessage `json:"attachments"`
		Conversation *struct {
			TenantID string `json:"tenantId"`
		} `json:"conversation"`
		ChannelData *struct {
			Tenant *channelAccount `json:"tenant"`
		} `json:"channelData"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, badArgument("Invalid activity: " + err.Error())
	}
	switch {
	case a.Type == "":
		return nil, badArgument("Activity type cannot be null.")
	case a.Type != "message":
		return nil, badArgument(fmt.Sprintf("Activity type '%s' is not supported here; send a message.", a.Type))
	case a.TextFormat != "" && a.TextFormat != "plain" && a.TextFormat != "markdown" && a.TextFormat != "xml":
		return nil, badArgument(fmt.Sprintf("Invalid textFormat '%s': use plain, markdown or xml.", a.TextFormat))
	case strings.TrimSpace(a.Text) == "" && len(a.Attachments) == 0:
		return nil, badArgument("The message has neither text nor attachments.")
	}
	for i, at := range a.Attachments {
		if err := checkAttachment(at); err != "" {
			return nil, badArgument(fmt.Sprintf("Invalid attachment %d: %s", i, err))
		}
	}
	p.text, p.hasAttach, p.replyToID = a.Text, len(a.Attachments) > 0, a.ReplyToID
	if a.Conversation == nil || a.Conversation.TenantID == "" {
		p.missingTenant = append(p.missingTenant, "conversation.tenantId")
	}
	if a.ChannelData == nil || a.ChannelData.Tenant == nil || a.ChannelData.Tenant.ID == "" {
		p.missingTenant = append(p.missingTenant, "channelData.tenant.id")
	}
	return p, nil
}

func checkAttachment(raw json.RawMessage) string {
	var at struct {
		ContentType string          `json:"contentType"`
		Content     json.RawMessage `json:"content"`
		ContentURL  string          `json:"contentUrl"`
	}
	if err := json.Unmarshal(raw, &at); err != nil {
		return "not an object"
	}
	if at.ContentType == "" {
		return "contentType is required"
	}
	if at.ContentType == "application/vnd.microsoft.card.adaptive" {
		var card struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(at.Content, &card) != nil || card.Type != "AdaptiveCard" {
			return "an Adaptive Card attachment needs content of type AdaptiveCard"
		}
	} else if len(at.Content) == 0 && at.ContentURL == "" {
		return "content or contentUrl is required"
	}
	return ""
}

// parts is what gets stored: the activity, or its two halves when Teams splits it.
func (p *parsedActivity) parts() []json.RawMessage {
	if strings.TrimSpace(p.text) == "" || !p.hasAttach {
		return []json.RawMessage{p.raw}
	}
	without := func(k string) json.RawMessage {
		m := make(map[string]json.RawMessage, len(p.fields))
		for f, v := range p.fields {
			if f != k {
				m[f] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	return []json.RawMessage{without("attachments"), without("text")}
}

func writeThrottled(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", secs)
	botError(w, http.StatusTooManyRequests, "Throttled", fmt.Sprintf("Too many requests. Retry after %s seconds.", secs))
}

// admitApp applies the per-app-per-tenant limit (all Connector calls).
// https://learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit
func (e *Emulator) admitApp(w *world, bot, tenantID string) time.Duration {
	return w.appLimit.get(bot+"|"+key(tenantID)).admit(e.now(), []Limit{{Count: e.opts.AppRPS, Window: time.Second}})
}

// admitConversation applies the per-bot-per-conversation limits, kept apart for sends and creates.
func (e *Emulator) admitConversation(w *world, kind, bot, conv string) time.Duration {
	return w.limits.get(kind+"|"+bot+"|"+key(conv)).admit(e.now(), e.opts.ConversationLimits)
}

type channelAccount struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type conversationParams struct {
	IsGroup     bool             `json:"isGroup"`
	Bot         *channelAccount  `json:"bot"`
	Members     []channelAccount `json:"members"`
	TopicName   string           `json:"topicName"`
	TenantID    string           `json:"tenantId"`
	Activity    json.RawMessage  `json:"activity"`
	ChannelData struct {
		Tenant         *channelAccount `json:"tenant"`
		Channel        *channelAccount `json:"channel"`
		TeamsChannelID string          `json:"teamsChannelId"`
	} `json:"channelData"`
}

// missingTenant lists where a create's parameters lack the tenant: the SDKs send both
// tenantId and channelData.tenant.id ("Mix in the tenant ID if specified. This is required for
// MS Teams", botbuilder BotFrameworkAdapter.createConversation).
func (p *conversationParams) missingTenant() []string {
	var out []string
	if p.TenantID == "" {
		out = append(out, "tenantId")
	}
	if p.ChannelData.Tenant == nil || p.ChannelData.Tenant.ID == "" {
		out = append(out, "channelData.tenant.id")
	}
	return out
}

func (e *Emulator) createConversation(w http.ResponseWriter, r *http.Request, b *botCall) {
	body, be := e.readBody(r)
	if be != nil {
		be.write(w)
		return
	}
	var p conversationParams
	if err := decodeJSONObject(body, &p); err != nil {
		badArgument("Invalid conversation parameters: " + err.Error()).write(w)
		return
	}
	if p.IsGroup {
		e.createChannelThread(w, b, &p)
		return
	}
	e.createPersonal(w, b, &p)
}

func (e *Emulator) createChannelThread(w http.ResponseWriter, b *botCall, p *conversationParams) {
	chID := p.ChannelData.TeamsChannelID
	if p.ChannelData.Channel != nil && p.ChannelData.Channel.ID != "" {
		chID = p.ChannelData.Channel.ID
	}
	if chID == "" {
		badArgument("Proactive messaging can't create a group chat: set channelData.channel.id to start a thread in a channel.").write(w)
		return
	}
	if strings.Contains(chID, ";messageid=") {
		// {channel};messageid={root} is an existing thread: post into it (reference 3.3 c,
		// https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/channel-and-group-conversations),
		// a create takes a channel id.
		badArgument("channelData.channel.id names a thread (;messageid=): send to the thread's conversation id instead of creating a conversation.").write(w)
		return
	}
	if len(p.Activity) == 0 || string(p.Activity) == jsonNull {
		badArgument("An activity is required to start a thread in a channel.").write(w)
		return
	}
	act, be := parseActivity(p.Activity)
	if be == nil {
		be = e.checkSize(p.Activity)
	}
	if be != nil {
		be.write(w)
		return
	}
	wd := e.world()
	d := wd.dir
	d.mu.RLock()
	c := d.channels[key(chID)]
	var tg *target
	if c != nil {
		tg = &target{kind: ConversationChannel, canonical: c.id, tenantID: c.team.tenantID, team: c.team, channel: c}
		be = d.access(tg, b.bot)
	}
	d.mu.RUnlock()
	if c == nil {
		conversationNotFound(chID).write(w)
		return
	}
	if wait := e.admitApp(wd, b.bot, tg.tenantID); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	if be != nil {
		be.write(w)
		return
	}
	if wait := e.admitConversation(wd, "create", b.bot, tg.canonical); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	act.missingTenant = p.missingTenant()
	ids := e.store(wd, tg, b, act, chID, "createConversation", "")
	resp := map[string]string{"id": tg.canonical + ";messageid=" + ids[0]}
	if len(ids) == 1 {
		resp["activityId"] = ids[0]
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (e *Emulator) createPersonal(w http.ResponseWriter, b *botCall, p *conversationParams) {
	tenantID := p.TenantID
	if tenantID == "" && p.ChannelData.Tenant != nil {
		tenantID = p.ChannelData.Tenant.ID
	}
	switch {
	case tenantID == "":
		badArgument("A tenant id is required to create a 1:1 conversation (tenantId or channelData.tenant.id).").write(w)
		return
	case len(p.Members) != 1:
		badArgument("A 1:1 conversation needs exactly one member.").write(w)
		return
	case strings.Contains(p.Members[0].ID, "@"):
		badArgument("Teams doesn't address users by email or UPN: use the user's 29: id or Entra object id.").write(w)
		return
	}
	var act *parsedActivity
	if len(p.Activity) > 0 && string(p.Activity) != jsonNull {
		var be *botErr
		if act, be = parseActivity(p.Activity); be == nil {
			be = e.checkSize(p.Activity)
		}
		if be != nil {
			be.write(w)
			return
		}
	}
	wd := e.world()
	d := wd.dir
	d.mu.RLock()
	u, be := d.memberUser(p.Members[0].ID, b.bot, tenantID)
	reaches := u != nil && d.botReachesUser(u, b.bot)
	var tg *target
	if u != nil {
		tg = &target{kind: ConversationPersonal, canonical: PersonalConversationID(b.bot, u.id),
			chatID: PersonalChatID(b.bot, u.id), tenantID: u.tenantID, user: u}
		if act != nil {
			be = d.access(tg, b.bot)
		}
	}
	d.mu.RUnlock()
	if u == nil {
		be.write(w)
		return
	}
	if wait := e.admitApp(wd, b.bot, tenantID); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	if !reaches {
		(&botErr{status: http.StatusForbidden, code: "ForbiddenOperationException",
			msg: "Bot isn't installed in user's personal scope"}).write(w)
		return
	}
	if be != nil {
		be.write(w)
		return
	}
	if wait := e.admitConversation(wd, "create", b.bot, tg.canonical); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	resp := map[string]string{"id": tg.canonical}
	if act != nil {
		act.missingTenant = p.missingTenant()
		if ids := e.store(wd, tg, b, act, tg.canonical, "createConversation", ""); len(ids) == 1 {
			resp["activityId"] = ids[0]
		}
	}
	writeJSON(w, http.StatusCreated, resp)
}

// memberUser resolves the member of a 1:1 create: a 29: id of this bot, or an Entra object id,
// in the given tenant. Caller holds d.mu.
func (d *directory) memberUser(id, bot, tenantID string) (*user, *botErr) {
	var u *user
	switch {
	case strings.HasPrefix(id, "29:"):
		p, ok := d.resolvePairwise(id)
		if !ok || p.bot != bot {
			return nil, badArgument("Failed to decrypt pairwise id")
		}
		u = d.users[key(p.user)]
	case isGUID(id):
		u = d.users[key(id)]
	default:
		return nil, badArgument("Failed to decrypt pairwise id")
	}
	t := d.tenantFor(tenantID)
	if u == nil || t == nil || !strings.EqualFold(u.tenantID, t.id) {
		return nil, badArgument("Invalid user identity in provided tenant")
	}
	return u, nil
}

// store saves an activity (two when Teams splits it) and returns the ids.
func (e *Emulator) store(wd *world, tg *target, b *botCall, act *parsedActivity, addressedTo, operation, replyTo string) []string {
	parts := act.parts()
	ids := make([]string, 0, len(parts))
	now := e.now()
	for _, part := range parts {
		meta := StoredActivity{
			ConversationID: tg.canonical, ChatID: tg.chatID, AddressedTo: addressedTo, ConversationType: tg.kind,
			TenantID: tg.tenantID, BotID: b.claims.AppID, Operation: operation, Split: len(parts) > 1, CreatedAt: now,
			ReplyToID: replyTo, MissingTenant: act.missingTenant,
		}
		meta.ActivityID = e.ids.next(now)
		switch tg.kind {
		case ConversationPersonal:
			meta.UserID = tg.user.id
		case ConversationChannel:
			meta.TeamID, meta.ChannelID = tg.team.id, tg.channel.id
			meta.ThreadID = tg.root
			if meta.ThreadID == "" {
				if len(ids) > 0 {
					meta.ThreadID = ids[0]
				} else {
					meta.ThreadID = meta.ActivityID
				}
			}
		}
		if meta.ReplyToID == "" {
			meta.ReplyToID = act.replyToID
		}
		wd.storeActivity(meta, part)
		ids = append(ids, meta.ActivityID)
	}
	return ids
}

// sendActivity serves send (POST …/activities) and reply (POST …/activities/{id}).
func (e *Emulator) sendActivity(w http.ResponseWriter, r *http.Request, b *botCall) {
	convID, replyTo := r.PathValue("conv"), r.PathValue("activity")
	body, be := e.readBody(r)
	if be != nil {
		be.write(w)
		return
	}
	act, be := parseActivity(body)
	if be == nil {
		be = e.checkSize(body)
	}
	if be != nil {
		be.write(w)
		return
	}
	wd := e.world()
	d := wd.dir
	d.mu.RLock()
	tg, be := wd.resolve(d, convID, b.bot)
	var accessErr *botErr
	if tg != nil {
		accessErr = d.access(tg, b.bot)
	}
	d.mu.RUnlock()
	if be != nil {
		be.write(w)
		return
	}
	if wait := e.admitApp(wd, b.bot, tg.tenantID); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	if replyTo != "" {
		conv := wd.convs.lookup(tg.canonical)
		var rec *activityRecord
		if conv != nil {
			rec = conv.find(replyTo)
		}
		if rec == nil || rec.deleted() {
			activityNotFound(replyTo).write(w)
			return
		}
		if tg.kind == ConversationChannel {
			tg.root = rec.meta.ThreadID
		}
	} else if tg.root != "" {
		replyTo = tg.root
	}
	if accessErr != nil {
		accessErr.write(w)
		return
	}
	if wait := e.admitConversation(wd, "send", b.bot, tg.canonical); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	operation := "sendActivity"
	if r.PathValue("activity") != "" {
		operation = "replyToActivity"
	}
	ids := e.store(wd, tg, b, act, convID, operation, replyTo)
	if len(ids) > 1 {
		// Message splitting: no id (reference 3.4;
		// https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/conversation-messages).
		writeJSON(w, http.StatusCreated, map[string]any{})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": ids[0]})
}

func activityNotFound(id string) *botErr {
	return &botErr{status: http.StatusNotFound, code: "ActivityNotFoundInConversation",
		msg: fmt.Sprintf("Activity %s not found in the conversation.", id)}
}

// existingActivity resolves the conversation and the activity of an update or delete.
func (e *Emulator) existingActivity(w http.ResponseWriter, r *http.Request, b *botCall) (*activityRecord, bool) {
	wd := e.world()
	d := wd.dir
	d.mu.RLock()
	tg, be := wd.resolve(d, r.PathValue("conv"), b.bot)
	var accessErr *botErr
	if tg != nil {
		accessErr = d.access(tg, b.bot)
	}
	d.mu.RUnlock()
	if be != nil {
		be.write(w)
		return nil, false
	}
	if wait := e.admitApp(wd, b.bot, tg.tenantID); wait > 0 {
		writeThrottled(w, wait)
		return nil, false
	}
	id := r.PathValue("activity")
	var rec *activityRecord
	if conv := wd.convs.lookup(tg.canonical); conv != nil {
		rec = conv.find(id)
	}
	if rec == nil || rec.deleted() {
		activityNotFound(id).write(w)
		return nil, false
	}
	if !strings.EqualFold(rec.meta.BotID, b.bot) {
		(&botErr{status: http.StatusForbidden, code: "NotEnoughPermissions",
			msg: "The bot can only change its own messages."}).write(w)
		return nil, false
	}
	if accessErr != nil {
		accessErr.write(w)
		return nil, false
	}
	return rec, true
}

func (e *Emulator) updateActivity(w http.ResponseWriter, r *http.Request, b *botCall) {
	body, be := e.readBody(r)
	if be != nil {
		be.write(w)
		return
	}
	act, be := parseActivity(body)
	if be == nil {
		be = e.checkSize(body)
	}
	if be != nil {
		be.write(w)
		return
	}
	rec, ok := e.existingActivity(w, r, b)
	if !ok {
		return
	}
	for {
		prev := rec.cur.Load()
		if !prev.deletedAt.IsZero() {
			activityNotFound(rec.meta.ActivityID).write(w)
			return
		}
		if rec.cur.CompareAndSwap(prev, &activityVersion{activity: bytes.Clone(act.raw), updatedAt: e.now()}) {
			break
		}
	}
	e.changes.notify()
	writeJSON(w, http.StatusOK, map[string]string{"id": rec.meta.ActivityID})
}

func (e *Emulator) deleteActivity(w http.ResponseWriter, r *http.Request, b *botCall) {
	rec, ok := e.existingActivity(w, r, b)
	if !ok {
		return
	}
	for {
		prev := rec.cur.Load()
		next := *prev
		next.deletedAt = e.now()
		if !prev.deletedAt.IsZero() {
			activityNotFound(rec.meta.ActivityID).write(w)
			return
		}
		if rec.cur.CompareAndSwap(prev, &next) {
			break
		}
	}
	e.changes.notify()
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
