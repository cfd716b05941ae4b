package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// sourcesEnv is the manager binary with its receiver on TLS, a namespace with the token Secret
// and a channel target, and the emulator behind it: what every source's end-to-end test needs.
type sourcesEnv struct {
	env     *harness.Env
	mgr     *harness.Manager
	base    string // https://127.0.0.1:port
	token   string
	secrets map[string]string // the token Secret's other keys
	httpc   *http.Client
}

const (
	srcNamespace = "monitoring"
	srcTarget    = "oncall"
)

func startSources(t *testing.T, ctx context.Context, secrets map[string]string) *sourcesEnv {
	t.Helper()
	g := NewWithT(t)
	dir := t.TempDir()
	env, err := harness.Start(harness.Options{Dir: filepath.Join(dir, "harness")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	g.Expect(env.Namespace(ctx, srcNamespace)).To(Succeed())
	_, err = env.Emulator.Install("team", emulator.DefaultTeamID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	s := &sourcesEnv{env: env, token: amRandomToken(t), secrets: secrets}
	data := map[string]string{"token": s.token}
	maps.Copy(data, secrets)
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: srcNamespace, Name: "alertmanager-webhook"}, StringData: data,
	})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: srcNamespace, Name: srcTarget},
		Spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
			TeamID: emulator.DefaultTeamID, ChannelID: emulator.DefaultGeneralChannelID}},
	})).To(Succeed())

	certDir := filepath.Join(dir, "receiver-tls")
	amWriteCert(t, certDir)
	addr := amFreeAddr(t)
	s.mgr, err = env.StartManager(ctx, "manager",
		"--default-credentials", srcNamespace+"/"+harness.CredentialsName,
		"--alertmanager-bind-address", addr, "--alertmanager-cert-path", certDir,
		"--receiver-person-namespace-selector", peopleSelector)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { amDumpOnFailure(t, s.mgr.Log) })
	ca, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(ca)).To(BeTrue())
	s.httpc = &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	s.base = "https://" + addr
	return s
}

// post sends body to the documented URL u (its host replaced) with header; it returns the status and answer.
func (s *sourcesEnv) post(t *testing.T, ctx context.Context, u string, header http.Header, body []byte) (int, map[string]any) {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+parsed.RequestURI(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := s.httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer
}

// channel is what Teams (the emulator) shows in the target's channel.
func (s *sourcesEnv) channel() []emulator.StoredActivity {
	return s.env.Emulator.ConversationActivities(emulator.DefaultGeneralChannelID)
}

// docBlock returns the fenced block of docs/sources.md that starts with the line first.
func docBlock(t *testing.T, lang, first string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "sources.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := "```" + lang + "\n" + first + "\n"
	_, rest, ok := strings.Cut(string(doc), start)
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/sources.md has no %q block", start)
	}
	return block
}

// TestSourcesEndToEnd runs the manager binary's receiver as docs/sources.md configures each
// source, posts what each sender posts (its documented example body, signed as it signs), and
// follows the messages to Teams (the emulator). One manager serves every source, as in a cluster.
func TestSourcesEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := startSources(t, ctx, map[string]string{
		"grafana-hmac-secret": grafanaHMACSecret,
		"flux-hmac-key":       fluxHMACKey,
	})
	t.Run("Grafana", func(t *testing.T) { testGrafanaEndToEnd(t, ctx, s) })
	t.Run("Flux", func(t *testing.T) { testFluxEndToEnd(t, ctx, s) })
	t.Run("ArgoCD", func(t *testing.T) { testArgoCDEndToEnd(t, ctx, s) })
	t.Run("Generic", func(t *testing.T) { testGenericEndToEnd(t, ctx, s) })
	t.Run("CloudEvents", func(t *testing.T) { testCloudEventsEndToEnd(t, ctx, s) })
	t.Run("Routing", func(t *testing.T) { testRoutingEndToEnd(t, ctx, s) })
	t.Run("TemplateCheck", func(t *testing.T) { testTemplateCheckEndToEnd(t, ctx, s) })
}

// docFile returns the fenced block that follows the line "`name`:" in docs/sources.md.
func docFile(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "sources.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "`"+name+"`:\n\n```")
	_, rest, ok2 := strings.Cut(rest, "\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("docs/sources.md has no block for %s", name)
	}
	return block
}

// docURL is the URL of the first curl command in docs/sources.md that posts to the source.
func docURL(t *testing.T, source string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "sources.md"))
	if err != nil {
		t.Fatal(err)
	}
	for f := range strings.FieldsSeq(string(doc)) {
		if strings.HasPrefix(f, "https://") && strings.Contains(f, "/"+source+"/v1/") {
			return f
		}
	}
	t.Fatalf("docs/sources.md has no URL for %s", source)
	return ""
}

