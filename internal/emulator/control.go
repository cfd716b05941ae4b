//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- Go API (the same operations as the HTTP control API) ----

// AddFault adds a fault and returns its id ("" if the fault is invalid; see Fault.Validate).
func (e *Emulator) AddFault(f Fault) (id string) {
	if err := f.normalize(); err != nil {
		return ""
	}
	return e.faults.add(f, e.now())
}

// Validate reports whether the fault can be added.
func (f Fault) Validate() error { return f.normalize() }

// RemoveFault removes one fault; it reports whether it existed.
func (e *Emulator) RemoveFault(id string) bool { return e.faults.remove(id) }

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() { e.faults.clear() }

// Faults lists the active faults.
func (e *Emulator) Faults() []Fault { return e.faults.snapshot(e.now()) }

// Activities returns every message Teams holds, in arrival order (deleted ones included).
func (e *Emulator) Activities() []StoredActivity { return e.world().log.snapshot() }

// ConversationActivities returns the messages of one conversation. The id may be any form the
// Connector accepts: a:…, 19:…@unq.gbl.spaces, a group chat or channel id, or
// {channel};messageid={root} (that thread only).
func (e *Emulator) ConversationActivities(conversationID string) []StoredActivity {
	w := e.world()
	canonical, root := w.canonicalConversation(conversationID)
	c := w.convs.lookup(canonical)
	if c == nil {
		return []StoredActivity{}
	}
	all := c.snapshot()
	if root == "" {
		return all
	}
	return slices.DeleteFunc(all, func(a StoredActivity) bool { return a.ThreadID != root })
}

func (w *world) canonicalConversation(id string) (canonical, root string) {
	base, root, _ := strings.Cut(id, ";messageid=")
	if b, u, ok := decodePair("a:1", personalPad, base); ok {
		return PersonalConversationID(b, u), root
	}
	if b, u, ok := parsePersonalChatID(base); ok {
		return PersonalConversationID(b, u), root
	}
	d := w.dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if c := d.channels[key(base)]; c != nil {
		return c.id, root
	}
	if c := d.chats[key(base)]; c != nil {
		return c.id, root
	}
	return base, root
}

// Requests returns the request journal, oldest first.
func (e *Emulator) Requests() []JournalEntry { return e.journal.since(0, time.Time{}) }

// RequestsSince returns the journal entries with Seq > seq.
func (e *Emulator) RequestsSince(seq int64) []JournalEntry { return e.journal.since(seq, time.Time{}) }

// MergeSeed adds or replaces tenants, apps, catalog apps, users, teams and chats (by id).
// Credentials and installations are only added; nothing is applied if the fragment is invalid.
func (e *Emulator) MergeSeed(s *Seed) error {
	if err := s.validateShape(); err != nil {
		return err
	}
	return e.world().dir.merge(s, e.now())
}

// Install installs a catalog app in a scope, as a Teams admin or user would (no Graph roles
// involved). It returns the installation id; installing twice is an error.
func (e *Emulator) Install(s Scope, scopeID, teamsAppID string) (string, error) {
	d := e.world().dir
	d.mu.Lock()
	defer d.mu.Unlock()
	t, installs, canonical, err := d.scopeByID(s, scopeID)
	if err != nil {
		return "", err
	}
	if t.catalog[key(teamsAppID)] == nil {
		return "", fmt.Errorf("app %s is not in the catalog of tenant %s", teamsAppID, t.id)
	}
	if !t.install(installs, s, canonical, teamsAppID, nil) {
		return "", fmt.Errorf("app %s is already installed in %s %s", teamsAppID, s, scopeID)
	}
	return installs[key(teamsAppID)].id, nil
}

// Uninstall removes an app from a scope out of band, as a Teams admin or user would.
func (e *Emulator) Uninstall(s Scope, scopeID, teamsAppID string) error {
	d := e.world().dir
	d.mu.Lock()
	defer d.mu.Unlock()
	_, installs, _, err := d.scopeByID(s, scopeID)
	if err != nil {
		return err
	}
	if installs[key(teamsAppID)] == nil {
		return fmt.Errorf("app %s is not installed in %s %s", teamsAppID, s, scopeID)
	}
	delete(installs, key(teamsAppID))
	return nil
}

