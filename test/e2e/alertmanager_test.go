package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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

// The namespace and target of docs/alertmanager.md's receiver, used as written.
const (
	amNamespace = "monitoring"
	amTarget    = "oncall"
)

// TestAlertmanagerBridge runs a real Alertmanager with docs/alertmanager.md's configuration
// against the manager binary's receiver over TLS: a firing alert becomes exactly one Teams message,
// resolving it edits that message, and firing again posts a new one.
func TestAlertmanagerBridge(t *testing.T) {
	g := NewWithT(t)
	amBin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatal("prometheus-alertmanager is not on PATH: install it with `apt-get install -y prometheus-alertmanager` " +
			"(.ci/run does); this test runs the real Alertmanager")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	env, err := harness.Start(harness.Options{Dir: filepath.Join(dir, "harness")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })

	// The operator's side: credentials, the token Secret, a channel target with the bot installed.
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

	certDir := filepath.Join(dir, "receiver-tls")
	amWriteCert(t, certDir)
	receiverAddr := amFreeAddr(t)
	mgr, err := env.StartManager(ctx, "manager",
		"--default-credentials", amNamespace+"/"+harness.CredentialsName,
		"--alertmanager-bind-address", receiverAddr, "--alertmanager-cert-path", certDir)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { amDumpOnFailure(t, mgr.Log) })

	// Alertmanager's side: the documented configuration with local paths and short timings.
	amDir := filepath.Join(dir, "alertmanager")
	g.Expect(os.MkdirAll(filepath.Join(amDir, "data"), 0o700)).To(Succeed())
	tokenFile := filepath.Join(amDir, "token")
	g.Expect(os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)).To(Succeed())
	cfgFile := filepath.Join(amDir, "alertmanager.yml")
	g.Expect(os.WriteFile(cfgFile, amConfig(t, receiverAddr, tokenFile, filepath.Join(certDir, "tls.crt")), 0o600)).To(Succeed())
	amAddr := amFreeAddr(t)
	am, err := harness.StartProcess(amDir, "alertmanager", nil, amBin,
		"--config.file="+cfgFile, "--storage.path="+filepath.Join(amDir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=debug")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		g.Expect(am.Stop(10 * time.Second)).To(Succeed())
		amDumpOnFailure(t, am.Log)
	})
	g.Eventually(func() int { return amGet(ctx, "http://"+amAddr+"/-/ready") }).
		WithTimeout(30*time.Second).Should(Equal(http.StatusOK), "Alertmanager is not ready; see %s", am.Log)

	channel := func() []emulator.StoredActivity {
		return env.Emulator.ConversationActivities(emulator.DefaultGeneralChannelID)
	}
	startsAt := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	alert := map[string]any{
		"labels": map[string]string{"alertname": "HighLatency", "cluster": "eu-1", "severity": "critical",
			"instance": "web-1"},
		"annotations":  map[string]string{"summary": "web-1 answers slowly", "runbook_url": "https://runbooks.example/latency"},
		"startsAt":     startsAt.Format(time.RFC3339),
		"generatorURL": "http://prometheus.example:9090/graph?g0.expr=latency",
	}
	amPostAlert(t, ctx, amAddr, alert)

	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(1))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("FIRING:1 HighLatency"))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("web-1 answers slowly"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "no FIRING message in Teams")
	first := channel()[0]

	// Resolve: Alertmanager takes an alert whose endsAt has passed as resolved, and (send_resolved)
	// notifies at the group's next interval.
	alert["endsAt"] = time.Now().UTC().Format(time.RFC3339)
	amPostAlert(t, ctx, amAddr, alert)
	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(1), "resolving must edit the message, not post another")
		g.Expect(msgs[0].ActivityID).To(Equal(first.ActivityID))
		g.Expect(msgs[0].UpdatedAt).NotTo(BeNil())
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("RESOLVED:1 HighLatency"))
		g.Expect(string(msgs[0].Activity)).NotTo(ContainSubstring("FIRING"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the message was not edited to RESOLVED")

	// Alertmanager's further group intervals send nothing new, and nothing else reaches Teams.
	g.Consistently(func() int { return len(env.Emulator.Activities()) }).
		WithTimeout(5 * time.Second).WithPolling(250 * time.Millisecond).Should(Equal(1))

	pms := &teamsv1alpha1.ProactiveMessageList{}
	g.Expect(env.Client.List(ctx, pms)).To(Succeed())
	g.Expect(pms.Items).To(HaveLen(1))
	pm := pms.Items[0]
	g.Expect(pm.Labels).To(HaveKeyWithValue("alertmanager.teams.operator.dev/status", "resolved"))
	g.Expect(pm.Annotations).To(HaveKeyWithValue("alertmanager.teams.operator.dev/receiver", "teams-oncall"))
	g.Expect(pm.Status.Phase).To(Equal(teamsv1alpha1.PhaseDelivered))
	g.Expect(pm.Status.ActivityID).To(Equal(first.ActivityID))

	// The same alert firing again is a new incident: a new Teams message, the resolved one stays.
	delete(alert, "endsAt")
	alert["startsAt"] = time.Now().UTC().Format(time.RFC3339)
	amPostAlert(t, ctx, amAddr, alert)
	g.Eventually(func(g Gomega) {
		msgs := channel()
		g.Expect(msgs).To(HaveLen(2))
		g.Expect(msgs[0].ActivityID).To(Equal(first.ActivityID))
		g.Expect(string(msgs[0].Activity)).To(ContainSubstring("RESOLVED:1 HighLatency"))
		g.Expect(string(msgs[1].Activity)).To(ContainSubstring("FIRING:1 HighLatency"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the refiring alert has no new message")

	metrics := amScrape(t, ctx, mgr.MetricsURL)
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_notifications_total{result="created"} 2`))
	g.Expect(metrics).To(MatchRegexp(`teams_operator_alertmanager_notifications_total\{result="updated"\} [1-9]`))
	g.Expect(metrics).To(ContainSubstring(`teams_operator_alertmanager_notifications_total{result="rejected"} 0`))
	g.Expect(metrics).NotTo(ContainSubstring(token))
	log, err := os.ReadFile(mgr.Log)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(log)).NotTo(ContainSubstring(token), "the token must never be logged")
}

// amConfig is docs/alertmanager.md's alertmanager.yml with this test's URL, files and timings.
func amConfig(t *testing.T, receiverAddr, tokenFile, caFile string) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "alertmanager.md"))
	if err != nil {
		t.Fatal(err)
	}
	const start = "```yaml\n# alertmanager.yml\n"
	_, rest, ok := strings.Cut(string(doc), start)
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/alertmanager.md has no %q block", start)
	}
	var cfg struct {
		Route     map[string]any `json:"route"`
		Receivers []struct {
			Name           string           `json:"name"`
			WebhookConfigs []map[string]any `json:"webhook_configs"`
		} `json:"receivers"`
	}
	if err := yaml.UnmarshalStrict([]byte(block), &cfg); err != nil {
		t.Fatalf("docs/alertmanager.md's alertmanager.yml: %v", err)
	}
	if len(cfg.Receivers) != 1 || len(cfg.Receivers[0].WebhookConfigs) != 1 {
		t.Fatalf("docs/alertmanager.md's alertmanager.yml must have one receiver with one webhook config")
	}
	wh := cfg.Receivers[0].WebhookConfigs[0]
	u, err := url.Parse(fmt.Sprint(wh["url"]))
	if err != nil {
		t.Fatal(err)
	}
	want := "/alertmanager/v1/namespaces/" + amNamespace + "/targets/" + amTarget
	if u.Scheme != "https" || u.Path != want {
		t.Fatalf("the documented URL %s must be https with the path %s", u, want)
	}
	u.Host = receiverAddr
	wh["url"] = u.String()
	httpConfig := wh["http_config"].(map[string]any)
	httpConfig["authorization"].(map[string]any)["credentials_file"] = tokenFile
	httpConfig["tls_config"].(map[string]any)["ca_file"] = caFile
	cfg.Route["group_wait"], cfg.Route["group_interval"], cfg.Route["repeat_interval"] = "1s", "2s", "1h"
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func amPostAlert(t *testing.T, ctx context.Context, amAddr string, alert map[string]any) {
	t.Helper()
	body, err := json.Marshal([]any{alert})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+amAddr+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("posting the alert to Alertmanager: %s: %s", resp.Status, b)
	}
}

func amGet(ctx context.Context, u string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func amScrape(t *testing.T, ctx context.Context, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func amFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func amRandomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// amWriteCert writes a self-signed tls.crt and tls.key for 127.0.0.1 into dir; the certificate
// is also the CA Alertmanager trusts.
func amWriteCert(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "teams-operator-alertmanager"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func amDumpOnFailure(t *testing.T, logFile string) {
	if !t.Failed() {
		return
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		return
	}
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	t.Logf("%s (last 20000 bytes):\n%s", logFile, b)
}