// testArgoCDEndToEnd runs docs/sources.md's argocd-notifications-cm as Argo CD's notifications
// controller would: its webhook service's URL and headers (the token from the notifications
// Secret), its template rendered with text/template and Sprig's toJson on the guestbook
// Application at each trigger of one sync. One card, edited until green.
func testArgoCDEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	before := len(s.channel())
	var cm struct {
		Data map[string]string `json:"data"`
	}
	g.Expect(yaml.Unmarshal([]byte(docBlock(t, "yaml", "# argocd-notifications-cm.yaml")), &cm)).To(Succeed())
	var service struct {
		URL     string `json:"url"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	}
	g.Expect(yaml.UnmarshalStrict([]byte(cm.Data["service.webhook.teams-operator"]), &service)).To(Succeed())
	var tmpl struct {
		Webhook map[string]struct {
			Method string `json:"method"`
			Body   string `json:"body"`
		} `json:"webhook"`
	}
	g.Expect(yaml.UnmarshalStrict([]byte(cm.Data["template.teams-operator-app"]), &tmpl)).To(Succeed())
	funcs := template.FuncMap{"toJson": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	body := template.Must(template.New("body").Funcs(funcs).Parse(tmpl.Webhook["teams-operator"].Body))
	header := http.Header{}
	for _, h := range service.Headers {
		// Argo CD replaces $teams-operator-token with that key of argocd-notifications-secret.
		header.Set(h.Name, strings.ReplaceAll(h.Value, "$teams-operator-token", s.token))
	}
	var argoContext map[string]any
	g.Expect(yaml.Unmarshal([]byte(cm.Data["context"]), &argoContext)).To(Succeed())
	app := func(phase, sync, health string) map[string]any {
		return map[string]any{"context": argoContext, "app": map[string]any{
			"metadata": map[string]any{"name": "guestbook", "namespace": "argocd"},
			"spec": map[string]any{"project": "default",
				"source": map[string]any{"repoURL": "https://github.com/argoproj/argocd-example-apps.git"}},
			"status": map[string]any{
				"sync":           map[string]any{"status": sync, "revision": "53e28ff20cc530b9ada2173fbbd64d48338583ba"},
				"health":         map[string]any{"status": health},
				"operationState": map[string]any{"phase": phase, "message": "sync " + strings.ToLower(phase)},
			}}}
	}
	for _, step := range []struct{ phase, sync, health, want string }{
		{"Running", "OutOfSync", "Progressing", "PROGRESSING: Application argocd/guestbook"},
		{"Succeeded", "Synced", "Healthy", "SUCCEEDED: Application argocd/guestbook"},
	} {
		var b bytes.Buffer
		g.Expect(body.Execute(&b, app(step.phase, step.sync, step.health))).To(Succeed())
		code, answer := s.post(t, ctx, service.URL, header, b.Bytes())
		g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
		g.Eventually(func(g Gomega) {
			msgs := s.newMessages(before)
			g.Expect(msgs).To(HaveLen(1), "the sync edits one card")
			g.Expect(string(msgs[0].Activity)).To(ContainSubstring(step.want))
		}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), step.want)
	}
}

// testGenericEndToEnd applies docs/sources.md's CI ConfigMap and posts its run.json, then the
// same run passed: one card, edited to green.
func testGenericEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	before := len(s.channel())
	cm := &corev1.ConfigMap{}
	g.Expect(yaml.UnmarshalStrict([]byte(docBlock(t, "yaml", "# ci-card.yaml")), cm)).To(Succeed())
	g.Expect(cm.Namespace).To(Equal(srcNamespace))
	g.Expect(s.env.Client.Create(ctx, cm)).To(Succeed())
	u := docURL(t, "generic")
	g.Expect(u).To(ContainSubstring("?template=" + cm.Name))
	header := http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/json"}}
	run := docFile(t, "run.json")
	for _, step := range []struct{ body, want string }{
		{run, "build #42: PROGRESSING"},
		{strings.Replace(strings.Replace(run, `"running"`, `"passed"`, 1), "started by alice", "all green", 1), "build #42: SUCCEEDED"},
	} {
		code, answer := s.post(t, ctx, u, header, []byte(step.body))
		g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
		g.Eventually(func(g Gomega) {
			msgs := s.newMessages(before)
			g.Expect(msgs).To(HaveLen(1), "the run's key edits one card")
			g.Expect(string(msgs[0].Activity)).To(ContainSubstring(step.want))
		}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), step.want)
	}
}

// testCloudEventsEndToEnd posts docs/sources.md's event.json in structured mode and the same
// subject's next event in binary mode: one message, edited.
func testCloudEventsEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	before := len(s.channel())
	u := docURL(t, "cloudevents")
	structured := http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/cloudevents+json"}}
	code, answer := s.post(t, ctx, u, structured, []byte(docFile(t, "event.json")))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Eventually(func(g Gomega) {
		msgs := s.newMessages(before)
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("com.github.pull_request.opened: 123"))
	}).WithTimeout(90 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	binary := http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"text/plain"},
		"Ce-Specversion": {"1.0"}, "Ce-Id": {"A234-1234-1235"}, "Ce-Source": {"https://github.com/cloudevents/spec/pull"},
		"Ce-Type": {"com.github.pull_request.closed"}, "Ce-Subject": {"123"}}
	code, answer = s.post(t, ctx, u, binary, []byte("merged by bob"))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Eventually(func(g Gomega) {
		msgs := s.newMessages(before)
		g.Expect(msgs).To(HaveLen(1), "the same source and subject edit one message")
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("merged by bob"))
	}).WithTimeout(90 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
}

const (
	grafanaHMACSecret = "grafana-e2e-hmac-secret"
	fluxHMACKey       = "flux-e2e-provider-token"
)

// newMessages are the channel's messages after the first before.
func (s *sourcesEnv) newMessages(before int) []emulator.StoredActivity {
	msgs := s.channel()
	return msgs[min(before, len(msgs)):]
}

// testGrafanaEndToEnd configures Grafana as docs/sources.md's contact point says, signs Grafana's
// documented example body as Grafana does: one message, edited in place to RESOLVED; a wrong
// signature writes nothing.
func testGrafanaEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	const hmacSecret = grafanaHMACSecret
	before := len(s.channel())

	var cfg struct {
		ContactPoints []struct {
			Receivers []struct {
				Type     string         `json:"type"`
				Settings map[string]any `json:"settings"`
			} `json:"receivers"`
		} `json:"contactPoints"`
	}
	g.Expect(yaml.Unmarshal([]byte(docBlock(t, "yaml", "# grafana/provisioning/alerting/teams.yaml")), &cfg)).To(Succeed())
	g.Expect(cfg.ContactPoints).To(HaveLen(1))
	rcv := cfg.ContactPoints[0].Receivers[0]
	g.Expect(rcv.Type).To(Equal("webhook"))
	u := fmt.Sprint(rcv.Settings["url"])
	g.Expect(u).To(ContainSubstring("/namespaces/" + srcNamespace + "/targets/" + srcTarget))
	hmacCfg := rcv.Settings["hmacConfig"].(map[string]any)
	tsHeader := fmt.Sprint(hmacCfg["timestampHeader"])

	// What Grafana's webhook sender does (github.com/grafana/alerting http/hmac.go): the
	// Authorization header from the scheme and credentials, and the signature of "timestamp:body".
	grafana := func(body []byte, secret string) http.Header {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + ":"))
		mac.Write(body)
		return http.Header{
			"Authorization":                {fmt.Sprint(rcv.Settings["authorization_scheme"]) + " " + s.token},
			"Content-Type":                 {"application/json"},
			"X-Grafana-Alerting-Signature": {hex.EncodeToString(mac.Sum(nil))},
			tsHeader:                       {ts},
		}
	}
	firing := []byte(grafanaExample)
	code, answer := s.post(t, ctx, u, grafana(firing, "not-the-secret"), firing)
	g.Expect(code).To(Equal(http.StatusUnauthorized), "%v", answer)
	g.Expect(answer).To(HaveKeyWithValue("reason", "signature"))

	code, answer = s.post(t, ctx, u, grafana(firing, hmacSecret), firing)
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Eventually(func(g Gomega) {
		msgs := s.newMessages(before)
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("FIRING:2"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("Open Grafana"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "no FIRING message in Teams")
	first := s.newMessages(before)[0]

	resolved := []byte(strings.ReplaceAll(strings.ReplaceAll(grafanaExample, `"status": "firing"`, `"status": "resolved"`),
		`"endsAt": "0001-01-01T00:00:00Z"`, `"endsAt": "2021-10-12T10:01:03Z"`))
	code, answer = s.post(t, ctx, u, grafana(resolved, hmacSecret), resolved)
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Eventually(func(g Gomega) {
		msgs := s.newMessages(before)
		g.Expect(msgs).To(HaveLen(1), "resolving edits the message")
		g.Expect(msgs[0].ActivityID).To(Equal(first.ActivityID))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("RESOLVED:2"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the message was not edited")

	metrics := amScrape(t, ctx, s.mgr.MetricsURL)
	g.Expect(metrics).To(ContainSubstring(`teams_operator_receiver_notifications_total{result="created",source="grafana"} 1`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_receiver_notifications_rejected_total{reason="signature",source="grafana"} 1`))
}

