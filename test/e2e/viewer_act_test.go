package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// botHeard is what the fake bot endpoint received: one activity.
type botHeard struct {
	Type      string `json:"type"`
	Name      string `json:"name"`
	Text      string `json:"text"`
	Action    string `json:"action"`
	ReplyToID string `json:"replyToId"`
	From      struct {
		AADObjectID string `json:"aadObjectId"`
	} `json:"from"`
	Value struct {
		Action struct {
			Type string `json:"type"`
			Verb string `json:"verb"`
		} `json:"action"`
	} `json:"value"`
}

// TestViewerActsAsUser: from the viewer, a person presses a card's Action.Execute button,
// writes to the bot and installs the app, and the bot's messaging endpoint hears each, as Teams
// would send it (through the emulator's /_emulator/v1/bot/act).
func TestViewerActsAsUser(t *testing.T) {
	g := NewWithT(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: install Debian's chromium (.ci/run does)")
	}
	emu, err := emulator.New(nil, emulator.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := emu.StartTLS("127.0.0.1:0", t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = srv.Close() })

	heard := make(chan botHeard, 16)
	bot := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a botHeard
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&a); err == nil {
			heard <- a
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"Thanks"}`)
	}))
	t.Cleanup(bot.Close)
	pool := x509.NewCertPool()
	pool.AddCert(bot.Certificate())
	emu.SetBotEndpoint(emulator.BotEndpoint{URL: bot.URL + "/api/messages", RootCAs: pool, ServiceURL: srv.URL + "/teams/"})

	// The bot sends Adele a card with a button, as the operator would.
	_, err = emu.Install(emulator.ScopeUser, emulator.DefaultUserAdeleID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	activityID := sendCardToAdele(t, srv)
	convID := emu.Activities()[0].ConversationID

	ctx := newBrowser(t, chromium)
	conv := "personal:" + convID
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/_emulator/ui/"),
		chromedp.WaitVisible(fmt.Sprintf(`nav a[data-conv=%q]`, conv)),
		chromedp.Click(fmt.Sprintf(`nav a[data-conv=%q]`, conv)),
		chromedp.WaitVisible(`section.conversation .card .ac-pushButton`),
		chromedp.Click(`section.conversation .card .ac-pushButton`))).To(Succeed())
	var a botHeard
	g.Eventually(heard, 30*time.Second).Should(Receive(&a))
	g.Expect(a.Type).To(Equal("invoke"))
	g.Expect(a.Name).To(Equal("adaptiveCard/action"))
	g.Expect(a.Value.Action.Type).To(Equal("Action.Execute"))
	g.Expect(a.Value.Action.Verb).To(Equal("ack"))
	g.Expect(a.ReplyToID).To(Equal(activityID))
	g.Expect(a.From.AADObjectID).To(Equal(emulator.DefaultUserAdeleID))
	g.Eventually(func() (string, error) {
		return chromedp.Run(ctx, chromedp.Text(`section.conversation .note`))
	}, 30*time.Second, 200*time.Millisecond).Should(ContainSubstring("The bot answered: invoke → 200"))

	g.Expect(chromedp.Do(ctx, chromedp.SendKeys(`section.conversation .act-text`, "hello bot"),
		chromedp.Click(`section.conversation .act-send`))).To(Succeed())
	g.Eventually(func() (string, error) {
		return chromedp.Run(ctx, chromedp.Text(`section.conversation .note`))
	}, 30*time.Second, 200*time.Millisecond).Should(ContainSubstring("The bot answered: message → 200"))
	g.Eventually(heard, 30*time.Second).Should(Receive(&a))
	g.Expect(a.Type).To(Equal("message"))
	g.Expect(a.Text).To(Equal("hello bot"))

	// Uninstall, then install again: each is an installationUpdate, then a conversationUpdate.
	for _, step := range []struct{ button, action string }{{"act-uninstall", "remove"}, {"act-install", "add"}} {
		g.Expect(chromedp.Do(ctx, chromedp.Click(`section.conversation .`+step.button))).To(Succeed())
		g.Eventually(heard, 30*time.Second).Should(Receive(&a), step.button)
		g.Expect(a.Type).To(Equal("installationUpdate"))
		g.Expect(a.Action).To(Equal(step.action))
		g.Eventually(heard, 30*time.Second).Should(Receive(&a), step.button)
		g.Expect(a.Type).To(Equal("conversationUpdate"))
		g.Eventually(func() (string, error) {
			return chromedp.Run(ctx, chromedp.Text(`section.conversation .note`))
		}, 30*time.Second, 200*time.Millisecond).Should(ContainSubstring("installationUpdate → 200"))
	}
	installed, err := chromedp.Run(ctx, chromedp.Text(`section.conversation h2 .installed`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(installed).To(Equal("app installed"))
}

// sendCardToAdele sends, as the default bot through the emulator's Connector, a card with an
// Action.Execute button to Adele's 1:1 chat, and returns its activity id.
func sendCardToAdele(t *testing.T, srv *emulator.Server) string {
	t.Helper()
	g := NewWithT(t)
	c := srv.Client()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultBotAppID},
		"client_secret": {emulator.DefaultBotSecret}, "scope": {"https://api.botframework.com/.default"}}
	res, err := c.PostForm(srv.URL+"/"+emulator.DefaultTenantID+"/oauth2/v2.0/token", form)
	g.Expect(err).NotTo(HaveOccurred())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	g.Expect(json.NewDecoder(res.Body).Decode(&tok)).To(Succeed())
	_ = res.Body.Close()
	post := func(path string, body any) map[string]any {
		b, err := json.Marshal(body)
		g.Expect(err).NotTo(HaveOccurred())
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+path, bytes.NewReader(b))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = res.Body.Close() }()
		var out map[string]any
		g.Expect(json.NewDecoder(res.Body).Decode(&out)).To(Succeed())
		g.Expect(res.StatusCode).To(BeNumerically("<", 300), "%v", out)
		return out
	}
	created := post("/teams/v3/conversations", map[string]any{
		"isGroup": false, "bot": map[string]string{"id": "28:" + emulator.DefaultBotAppID},
		"members": []any{map[string]string{"id": emulator.DefaultUserAdeleID}}, "tenantId": emulator.DefaultTenantID,
		"channelData": map[string]any{"tenant": map[string]string{"id": emulator.DefaultTenantID}},
	})
	id, _ := created["id"].(string)
	g.Expect(id).NotTo(BeEmpty())
	card := map[string]any{"type": "AdaptiveCard", "version": "1.5",
		"body":    []any{map[string]any{"type": "TextBlock", "text": "Deploy **payments** to production?"}},
		"actions": []any{map[string]any{"type": "Action.Execute", "title": "Acknowledge", "verb": "ack"}}}
	sent := post("/teams/v3/conversations/"+url.PathEscape(id)+"/activities", map[string]any{
		"type": "message", "attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive", "content": card}},
		"conversation": map[string]string{"id": id, "tenantId": emulator.DefaultTenantID},
		"channelData":  map[string]any{"tenant": map[string]string{"id": emulator.DefaultTenantID}},
	})
	activityID, _ := sent["id"].(string)
	g.Expect(activityID).NotTo(BeEmpty())
	g.Expect(strings.TrimSpace(activityID)).To(Equal(activityID))
	return activityID
}

// TestPreviewInBrowser: bin/teams-preview's page, opened in Chromium, renders the card with the
// Adaptive Cards renderer, the mention highlighted, and lists what Teams would not render.
func TestPreviewInBrowser(t *testing.T) {
	g := NewWithT(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: install Debian's chromium (.ci/run does)")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "teams-preview")
	build := exec.Command("go", "build", "-o", bin, "./cmd/teams-preview")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "building teams-preview:\n%s", out)
	bad := filepath.Join(tmp, "bad.yaml")
	g.Expect(os.WriteFile(bad, []byte(`apiVersion: teams.operator.dev/v1alpha1
