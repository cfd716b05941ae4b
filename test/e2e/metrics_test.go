package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// documentedMetric is one row of a metric table in docs/metrics.md.
type documentedMetric struct {
	name, kind string
	labels     []string
}

// TestMetrics installs the bot in a team, delivers a message through one injected 429, fails one with an
// injected 400, then scrapes the manager's secure metrics endpoint (HTTPS, a bearer token the API server
// authenticates and authorises) and finds every metric docs/metrics.md lists, with its type and labels, and
// the series the scenario must have produced.
func TestMetrics(t *testing.T) {
	g := NewWithT(t)
	requireTools(t)
	documented := readMetricTables(t, filepath.Join(repoRoot, "docs", "metrics.md"))
	g.Expect(len(documented)).To(BeNumerically(">=", 10), "docs/metrics.md has its metric tables")

	ctx := context.Background()
	env, err := harness.Start(harness.Options{Dir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	const ns = "metrics"
	g.Expect(env.Namespace(ctx, ns)).To(Succeed())

	// The harness serves plain HTTP by default; a later flag wins, so this is the manager's default.
	mgr, err := env.StartManager(ctx, "manager", "--default-credentials", ns+"/"+harness.CredentialsName,
		"--metrics-secure=true")
	g.Expect(err).NotTo(HaveOccurred())
	metricsURL := strings.Replace(mgr.MetricsURL, "http://", "https://", 1)

	create := func(obj client.Object) {
		obj.SetNamespace(ns)
		g.Expect(env.Client.Create(ctx, obj)).To(Succeed())
	}
	create(&teamsv1alpha1.TeamsAppInstallation{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-team"},
		Spec: teamsv1alpha1.TeamsAppInstallationSpec{
			App:   teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
			Scope: teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: emulator.DefaultTeamID}},
		},
	})
	create(&teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "general"},
		Spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
			TeamID: emulator.DefaultTeamID, ChannelID: emulator.DefaultGeneralChannelID}},
	})
	phaseOf := func(name string) func(Gomega) teamsv1alpha1.Phase {
		return func(g Gomega) teamsv1alpha1.Phase {
			pm := &teamsv1alpha1.ProactiveMessage{}
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pm)).To(Succeed())
			return pm.Status.Phase
		}
	}
	message := func(name string) *teamsv1alpha1.ProactiveMessage {
		return &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: "general"}, Text: "metrics test: " + name},
		}
	}

	// A message to a channel starts a thread: the Connector's createConversation. One 429 before the
	// first send goes through.
	env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "createConversation",
		Status: http.StatusTooManyRequests, RetryAfter: "1", Count: 1})
	create(message("throttled"))
	g.Eventually(phaseOf("throttled")).WithTimeout(2 * time.Minute).Should(Equal(teamsv1alpha1.PhaseDelivered))

	// A 400 is terminal: the message fails.
	env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "createConversation",
		Status: http.StatusBadRequest, Count: 1})
	create(message("refused"))
	g.Eventually(phaseOf("refused")).WithTimeout(time.Minute).Should(Equal(teamsv1alpha1.PhaseFailed))

	reader := tokenFor(t, env, ns, "prometheus", true)
	stranger := tokenFor(t, env, ns, "stranger", false)
	g.Expect(scrapeStatus(ctx, metricsURL, "")).To(Equal(http.StatusUnauthorized), "no token")
	g.Expect(scrapeStatus(ctx, metricsURL, stranger)).To(Equal(http.StatusForbidden), "a token not bound to /metrics")

	g.Eventually(func(g Gomega) {
		families := scrape(g, ctx, metricsURL, reader)
		var drift []string // every difference at once, so one run tells what to fix in the doc
		for _, m := range documented {
			f, ok := families[m.name]
			switch {
			case !ok:
				drift = append(drift, m.name+" is documented but not served")
			case strings.ToLower(f.GetType().String()) != m.kind:
				drift = append(drift, fmt.Sprintf("%s is a %s, documented as a %s", m.name, f.GetType(), m.kind))
			case !slices.Equal(labelNames(f), m.labels):
				drift = append(drift, fmt.Sprintf("%s has labels %v, documented %v", m.name, labelNames(f), m.labels))
			}
		}
		g.Expect(drift).To(BeEmpty(), "docs/metrics.md and the served metrics differ")
		// The series this scenario must have produced.
		for _, want := range []struct {
			family string
			labels map[string]string
		}{
			{"teams_operator_proactive_messages_total", map[string]string{"result": "Delivered"}},
			{"teams_operator_proactive_messages_total", map[string]string{"result": "Failed"}},
			{"teams_operator_api_requests_total",
				map[string]string{"api": "botframework", "operation": "createConversation", "code": "429"}},
			{"teams_operator_api_requests_total",
				map[string]string{"api": "botframework", "operation": "createConversation", "code": "400"}},
			{"teams_operator_api_requests_total", map[string]string{"api": "graph", "operation": "installApp"}},
			{"teams_operator_api_requests_total", map[string]string{"api": "entra", "operation": "token", "code": "200"}},
			{"teams_operator_api_throttled_total", map[string]string{"api": "botframework", "operation": "createConversation"}},
			{"teams_operator_ratelimit_wait_seconds", map[string]string{"limiter": "app"}},
			{"teams_operator_ratelimit_wait_seconds", map[string]string{"limiter": "conversation"}},
			{"controller_runtime_reconcile_total", map[string]string{"controller": "proactivemessage", "result": "success"}},
		} {
			g.Expect(hasSeries(families[want.family], want.labels)).To(BeTrue(), "%s%v", want.family, want.labels)
		}
		g.Expect(sampleCount(families["teams_operator_delivery_latency_seconds"])).To(BeEquivalentTo(1),
			"one delivered message observed")
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// requireTools fails the test when the control plane binaries or kubectl are missing.
func requireTools(t *testing.T) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the control plane")
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is not on PATH")
	}
}

