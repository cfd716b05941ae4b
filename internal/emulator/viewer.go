package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/teams-operator/teams-operator/internal/emulator/ui"
)

// The conversation viewer: a page at /_emulator/ui/ that shows the emulator's tenants as Teams
// would (package ui), its view model at api/view, and server-sent events at api/events on
// every change, so the page updates without a reload.

const uiPrefix = "/_emulator/ui/"

// changeSignal wakes whoever waits for the next change of the activities (the viewer's event
// streams). With no waiter, a change costs a lock and nothing else.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that is closed at the next change.
func (s *changeSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *changeSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

func (e *Emulator) viewerRoutes() {
	static := ui.Static(uiPrefix)
	e.mux.HandleFunc("GET "+uiPrefix, func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).api = apiControl
		static.ServeHTTP(w, r)
	})
	e.mux.HandleFunc("GET /_emulator/ui", func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).api = apiControl
		http.Redirect(w, r, uiPrefix, http.StatusFound)
	})
	e.mux.HandleFunc("GET "+uiPrefix+"api/view", func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).api = apiControl
		v := e.View()
		v.Live = true
		writeJSON(w, http.StatusOK, v)
	})
	e.mux.HandleFunc("GET "+uiPrefix+"api/events", func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).api = apiControl
		e.viewerEvents(w, r)
	})
}

// viewerEvents streams a "changed" event after every change of the activities (at most one
// per 100 ms), and a comment every 15 s so proxies keep the connection open.
func (e *Emulator) viewerEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	next := e.changes.wait() // before the page can see the stream open and load the view
	if !send("retry: 1000\n\n") {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if !send(": keep-alive\n\n") {
				return
			}
			continue
		case <-next:
		}
		next = e.changes.wait() // a change from here on, even during the pause below, is the next event
		if !send(fmt.Sprintf("event: changed\ndata: %d\n\n", seq)) {
			return
		}
		select { // coalesce a burst of sends into one event
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// View is the viewer's model of every tenant: teams, channels and threads, group chats, and each
// person's 1:1 chats with bots, each conversation's messages in order.
func (e *Emulator) View() *ui.View {
	st := e.State()
	v := &ui.View{Title: "Teams emulator"}
	byConv := map[string][]StoredActivity{}
	for _, a := range e.Activities() {
		key := a.ConversationID
		if a.ConversationType == ConversationChannel {
			key = a.ChannelID
		}
		byConv[key] = append(byConv[key], a)
	}
	for _, t := range st.Tenants {
		v.Tenants = append(v.Tenants, viewTenant(&t, byConv))
	}
	return v
}

func viewTenant(t *TenantState, byConv map[string][]StoredActivity) ui.Tenant {
	bots := map[string]string{}
	vt := ui.Tenant{ID: t.ID, Name: t.Name}
	for _, c := range t.Catalog {
		if c.BotID != "" {
			bots[c.BotID] = c.DisplayName
			vt.Apps = append(vt.Apps, ui.App{TeamsAppID: c.ID, BotID: c.BotID, Name: c.DisplayName})
		}
	}
	for _, tm := range t.Teams {
		team := ui.Team{ID: tm.ID, Name: tm.DisplayName}
		channels := tm.Channels
		if !slices.ContainsFunc(channels, func(c ChannelSeed) bool { return c.ID == tm.GeneralChannelID }) {
			channels = append([]ChannelSeed{{ID: tm.GeneralChannelID, DisplayName: "General"}}, channels...)
		}
		for _, c := range channels {
			team.Channels = append(team.Channels, ui.Channel{ID: c.ID, Name: c.DisplayName,
				Threads: threads(byConv[c.ID], bots)})
		}
		vt.Teams = append(vt.Teams, team)
	}
	names := map[string]string{}
	for _, u := range t.Users {
		names[u.ID] = u.DisplayName
	}
	for _, c := range t.Chats {
		chat := ui.Chat{ID: c.ID, Topic: c.Topic, Messages: messages(byConv[c.ID], bots)}
		for _, m := range c.Members {
			chat.Members = append(chat.Members, names[m])
		}
		vt.Chats = append(vt.Chats, chat)
	}
	personal := map[string][]StoredActivity{}
	for _, list := range byConv {
		for _, a := range list {
			if a.ConversationType == ConversationPersonal && a.TenantID == t.ID {
				personal[a.UserID] = append(personal[a.UserID], a)
			}
		}
	}
	for _, u := range t.Users {
		vt.People = append(vt.People, ui.Person{ID: u.ID, Name: u.DisplayName, UPN: u.UserPrincipalName,
			Installed: len(u.InstalledApps) > 0, Chats: personalChats(personal[u.ID], bots, vt.Apps)})
	}
	return vt
}

// personalChats splits one person's 1:1 messages by bot.
func personalChats(list []StoredActivity, bots map[string]string, apps []ui.App) []ui.Personal {
	byBot := map[string][]StoredActivity{}
	for _, a := range list {
		byBot[a.BotID] = append(byBot[a.BotID], a)
	}
	out := make([]ui.Personal, 0, len(byBot))
	for bot, acts := range byBot {
		sortActivities(acts)
		p := ui.Personal{ConversationID: acts[0].ConversationID, BotID: bot, BotName: bots[bot],
			Messages: messages(acts, bots)}
		if i := slices.IndexFunc(apps, func(a ui.App) bool { return a.BotID == bot }); i >= 0 {
			p.TeamsAppID = apps[i].TeamsAppID
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ui.Personal) int { return strings.Compare(a.BotID, b.BotID) })
	return out
}

// threads groups a channel's messages by thread: the root, then its replies, oldest first.
func threads(list []StoredActivity, bots map[string]string) []ui.Thread {
	sortActivities(list)
	index := map[string]int{}
	var out []ui.Thread
	for _, a := range list {
		root := a.ThreadID
		if root == "" {
			root = a.ActivityID
		}
		i, ok := index[root]
		if !ok {
			index[root] = len(out)
			out = append(out, ui.Thread{Root: ui.Message{ID: root, From: "(a message the emulator does not hold)"}})
			i = len(out) - 1
		}
		if a.ActivityID == root {
			out[i].Root = message(&a, bots)
		} else {
			out[i].Replies = append(out[i].Replies, message(&a, bots))
		}
	}
	return out
}

func messages(list []StoredActivity, bots map[string]string) []ui.Message {
	sortActivities(list)
	out := make([]ui.Message, 0, len(list))
	for i := range list {
		out = append(out, message(&list[i], bots))
	}
	return out
}

func sortActivities(list []StoredActivity) {
	slices.SortStableFunc(list, func(a, b StoredActivity) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// message is one stored activity as the viewer shows it. The sender is the activity's from when
// it names one (a person's message), else the bot's app.
func message(a *StoredActivity, bots map[string]string) ui.Message {
	m := ui.Message{ID: a.ActivityID, ConversationID: a.ConversationID, CreatedAt: a.CreatedAt,
		UpdatedAt: a.UpdatedAt, Deleted: a.Deleted, Activity: a.Activity}
	var act struct {
		From *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"from"`
	}
	_ = json.Unmarshal(a.Activity, &act) // stored activities were parsed on arrival
	switch {
	case act.From != nil && act.From.Name != "" && !strings.HasPrefix(act.From.ID, "28:"):
		m.From, m.FromUser = act.From.Name, true
	case bots[a.BotID] != "":
		m.From = bots[a.BotID]
	default:
		m.From = "Bot " + a.BotID
	}
	return m
}
