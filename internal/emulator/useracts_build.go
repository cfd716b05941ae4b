//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
)

// buildActivities turns an action into the activities Teams sends (installing first).
func (e *Emulator) buildActivities(a *UserAction, serviceURL string) ([]map[string]any, error) {
	if a.Scope == "" {
		a.Scope = ScopeUser
	}
	switch a.Kind {
	case ActInstall, ActUninstall:
		if err := e.changeInstall(a); err != nil {
			return nil, err
		}
	case ActMessage, ActInvoke:
	default:
		return nil, fmt.Errorf("unknown action kind %q: message, invoke, install or uninstall", a.Kind)
	}
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, u := d.findUser(a.User)
	if u == nil {
		return nil, fmt.Errorf("user %s not found", a.User)
	}
	bot := a.BotAppID
	if a.TeamsAppID != "" {
		app := t.catalog[key(a.TeamsAppID)]
		if app == nil || app.BotID == "" {
			return nil, fmt.Errorf("app %s is not a bot app in the catalog of tenant %s", a.TeamsAppID, t.id)
		}
		bot = app.BotID
	}
	if bot == "" {
		bot = DefaultBotAppID
	}
	base, err := e.baseActivity(t, u, a, bot, serviceURL)
	if err != nil {
		return nil, err
	}
	return e.activitiesFor(a, base, bot), nil
}

func (e *Emulator) changeInstall(a *UserAction) error {
	if a.TeamsAppID == "" {
		return errors.New("install and uninstall need teamsAppId")
	}
	scopeID := a.ScopeID
	if a.Scope == ScopeUser {
		scopeID = a.User
	}
	if a.Kind == ActInstall {
		_, err := e.Install(a.Scope, scopeID, a.TeamsAppID)
		return err
	}
	return e.Uninstall(a.Scope, scopeID, a.TeamsAppID)
}

// findUser finds a user by object id or UPN in any tenant. Caller holds d.mu.
func (d *directory) findUser(idOrUPN string) (*tenant, *user) {
	for _, t := range d.tenants {
		if u := t.userFor(idOrUPN); u != nil {
			return t, u
		}
	}
	return nil, nil
}

// baseActivity has what every activity of the action shares: ids, conversation, channel data.
// Caller holds the directory's lock.
func (e *Emulator) baseActivity(t *tenant, u *user, a *UserAction, bot, serviceURL string) (map[string]any, error) {
	userBotID := u.botUserIDs[key(bot)]
	if userBotID == "" {
		userBotID = BotUserID(bot, u.id)
	}
	conv := map[string]any{"tenantId": t.id}
	channelData := map[string]any{"tenant": map[string]any{"id": t.id}}
	switch a.Scope {
	case ScopeUser:
		conv["id"], conv["conversationType"] = PersonalConversationID(bot, u.id), ConversationPersonal
	case ScopeTeam:
		tm := t.teams[key(a.ScopeID)]
		if tm == nil {
			return nil, fmt.Errorf("team %s not found in tenant %s", a.ScopeID, t.id)
		}
		conv["id"], conv["conversationType"], conv["isGroup"] = tm.general.id, ConversationChannel, true
		channelData["team"] = map[string]any{"id": tm.general.id, "name": tm.displayName, "aadGroupId": tm.id}
		channelData["channel"] = map[string]any{"id": tm.general.id}
	case ScopeChat:
		c := t.chats[key(a.ScopeID)]
		if c == nil {
			return nil, fmt.Errorf("chat %s not found in tenant %s", a.ScopeID, t.id)
		}
		conv["id"], conv["conversationType"], conv["isGroup"] = c.id, ConversationGroupChat, true
	default:
		return nil, fmt.Errorf("unknown scope %q: user, team or chat", a.Scope)
	}
	now := e.now()
	return map[string]any{
		"timestamp": now.UTC().Format("2006-01-02T15:04:05.000Z"), "serviceUrl": serviceURL, "channelId": channelMSTeams,
		"from":         map[string]any{"id": userBotID, "name": u.displayName, "aadObjectId": u.id},
		"recipient":    map[string]any{"id": "28:" + bot},
		"conversation": conv, "channelData": channelData, "locale": "en-US",
	}, nil
}

// activitiesFor fills in the type-specific fields.
func (e *Emulator) activitiesFor(a *UserAction, base map[string]any, bot string) []map[string]any {
	with := func(fields map[string]any) map[string]any {
		out := maps.Clone(base)
		out["id"] = e.ids.next(e.now())
		maps.Copy(out, fields)
		return out
	}
	botAccount := []any{map[string]any{"id": "28:" + bot}}
	teamEvent := func(event string) map[string]any {
		cd := maps.Clone(base["channelData"].(map[string]any))
		if a.Scope == ScopeTeam {
			cd["eventType"] = event
		}
		return cd
	}
	switch a.Kind {
	case ActMessage:
		return []map[string]any{with(map[string]any{"type": "message", "text": a.Text, "textFormat": "plain"})}
	case ActInvoke:
		f := map[string]any{"type": "invoke", "name": a.Name}
		if len(a.Value) > 0 {
			f["value"] = a.Value
		}
		if a.ReplyToID != "" {
			f["replyToId"] = a.ReplyToID
		}
		return []map[string]any{with(f)}
	case ActInstall:
		return []map[string]any{
			with(map[string]any{"type": "installationUpdate", "action": "add"}),
			with(map[string]any{"type": "conversationUpdate", "membersAdded": botAccount, "channelData": teamEvent("teamMemberAdded")}),
		}
	default: // ActUninstall
		return []map[string]any{
			with(map[string]any{"type": "installationUpdate", "action": "remove"}),
			with(map[string]any{"type": "conversationUpdate", "membersRemoved": botAccount, "channelData": teamEvent("teamMemberRemoved")}),
		}
	}
}

// ---- HTTP control API ----

func (e *Emulator) userActRoutes() {
	e.control("PUT /bot/endpoint", e.ctlBotEndpoint)
	e.control("POST /bot/act", e.ctlAct)
}

// ctlBotEndpoint sets the bot endpoint: {"url": "...", "caPEM": "..."}; the serviceUrl of the
// activities is this emulator's Connector as the caller reached it.
func (e *Emulator) ctlBotEndpoint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL   string `json:"url"`
		CAPEM string `json:"caPEM,omitempty"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Errorf("decoding request: %w", err))
		return
	}
	ep := BotEndpoint{URL: req.URL, ServiceURL: baseURL(r) + "/teams/"}
	if req.CAPEM != "" {
		ep.RootCAs = newPool([]byte(req.CAPEM))
		if ep.RootCAs == nil {
			controlError(w, http.StatusBadRequest, errors.New("caPEM holds no certificate"))
			return
		}
	}
	e.SetBotEndpoint(ep)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) ctlAct(w http.ResponseWriter, r *http.Request) {
	var a UserAction
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&a); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Errorf("decoding request: %w", err))
		return
	}
	answers, err := e.Act(r.Context(), a)
	if err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"answers": answers})
}

func newPool(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		return nil
	}
	return p
}