// readMetricTables parses the tables of docs/metrics.md whose header is "| metric | type | labels | ...".
func readMetricTables(t *testing.T, path string) []documentedMetric {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []documentedMetric
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) >= 3 && cells[0] == "metric" && cells[1] == "type" && cells[2] == "labels" {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(cells[0], "---") {
			continue
		}
		m := documentedMetric{name: strings.Trim(cells[0], "`"), kind: cells[1], labels: []string{}}
		if cells[2] != "none" {
			for l := range strings.SplitSeq(cells[2], ",") {
				m.labels = append(m.labels, strings.Trim(strings.TrimSpace(l), "`"))
			}
		}
		slices.Sort(m.labels)
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenFor creates a service account and returns a token for it; canScrape binds it to a ClusterRole that
// may get /metrics, as the chart's metrics-reader role does.
func tokenFor(t *testing.T, env *harness.Env, ns, name string, canScrape bool) string {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	g.Expect(env.Client.Create(ctx, sa)).To(Succeed())
	if canScrape {
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-test-reader"},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		}
		g.Expect(env.Client.Create(ctx, role)).To(Succeed())
		g.Expect(env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-test-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		})).To(Succeed())
	}
	return serviceAccountToken(g, env, sa)
}

// serviceAccountToken asks the API server for a token of sa (TokenRequest), as kubelet does for a pod.
func serviceAccountToken(g Gomega, env *harness.Env, sa *corev1.ServiceAccount) string {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	g.Expect(env.Client.SubResource("token").Create(context.Background(), sa, tr)).To(Succeed())
	g.Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

func scrapeGet(ctx context.Context, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager's metrics certificate is self-signed and generated at start, as in the chart.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed, see above
	}}
	return c.Do(req)
}

func scrapeStatus(ctx context.Context, url, token string) (int, error) {
	resp, err := scrapeGet(ctx, url, token)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// scrape fetches and parses the metrics in Prometheus' text format.
func scrape(g Gomega, ctx context.Context, url, token string) map[string]*dto.MetricFamily {
	resp, err := scrapeGet(ctx, url, token)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "scraping %s: %s", url, body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	g.Expect(err).NotTo(HaveOccurred())
	return families
}

// labelNames is the sorted union of the label names of a family's series.
func labelNames(f *dto.MetricFamily) []string {
	names := []string{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(names, l.GetName()) {
				names = append(names, l.GetName())
			}
		}
	}
	slices.Sort(names)
	return names
}

// hasSeries reports whether the family has a series with (at least) these label values.
func hasSeries(f *dto.MetricFamily, want map[string]string) bool {
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

func sampleCount(f *dto.MetricFamily) uint64 {
	var n uint64
	for _, m := range f.GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}