// scopeByID finds a scope in any tenant. Caller holds d.mu.
func (d *directory) scopeByID(s Scope, id string) (*tenant, map[string]*installation, string, error) {
	for _, t := range d.tenants {
		if in := t.installsOf(s, id); in != nil {
			canonical := id
			switch s {
			case ScopeUser:
				canonical = t.userFor(id).id
			case ScopeTeam:
				canonical = t.teams[key(id)].id
			case ScopeChat:
				canonical = t.chats[key(id)].id
			}
			return t, in, canonical, nil
		}
	}
	if s != ScopeTeam && s != ScopeUser && s != ScopeChat {
		return nil, nil, "", fmt.Errorf("scope %q is not team, user or chat", s)
	}
	return nil, nil, "", fmt.Errorf("%s %s not found", s, id)
}

// SetBlocked makes a user block (or unblock) a bot; botAppID "" means every bot.
func (e *Emulator) SetBlocked(userIDOrUPN, botAppID string, blocked bool) error {
	d := e.world().dir
	d.mu.Lock()
	defer d.mu.Unlock()
	var u *user
	for _, t := range d.tenants {
		if u = t.userFor(userIDOrUPN); u != nil {
			break
		}
	}
	if u == nil {
		return fmt.Errorf("user %s not found", userIDOrUPN)
	}
	switch {
	case botAppID == "":
		u.blockedAll = blocked
		if !blocked {
			u.blocked = map[string]bool{}
		}
	case blocked:
		u.blocked[key(botAppID)] = true
	default:
		delete(u.blocked, key(botAppID))
		u.blockedAll = false
	}
	return nil
}

// GrantRoles grants Graph application permissions to an app in a tenant (the app must exist
// there). Graph checks the current grants on every call, so this applies at once.
func (e *Emulator) GrantRoles(tenantID, clientID string, roles ...string) error {
	return e.setRoles(tenantID, clientID, roles, true)
}

// RevokeRoles removes Graph application permissions; it applies at once.
func (e *Emulator) RevokeRoles(tenantID, clientID string, roles ...string) error {
	return e.setRoles(tenantID, clientID, roles, false)
}

func (e *Emulator) setRoles(tenantID, clientID string, roles []string, grant bool) error {
	d := e.world().dir
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tenantFor(tenantID)
	if t == nil {
		return fmt.Errorf("tenant %s not found", tenantID)
	}
	a := t.apps[key(clientID)]
	if a == nil {
		return fmt.Errorf("app %s is not registered in tenant %s", clientID, tenantID)
	}
	for _, r := range roles {
		if grant {
			a.roles[r] = true
		} else {
			delete(a.roles, r)
		}
	}
	return nil
}

// ---- HTTP control API ----

func (e *Emulator) control(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	e.mux.HandleFunc(method+" /_emulator/v1"+path, func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).api = apiControl
		h(w, r)
	})
}

func controlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (e *Emulator) controlRoutes() {
	e.control("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	e.control("GET /activities", e.ctlActivities)
	e.control("GET /requests", e.ctlRequests)
	e.control("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": e.Faults()})
	})
	e.control("POST /faults", e.ctlAddFaults)
	e.control("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		e.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	e.control("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !e.RemoveFault(r.PathValue("id")) {
			controlError(w, http.StatusNotFound, fmt.Errorf("fault %s not found", r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := e.Reset(); err != nil {
			controlError(w, http.StatusInternalServerError, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control("POST /seed", e.ctlSeed)
	e.control("POST /install", e.ctlInstall(true))
	e.control("POST /uninstall", e.ctlInstall(false))
	e.control("POST /users/{user}/block", e.ctlBlock(true))
	e.control("POST /users/{user}/unblock", e.ctlBlock(false))
	e.control("POST /roles/grant", e.ctlRoles(true))
	e.control("POST /roles/revoke", e.ctlRoles(false))
	e.control("GET /state", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, e.State()) })
}

func (e *Emulator) ctlActivities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var list []StoredActivity
	if c := q.Get("conversationId"); c != "" {
		list = e.ConversationActivities(c)
	} else {
		list = e.Activities()
	}
	if q.Get("deleted") == "false" {
		list = slices.DeleteFunc(list, func(a StoredActivity) bool { return a.Deleted })
	}
	writeJSON(w, http.StatusOK, map[string]any{"activities": list})
}

func (e *Emulator) ctlRequests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var seq int64
	var t time.Time
	if s := q.Get("since"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			seq = n
		} else if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			controlError(w, http.StatusBadRequest, errors.New("since must be a sequence number or an RFC 3339 time"))
			return
		}
	}
	list := e.journal.since(seq, t)
	list = slices.DeleteFunc(list, func(j JournalEntry) bool {
		return (q.Get("api") != "" && j.API != q.Get("api")) || (q.Get("operation") != "" && j.Operation != q.Get("operation"))
	})
	writeJSON(w, http.StatusOK, map[string]any{"requests": list})
}