// testFluxEndToEnd applies docs/sources.md's Flux Provider as the notification-controller would
// use it (its Secret's headers, the generic-hmac signature of the body) and posts helm-controller's
// events for one upgrade that fails, retries and succeeds: one card, edited until it is green.
func testFluxEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	before := len(s.channel())
	var provider struct {
		Spec struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"spec"`
	}
	var secret struct {
		StringData map[string]string `json:"stringData"`
	}
	docs := strings.Split(docBlock(t, "yaml", "# flux-teams.yaml"), "\n---\n")
	g.Expect(docs).To(HaveLen(3), "the Secret, the Provider and the Alert")
	g.Expect(yaml.Unmarshal([]byte(docs[0]), &secret)).To(Succeed())
	g.Expect(yaml.Unmarshal([]byte(docs[1]), &provider)).To(Succeed())
	g.Expect(provider.Spec.Type).To(Equal("generic-hmac"))
	var headers map[string]string
	g.Expect(yaml.Unmarshal([]byte(secret.StringData["headers"]), &headers)).To(Succeed())

	// What the notification-controller's Forwarder does (internal/notifier/forwarder.go): the
	// Secret's headers, Gotk-Component, and X-Signature: sha256=<hex HMAC of the body with the
	// Secret's token>.
	flux := func(body []byte) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "Gotk-Component": {"helm-controller"}}
		for k, v := range headers {
			h.Set(k, strings.ReplaceAll(v, "<the namespace's token>", s.token))
		}
		mac := hmac.New(sha256.New, []byte(fluxHMACKey))
		mac.Write(body)
		h.Set("X-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		return h
	}
	event := func(severity, reason, message string) []byte {
		return []byte(`{"involvedObject": {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
  "name": "podinfo", "namespace": "apps", "uid": "5c2a7f0e-2a0b-4b6e-9a55-1b2c3d4e5f60"},
  "metadata": {"revision": "6.5.4"}, "severity": "` + severity + `", "reason": "` + reason + `",
  "message": "` + message + `", "reportingController": "helm-controller", "timestamp": "2024-05-02T10:00:00Z"}`)
	}
	steps := []struct{ severity, reason, message, want string }{
		{"error", "UpgradeFailed", "Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.4", "FAILED: HelmRelease apps/podinfo"},
		{"info", "Progressing", "Running 'upgrade' action with timeout of 5m0s", "PROGRESSING: HelmRelease apps/podinfo"},
		{"info", "UpgradeSucceeded", "Helm upgrade succeeded for release apps/podinfo.v3 with chart podinfo@6.5.4", "SUCCEEDED: HelmRelease apps/podinfo"},
	}
	var first string
	for _, step := range steps {
		body := event(step.severity, step.reason, step.message)
		code, answer := s.post(t, ctx, provider.Spec.Address, flux(body), body)
		g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
		g.Eventually(func(g Gomega) {
			msgs := s.newMessages(before)
			g.Expect(msgs).To(HaveLen(1), "every event of the revision edits the one card")
			g.Expect(string(msgs[0].Activity)).To(ContainSubstring(step.want))
			if first != "" {
				g.Expect(msgs[0].ActivityID).To(Equal(first))
			}
		}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "step %s", step.reason)
		first = s.newMessages(before)[0].ActivityID
	}
	// A body changed on the way (or signed with another key) is refused and shows nowhere.
	body := event("error", "UpgradeFailed", "forged")
	header := flux(event("error", "UpgradeFailed", "genuine"))
	code, answer := s.post(t, ctx, provider.Spec.Address, header, body)
	g.Expect(code).To(Equal(http.StatusUnauthorized), "%v", answer)
	g.Expect(answer).To(HaveKeyWithValue("reason", "signature"))
}

// grafanaExample is the example body of Grafana's webhook notifier page
// (https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
const grafanaExample = `{
  "receiver": "My Super Webhook", "status": "firing", "orgId": 1,
  "alerts": [
    {"status": "firing", "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
     "annotations": {"description": "The system has high memory usage", "runbook_url": "https://myrunbook.com/runbook/1234",
       "summary": "This alert was triggered for zone us-1"},
     "startsAt": "2021-10-12T09:51:03.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit", "fingerprint": "c6eadffa33fcdf37",
     "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
     "dashboardURL": "", "panelURL": "", "values": {"B": 44.23943737541908, "C": 1}},
    {"status": "firing", "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
     "annotations": {"description": "The system has high CPU usage", "runbook_url": "https://myrunbook.com/runbook/1234",
       "summary": "This alert was triggered for zone eu-1"},
     "startsAt": "2021-10-12T09:56:03.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit", "fingerprint": "bc97ff14869b13e3",
     "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
     "dashboardURL": "", "panelURL": "", "values": {"B": 44.23943737541908, "C": 1}}
  ],
  "groupLabels": {}, "commonLabels": {"team": "blue"}, "commonAnnotations": {},
  "externalURL": "https://play.grafana.org/", "version": "1", "groupKey": "{}:{}", "truncatedAlerts": 0,
  "title": "[FIRING:2]  (blue)", "state": "alerting", "message": "**Firing**"
}`
