package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager/amapi"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// TestAlertmanagerCardButtons runs the real Alertmanager, the manager binary with its receiver
// and bot endpoint, and the emulator as Teams: an alert fires, a user in the team presses
// Silence 1h, Alertmanager lists exactly that silence with the group's matchers and the user as
// creator, Alertmanager's repeats stop, Expire silence removes it, and the Teams message shows
// each step in place. A forged press is refused by the endpoint.
func TestAlertmanagerCardButtons(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	env, err := harness.Start(harness.Options{Dir: filepath.Join(dir, "harness")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })

	g.Expect(env.Namespace(ctx, amNamespace)).To(Succeed())
	_, err = env.Emulator.Install("team", emulator.DefaultTeamID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	token := amRandomToken(t)
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: amNamespace, Name: "alertmanager-webhook"},
		StringData: map[string]string{"token": token},
	})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: amNamespace, Name: amTarget},
		Spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
			TeamID: emulator.DefaultTeamID, ChannelID: emulator.DefaultGeneralChannelID}},
	})).To(Succeed())

	// The manager: the receiver and the bot endpoint over TLS.
	certDir := filepath.Join(dir, "manager-tls")
	amWriteCert(t, certDir)
	receiverAddr, botAddr := amFreeAddr(t), amFreeAddr(t)
	mgr, err := env.StartManager(ctx, "manager",
		"--default-credentials", amNamespace+"/"+harness.CredentialsName,
		"--alertmanager-bind-address", receiverAddr, "--alertmanager-cert-path", certDir,
		"--bot-endpoint-bind-address", botAddr, "--bot-endpoint-cert-path", certDir,
		"--bot-openid-metadata-url", env.EmulatorServer.URL+emulator.BotOpenIDMetadataPath)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { amDumpOnFailure(t, mgr.Log) })
	caPEM, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	botURL := "https://" + botAddr + "/api/messages"
	env.Emulator.SetBotEndpoint(emulator.BotEndpoint{URL: botURL, RootCAs: pool, ServiceURL: env.EmulatorServer.URL + "/teams/"})

	// Alertmanager, repeating a group every 2 s so a silence that works is seen to stop them.
	amDir := filepath.Join(dir, "alertmanager")
	g.Expect(os.MkdirAll(amDir, 0o700)).To(Succeed())
	tokenFile := filepath.Join(amDir, "token")
	g.Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
	am, err := harness.StartAlertmanager(amDir, fmt.Sprintf(`route:
  receiver: teams
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: teams
    webhook_configs:
      - url: https://%s/alertmanager/v1/namespaces/%s/targets/%s
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: %s}
          tls_config: {ca_file: %s}
`, receiverAddr, amNamespace, amTarget, tokenFile, filepath.Join(certDir, "tls.crt")))
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		g.Expect(am.Stop(10 * time.Second)).To(Succeed())
		amDumpOnFailure(t, am.Log)
	})
	// The namespace names its Alertmanager.
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: amNamespace, Name: "alertmanager-api"},
		Data:       map[string][]byte{"url": []byte(am.URL), "ca.crt": am.CAPEM},
	})).To(Succeed())

	alert := map[string]any{
		"labels":      map[string]string{"alertname": "DiskFull", "cluster": "eu-1", "severity": "warning", "instance": "db-1"},
		"annotations": map[string]string{"summary": "db-1's disk is 95% full"},
		"startsAt":    time.Now().UTC().Add(-time.Minute).Format(time.RFC3339),
	}
	postAlert(t, ctx, am, alert)

	channel := func() []emulator.StoredActivity {
		return env.Emulator.ConversationActivities(emulator.DefaultGeneralChannelID)
	}
	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("FIRING:1 DiskFull"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring(`"Silence 1h"`))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "no FIRING card with buttons in Teams")
	message := channel()[0]
	received := func() int {
		return amMetric(t, ctx, mgr.MetricsURL, "teams_operator_alertmanager_notifications_received_total")
	}
	// Before the silence Alertmanager repeats the group (the receiver writes nothing for a repeat).
	g.Eventually(received).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(BeNumerically(">=", 3))

	// Adele, a member of the team, presses Silence 1h.
	answer := press(t, ctx, env, message, "Silence 1h")
	g.Expect(answer.Type).To(Equal("application/vnd.microsoft.card.adaptive"))
	g.Expect(string(answer.Value)).To(ContainSubstring("Silenced until"))
	g.Expect(string(answer.Value)).To(ContainSubstring("by Adele Vance"))

	c, err := amapi.New(amapi.Options{BaseURL: mustURL(t, am.URL), CAPEM: am.CAPEM})
	g.Expect(err).NotTo(HaveOccurred())
	list := listSilences(t, ctx, am)
	g.Expect(list).To(HaveLen(1))
	g.Expect(list[0].Status.State).To(Equal(amapi.StateActive))
	g.Expect(list[0].CreatedBy).To(Equal("Adele Vance (" + emulator.DefaultUserAdeleID + ")"))
	g.Expect(list[0].Matchers).To(ConsistOf(
		amapi.Matcher{Name: "alertname", Value: "DiskFull", IsEqual: true},
		amapi.Matcher{Name: "cluster", Value: "eu-1", IsEqual: true},
		amapi.Matcher{Name: "instance", Value: "db-1", IsEqual: true},
		amapi.Matcher{Name: "severity", Value: "warning", IsEqual: true}))
	g.Expect(list[0].EndsAt.Sub(list[0].StartsAt)).To(BeNumerically("~", time.Hour, 5*time.Second))
	g.Expect(list[0].Comment).To(ContainSubstring("https://teams.microsoft.com/l/message/"))

	// The Teams message everyone sees is edited to say so, in place.
	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(msgs[0].ActivityID).To(Equal(message.ActivityID))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("Silenced until"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring(`"Expire silence"`))
	}).WithTimeout(30*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the card was not edited to Silenced")
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Eventually(func(g Gomega) {
		pms := &teamsv1alpha1.ProactiveMessageList{}
		g.Expect(env.Client.List(ctx, pms, client.InNamespace(amNamespace))).To(Succeed())
		g.Expect(pms.Items).To(HaveLen(1))
		*pm = pms.Items[0]
		g.Expect(pm.Status.CardActions).NotTo(BeNil())
		g.Expect(pm.Status.CardActions.Silence).NotTo(BeNil())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(pm.Status.CardActions.Silence.ID).To(Equal(list[0].ID))

	// Alertmanager's repeats stop: the silence suppresses them, and nothing else reaches Teams.
	quiet := received()
	g.Consistently(received).WithTimeout(6 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(quiet))
	g.Expect(env.Emulator.Activities()).To(HaveLen(1))

	// Expire silence removes it; the card gets its Silence buttons back.
	press(t, ctx, env, channel()[0], "Expire silence")
	s, err := c.GetSilence(ctx, list[0].ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Status.State).To(Equal(amapi.StateExpired))
	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).NotTo(ContainSubstring("Silenced until"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring(`"Silence 1h"`))
	}).WithTimeout(30*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the card was not edited back")

	// Acknowledge, by another member.
	answer = pressAs(t, ctx, env, channel()[0], "Acknowledge", emulator.DefaultUserAlexID)
	g.Expect(string(answer.Value)).To(ContainSubstring("Acknowledged by"))
	g.Eventually(func(g Gomega) {
		g.Expect(string(channel()[0].Activity)).To(ContainSubstring("Acknowledged by"))
	}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

	// The target narrows who may act: Alex is refused in the card, and nothing changes.
	ct := &teamsv1alpha1.ConversationTarget{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: amNamespace, Name: amTarget}, ct)).To(Succeed())
	ct.Spec.CardActions = &teamsv1alpha1.CardActionsPolicy{AllowedUsers: []string{emulator.DefaultUserAdeleID}}
	g.Expect(env.Client.Update(ctx, ct)).To(Succeed())
	answer = pressAs(t, ctx, env, channel()[0], "Silence 4h", emulator.DefaultUserAlexID)
	g.Expect(string(answer.Value)).To(ContainSubstring("Only the people the ConversationTarget oncall allows"))
	g.Expect(listSilences(t, ctx, am)).To(HaveLen(1), "no new silence")

	// A forged press (no Bot Connector token) is refused by the endpoint and changes nothing.
	before := channel()[0]
	forged, err := json.Marshal(map[string]any{"type": "invoke", "name": "adaptiveCard/action", "id": "forged-1",
		"serviceUrl": env.EmulatorServer.URL + "/teams/", "channelId": "msteams",
		"from":         map[string]any{"id": "29:mallory", "aadObjectId": emulator.DefaultUserAdeleID},
		"recipient":    map[string]any{"id": "28:" + emulator.DefaultBotAppID},
		"conversation": map[string]any{"id": emulator.DefaultGeneralChannelID},
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "alertmanager.silence",
			"data": map[string]any{"namespace": amNamespace, "name": pm.Name, "duration": "1h0m0s"}}}})
	g.Expect(err).NotTo(HaveOccurred())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, botURL, bytes.NewReader(forged))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsTrusting(pool)}}
	resp, err := hc.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(listSilences(t, ctx, am)).To(HaveLen(1), "no new silence")
	g.Expect(channel()[0].Activity).To(Equal(before.Activity))

	metrics := amScrape(t, ctx, mgr.MetricsURL)
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_card_actions_total{action="silence",result="done"} 1`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_card_actions_total{action="expire_silence",result="done"} 1`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_card_actions_total{action="acknowledge",result="done"} 1`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_card_actions_total{action="silence",result="refused_not_allowed"} 1`))
}

