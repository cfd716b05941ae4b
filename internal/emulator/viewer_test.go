package emulator

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator/ui"
)

func TestViewerPage(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	r := v.do("GET", "/_emulator/ui/", "", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(string(r.raw)).To(ContainSubstring(`<script src="viewer.js">`))
	g.Expect(r.header.Get("Content-Security-Policy")).To(ContainSubstring("default-src 'self'"))
	r = v.do("GET", "/_emulator/ui/viewer.js", "", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.header.Get("Content-Type")).To(ContainSubstring("javascript"))
	g.Expect(string(r.raw)).To(ContainSubstring("Copyright (c) 2017 Microsoft"), "the Adaptive Cards renderer is bundled")
	r = v.do("GET", "/_emulator/ui/viewer.css", "", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(v.do("GET", "/_emulator/ui/nothing.js", "", nil).status).To(Equal(http.StatusNotFound))
	g.Expect(v.e.Requests()).To(BeEmpty(), "the viewer is not a Microsoft API: nothing in the journal")
}

// The view groups messages as Teams shows them: a channel's threads with their replies, a group
// chat, each person's 1:1 chat with the bot; in order, with edits, deletions and the sender.
func TestViewerView(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.botToken()
	v.install(ScopeTeam, DefaultTeamID)
	v.install(ScopeChat, DefaultGroupChatID)
	v.install(ScopeUser, DefaultUserAdeleID)

	r := v.do("POST", "/teams/v3/conversations", tok, map[string]any{
		"isGroup": true, "tenantId": DefaultTenantID,
		"channelData": map[string]any{"channel": map[string]string{"id": DefaultAlertsChannelID}},
		"activity":    text("root post"),
	})
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	root := r.str("activityId")
	v.clock.Advance(time.Second)
	r = v.do("POST", conv(r.str("id")), tok, text("a reply"))
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	reply := r.str("id")
	v.clock.Advance(time.Second)
	g.Expect(v.do("PUT", conv(DefaultAlertsChannelID)+"/"+reply, tok, text("a reply, edited")).status).To(Equal(http.StatusOK))
	g.Expect(v.do("POST", conv(DefaultGroupChatID), tok, text("to the chat")).status).To(Equal(http.StatusCreated))
	r = v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserAdeleID))
	g.Expect(r.status).To(BeNumerically("<", 300), string(r.raw))
	personal := r.str("id")
	r = v.do("POST", conv(personal), tok, text("first"))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	first := r.str("id")
	v.clock.Advance(time.Second)
	g.Expect(v.do("POST", conv(personal), tok, text("second")).status).To(Equal(http.StatusCreated))
	g.Expect(v.do("DELETE", conv(personal)+"/"+first, tok, nil).status).To(Equal(http.StatusOK))

	r = v.do("GET", "/_emulator/ui/api/view", "", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	var view ui.View
	g.Expect(json.Unmarshal(r.raw, &view)).To(Succeed())
	g.Expect(view.Live).To(BeTrue())
	g.Expect(view.Tenants).To(HaveLen(1))
	ten := view.Tenants[0]
	g.Expect(ten.Teams).To(HaveLen(1))
	var alerts *ui.Channel
	for i, c := range ten.Teams[0].Channels {
		if c.ID == DefaultAlertsChannelID {
			alerts = &ten.Teams[0].Channels[i]
		}
	}
	g.Expect(ten.Teams[0].Channels[0].ID).To(Equal(DefaultGeneralChannelID), "General first, as in Teams")
	g.Expect(alerts).NotTo(BeNil())
	g.Expect(alerts.Threads).To(HaveLen(1))
	th := alerts.Threads[0]
	g.Expect(th.Root.ID).To(Equal(root))
	g.Expect(string(th.Root.Activity)).To(ContainSubstring("root post"))
	g.Expect(th.Root.From).To(Equal(DefaultTeamsAppName))
	g.Expect(th.Replies).To(HaveLen(1))
	g.Expect(th.Replies[0].ID).To(Equal(reply))
	g.Expect(th.Replies[0].UpdatedAt).NotTo(BeNil(), "the edit is marked")
	g.Expect(string(th.Replies[0].Activity)).To(ContainSubstring("a reply, edited"))

	g.Expect(ten.Chats).To(HaveLen(1))
	g.Expect(ten.Chats[0].Messages).To(HaveLen(1))
	g.Expect(ten.Chats[0].Members).To(ContainElement("Megan Bowen"))

	var adele *ui.Person
	for i, p := range ten.People {
		if p.ID == DefaultUserAdeleID {
			adele = &ten.People[i]
		}
	}
	g.Expect(adele).NotTo(BeNil())
	g.Expect(adele.Installed).To(BeTrue())
	g.Expect(adele.Chats).To(HaveLen(1))
	g.Expect(adele.Chats[0].BotID).To(Equal(DefaultBotAppID))
	g.Expect(adele.Chats[0].TeamsAppID).To(Equal(DefaultTeamsAppID), "the app a person installs from the page")
	g.Expect(ten.Apps).To(ContainElement(ui.App{TeamsAppID: DefaultTeamsAppID, BotID: DefaultBotAppID, Name: DefaultTeamsAppName}))
	msgs := adele.Chats[0].Messages
	g.Expect(msgs).To(HaveLen(2))
	g.Expect(msgs[0].ID).To(Equal(first))
	g.Expect(msgs[0].Deleted).To(BeTrue(), "the deletion is marked")
	g.Expect(string(msgs[1].Activity)).To(ContainSubstring("second"))
}

// Every stored, edited or deleted message wakes the page's event stream.
func TestViewerEvents(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.botToken()
	v.install(ScopeChat, DefaultGroupChatID)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", v.srv.URL+"/_emulator/ui/api/events", nil)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := v.c.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = res.Body.Close() }()
	g.Expect(res.Header.Get("Content-Type")).To(Equal("text/event-stream"))
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
		close(events)
	}()
	// The first line (retry) is flushed before the handler waits, so the stream is open when
	// the test sends; a send before the wait started would still be seen as the next change.
	g.Consistently(events, 300*time.Millisecond).ShouldNot(Receive(), "no change, no event")

	r := v.do("POST", conv(DefaultGroupChatID), tok, text("hello"))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	g.Eventually(events, 10*time.Second).Should(Receive(Equal("changed")))
	g.Expect(v.do("PUT", conv(DefaultGroupChatID)+"/"+r.str("id"), tok, text("hello again")).status).To(Equal(http.StatusOK))
	g.Eventually(events, 10*time.Second).Should(Receive(Equal("changed")))
	g.Expect(v.do("DELETE", conv(DefaultGroupChatID)+"/"+r.str("id"), tok, nil).status).To(Equal(http.StatusOK))
	g.Eventually(events, 10*time.Second).Should(Receive(Equal("changed")))
}
