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
		"--alertmanager-bind-address", addr, "--alertmanager-cert-path", certDir)
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

// TestGrafanaEndToEnd configures the receiver as docs/sources.md's Grafana contact point says,
// signs Grafana's documented example body as Grafana does, and follows it to Teams: one
// message, edited in place to RESOLVED; a wrong signature writes nothing.
func TestGrafanaEndToEnd(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const hmacSecret = "grafana-e2e-hmac-secret"
	s := startSources(t, ctx, map[string]string{"grafana-hmac-secret": hmacSecret})

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
		msgs := s.channel()
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("FIRING:2"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("Open Grafana"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "no FIRING message in Teams")
	first := s.channel()[0]

	resolved := []byte(strings.ReplaceAll(strings.ReplaceAll(grafanaExample, `"status": "firing"`, `"status": "resolved"`),
		`"endsAt": "0001-01-01T00:00:00Z"`, `"endsAt": "2021-10-12T10:01:03Z"`))
	code, answer = s.post(t, ctx, u, grafana(resolved, hmacSecret), resolved)
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Eventually(func(g Gomega) {
		msgs := s.channel()
		g.Expect(msgs).To(HaveLen(1), "resolving edits the message")
		g.Expect(msgs[0].ActivityID).To(Equal(first.ActivityID))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("RESOLVED:2"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the message was not edited")

	metrics := amScrape(t, ctx, s.mgr.MetricsURL)
	g.Expect(metrics).To(ContainSubstring(`teams_operator_receiver_notifications_total{result="created",source="grafana"} 1`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_receiver_notifications_rejected_total{reason="signature",source="grafana"} 1`))
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