// invokeValue is the body of an adaptiveCard/action answer.
type invokeValue struct {
	StatusCode int             `json:"statusCode"`
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
}

func press(t *testing.T, ctx context.Context, env *harness.Env, msg emulator.StoredActivity, title string) invokeValue {
	return pressAs(t, ctx, env, msg, title, emulator.DefaultUserAdeleID)
}

// pressAs makes user press the button titled title on the card of msg, as Teams would.
func pressAs(t *testing.T, ctx context.Context, env *harness.Env, msg emulator.StoredActivity, title, user string) invokeValue {
	t.Helper()
	action := findButton(t, msg.Activity, title)
	value, err := json.Marshal(map[string]any{"action": action, "trigger": "manual"})
	if err != nil {
		t.Fatal(err)
	}
	answers, err := env.Emulator.Act(ctx, emulator.UserAction{Kind: emulator.ActInvoke, User: user,
		Scope: "team", ScopeID: emulator.DefaultTeamID, Name: "adaptiveCard/action", Value: value, ReplyToID: msg.ActivityID})
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 1 || answers[0].Status != http.StatusOK {
		t.Fatalf("pressing %q: %+v", title, answers)
	}
	var v invokeValue
	if err := json.Unmarshal(answers[0].Body, &v); err != nil {
		t.Fatalf("pressing %q: the answer is not an AdaptiveCardInvokeResponse: %s", title, answers[0].Body)
	}
	if v.StatusCode != http.StatusOK || v.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("pressing %q: %s", title, answers[0].Body)
	}
	return v
}

// findButton returns the Action.Execute titled title in an activity's card.
func findButton(t *testing.T, activity json.RawMessage, title string) map[string]any {
	t.Helper()
	var found map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.Execute" && x["title"] == title {
				found = x
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	if err := json.Unmarshal(activity, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	if found == nil {
		t.Fatalf("the card has no button %q: %s", title, activity)
	}
	return found
}

func postAlert(t *testing.T, ctx context.Context, am *harness.Alertmanager, alert map[string]any) {
	t.Helper()
	body, _ := json.Marshal([]any{alert})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, am.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := am.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting the alert: %s", resp.Status)
	}
}

func listSilences(t *testing.T, ctx context.Context, am *harness.Alertmanager) []amapi.Silence {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/api/v2/silences", nil)
	resp, err := am.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out []amapi.Silence
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// amMetric reads an unlabelled counter from the manager's metrics.
func amMetric(t *testing.T, ctx context.Context, metricsURL, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(amScrape(t, ctx, metricsURL))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func tlsTrusting(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