func (e *Emulator) ctlAddFaults(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	var list []Fault
	if strings.HasPrefix(strings.TrimSpace(string(b)), "[") {
		err = json.Unmarshal(b, &list)
	} else {
		var f Fault
		err = json.Unmarshal(b, &f)
		list = []Fault{f}
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, fmt.Errorf("decoding fault: %w", err))
		return
	}
	for i := range list {
		if err := list[i].normalize(); err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
	}
	ids := make([]string, 0, len(list))
	for _, f := range list {
		ids = append(ids, e.faults.add(f, e.now()))
	}
	if len(ids) == 1 {
		writeJSON(w, http.StatusCreated, map[string]string{"id": ids[0]})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ids": ids})
}

func (e *Emulator) ctlSeed(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	s, err := ParseSeed(b)
	if err == nil {
		err = e.MergeSeed(s)
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type installRequest struct {
	Scope      Scope  `json:"scope"`
	ScopeID    string `json:"scopeId"`
	TeamsAppID string `json:"teamsAppId"`
}

func (e *Emulator) ctlInstall(install bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req installRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			controlError(w, http.StatusBadRequest, fmt.Errorf("decoding request: %w", err))
			return
		}
		if !install {
			if err := e.Uninstall(req.Scope, req.ScopeID, req.TeamsAppID); err != nil {
				controlError(w, http.StatusNotFound, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		id, err := e.Install(req.Scope, req.ScopeID, req.TeamsAppID)
		if err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"installationId": id})
	}
}

func (e *Emulator) ctlBlock(blocked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := e.SetBlocked(r.PathValue("user"), r.URL.Query().Get("botId"), blocked); err != nil {
			controlError(w, http.StatusNotFound, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *Emulator) ctlRoles(grant bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			TenantID string   `json:"tenantId"`
			ClientID string   `json:"clientId"`
			Roles    []string `json:"roles"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			controlError(w, http.StatusBadRequest, fmt.Errorf("decoding request: %w", err))
			return
		}
		if err := e.setRoles(req.TenantID, req.ClientID, req.Roles, grant); err != nil {
			controlError(w, http.StatusNotFound, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// ---- state dump ----

// StateDump is a debugging view of the emulator (no secrets).
type StateDump struct {
	Tenants       []TenantState `json:"tenants"`
	Conversations int           `json:"conversations"`
	Activities    int           `json:"activities"`
	Faults        []Fault       `json:"faults"`
}

// TenantState is one tenant in a StateDump.
type TenantState struct {
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Domain  string           `json:"domain,omitempty"`
	Apps    []AppState       `json:"apps"`
	Catalog []CatalogAppSeed `json:"catalog"`
	Users   []UserState      `json:"users"`
	Teams   []TeamState      `json:"teams"`
	Chats   []ChatState      `json:"chats"`
}

// AppState is an app registration in a StateDump: credential counts, never credentials.
type AppState struct {
	ClientID             string   `json:"clientId"`
	Bot                  bool     `json:"bot"`
	MultiTenant          bool     `json:"multiTenant"`
	Secrets              int      `json:"secrets"`
	Certificates         int      `json:"certificates"`
	FederatedCredentials int      `json:"federatedCredentials"`
	GraphRoles           []string `json:"graphRoles"`
}

// InstallState is an app installation in a StateDump.
type InstallState struct {
	ID         string `json:"id"`
	TeamsAppID string `json:"teamsAppId"`
	Version    string `json:"version"`
}

// UserState is a user in a StateDump.
type UserState struct {
	ID                string         `json:"id"`
	UserPrincipalName string         `json:"userPrincipalName"`
	DisplayName       string         `json:"displayName"`
	BlockedBot        bool           `json:"blockedBot,omitempty"`
	BlockedBots       []string       `json:"blockedBots,omitempty"`
	InstalledApps     []InstallState `json:"installedApps"`
}

// TeamState is a team in a StateDump.
type TeamState struct {
	ID               string         `json:"id"`
	DisplayName      string         `json:"displayName"`
	GeneralChannelID string         `json:"generalChannelId"`
	Channels         []ChannelSeed  `json:"channels"`
	Members          []string       `json:"members"`
	InstalledApps    []InstallState `json:"installedApps"`
}

// ChatState is a group chat in a StateDump.
type ChatState struct {
	ID            string         `json:"id"`
	Topic         string         `json:"topic,omitempty"`
	Members       []string       `json:"members"`
	InstalledApps []InstallState `json:"installedApps"`
}

func installStates(m map[string]*installation) []InstallState {
	out := make([]InstallState, 0, len(m))
	for _, in := range m {
		out = append(out, InstallState{ID: in.id, TeamsAppID: in.teamsAppID, Version: in.version})
	}
	slices.SortFunc(out, func(a, b InstallState) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func memberIDs(m map[string]*user) []string {
	out := make([]string, 0, len(m))
	for _, u := range m {
		out = append(out, u.id)
	}
	slices.Sort(out)
	return out
}

// State returns a debugging dump of the directory and counters.
func (e *Emulator) State() StateDump {
	w := e.world()
	d := w.dir
	d.mu.RLock()
	var out StateDump
	for _, t := range d.tenants {
		out.Tenants = append(out.Tenants, tenantState(d, t))
	}
	d.mu.RUnlock()
	slices.SortFunc(out.Tenants, func(a, b TenantState) int { return strings.Compare(a.ID, b.ID) })
	w.convs.m.Range(func(any, any) bool { out.Conversations++; return true })
	w.log.mu.Lock()
	out.Activities = len(w.log.all)
	w.log.mu.Unlock()
	out.Faults = e.Faults()
	return out
}

func tenantState(d *directory, t *tenant) TenantState {
	ts := TenantState{ID: t.id, Name: t.name, Domain: t.domain}
	for _, a := range t.apps {
		reg := d.apps[key(a.clientID)]
		ts.Apps = append(ts.Apps, AppState{
			ClientID: a.clientID, Bot: reg.bot, MultiTenant: reg.multiTenant, Secrets: len(reg.secrets),
			Certificates: len(reg.certs), FederatedCredentials: len(reg.fics), GraphRoles: sortedKeys(a.roles),
		})
	}
	for _, c := range t.catalog {
		ts.Catalog = append(ts.Catalog, c.CatalogAppSeed)
	}
	for _, u := range t.users {
		ts.Users = append(ts.Users, UserState{
			ID: u.id, UserPrincipalName: u.upn, DisplayName: u.displayName, BlockedBot: u.blockedAll,
			BlockedBots: sortedKeys(u.blocked), InstalledApps: installStates(u.installs),
		})
	}
	for _, tm := range t.teams {
		st := TeamState{ID: tm.id, DisplayName: tm.displayName, GeneralChannelID: tm.general.id,
			Members: memberIDs(tm.members), InstalledApps: installStates(tm.installs)}
		for _, c := range tm.channels {
			st.Channels = append(st.Channels, ChannelSeed{ID: c.id, DisplayName: c.displayName, Description: c.description})
		}
		ts.Teams = append(ts.Teams, st)
	}
	for _, c := range t.chats {
		ts.Chats = append(ts.Chats, ChatState{ID: c.id, Topic: c.topic, Members: memberIDs(c.members),
			InstalledApps: installStates(c.installs)})
	}
	slices.SortFunc(ts.Apps, func(a, b AppState) int { return strings.Compare(a.ClientID, b.ClientID) })
	slices.SortFunc(ts.Catalog, func(a, b CatalogAppSeed) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(ts.Users, func(a, b UserState) int { return strings.Compare(a.DisplayName, b.DisplayName) })
	slices.SortFunc(ts.Teams, func(a, b TeamState) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(ts.Chats, func(a, b ChatState) int { return strings.Compare(a.ID, b.ID) })
	return ts
}