kind: ProactiveMessage
metadata: {name: approval}
spec:
  targetRef: {name: t}
  adaptiveCard:
    type: AdaptiveCard
    version: "1.5"
    body: [{type: TextBlock, text: "Deploy **payments** now?"}, {type: Badge, text: new}]
`), 0o600)).To(Succeed())
	page := filepath.Join(tmp, "preview.html")
	cmd := exec.Command(bin, "-o", page, filepath.Join(repoRoot, "config/samples/message_card.yaml"),
		filepath.Join(repoRoot, "config/samples/message_mention.yaml"), bad)
	out, err = cmd.CombinedOutput()
	var exit *exec.ExitError
	g.Expect(errors.As(err, &exit)).To(BeTrue(), "a problem is exit status 1: %s", out)
	g.Expect(exit.ExitCode()).To(Equal(1))

	// Served over loopback HTTP, as any static file would be; the page fetches nothing else.
	files := httptest.NewServer(http.FileServer(http.Dir(tmp)))
	t.Cleanup(files.Close)
	ctx := newBrowser(t, chromium)
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(files.URL+"/preview.html"),
		chromedp.WaitVisible(`section.conversation .card .ac-adaptiveCard`))).To(Succeed())
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		g.Expect(err).NotTo(HaveOccurred(), sel)
		return s
	}
	g.Expect(text(`section.conversation`)).To(And(ContainSubstring("FIRING: NodeDiskPressure"),
		ContainSubstring("Deploy payments now?")))
	g.Expect(text(`section.conversation .mention`)).To(Equal("Megan Bowen"))
	g.Expect(text(`section.conversation .problems`)).To(ContainSubstring(`approval: $.body[1].type: Teams does not render the element type "Badge"`))
}
