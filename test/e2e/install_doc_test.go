package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// The blocks of docs/install.md this test runs, in this order; each is marked <!-- install-test: NAME -->.
var installDocBlocks = []string{"chart", "secret", "first-message", "metrics"}

// TestInstallDoc follows docs/install.md on a fresh control plane, with the Teams emulator standing in for
// Microsoft: it runs the page's marked shell blocks with bash, kubectl and bin/helm, setting only the
// variables the page tells the reader to set (TENANT_ID, CLIENT_ID, CLIENT_SECRET: the emulator's bot).
//
// envtest has no kubelet, so the chart's Deployment never runs a pod. The test runs the manager binary
// instead, with the arguments of the Deployment the chart created and a token of the chart's service
// account, so the chart's RBAC is what the manager has, leader election included. Three differences, each
// because there is no pod: the bind addresses are free loopback ports, --leader-election-namespace names the
// release namespace (in a pod controller-runtime reads it from the service account files), and the
// endpoints point at the emulator through the chart's cloud.* values (install.md section 5).
func TestInstallDoc(t *testing.T) {
	g := NewWithT(t)
	requireTools(t)
	repo, err := filepath.Abs(repoRoot)
	g.Expect(err).NotTo(HaveOccurred())
	blocks := installTestBlocks(t, filepath.Join(repo, "docs", "install.md"))
	names := make([]string, 0, len(blocks))
	for name := range blocks {
		names = append(names, name)
	}
	g.Expect(names).To(ConsistOf(installDocBlocks), "the marked blocks of docs/install.md are those this test runs")

	ctx := context.Background()
	env, err := harness.Start(harness.Options{Dir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	removeCRDs(t, env) // the harness installs them; the reader's cluster has none before the chart

	home := t.TempDir()
	run := func(name, script string) {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Join(repo, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
			"KUBECONFIG="+env.Kubeconfig,
			"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
			"HELM_DATA_HOME="+filepath.Join(home, "data"),
			"TENANT_ID="+emulator.DefaultTenantID,
			"CLIENT_ID="+emulator.DefaultBotAppID,
			"CLIENT_SECRET="+emulator.DefaultBotSecret,
		)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("%s (%s):\n%s", name, time.Since(start).Round(time.Millisecond), out)
		g.Expect(err).NotTo(HaveOccurred(), "install.md block %q:\n%s", name, script)
	}
	helmBinary(t, repo)

	run("chart", blocks["chart"])
	run("secret", blocks["secret"])
	// Microsoft is the emulator: the page's section 5 values, set the way section 9 upgrades.
	u := env.EmulatorServer.URL
	run("emulator endpoints", "helm upgrade teams-operator charts/teams-operator -n teams-operator-system "+
		"--reuse-values --set cloud.authorityHost="+u+"/ --set cloud.graphEndpoint="+u+
		" --set cloud.botServiceUrl="+u+"/teams/")

	args, sa := chartManagerArgs(t, env)
	kubeconfig := serviceAccountKubeconfig(t, env, sa)
	// After the harness's flags, so these win: the chart's arguments, the chart's identity, and
	// metrics served as the chart serves them (HTTPS with authentication; the harness's default is HTTP).
	mgr, err := env.StartManager(ctx, "manager", append(args, "--kubeconfig", kubeconfig, "--metrics-secure=true")...)
	g.Expect(err).NotTo(HaveOccurred())

	run("first-message", blocks["first-message"])
	g.Eventually(func() []string {
		var texts []string
		for _, a := range env.Emulator.Activities() {
			texts = append(texts, string(a.Activity))
		}
		return texts
	}).Should(ContainElement(ContainSubstring("This bot tells you when your deployments need attention")),
		"the sample message reached Teams")

	// Section 7: the reader's Prometheus service account, bound by the page's command, may scrape.
	prometheus := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "prometheus-k8s"}}
	g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, prometheus)).To(Succeed())
	metricsURL := strings.Replace(mgr.MetricsURL, "http://", "https://", 1)
	token := serviceAccountToken(g, env, prometheus)
	g.Expect(scrapeStatus(ctx, metricsURL, token)).To(Equal(403), "not bound yet")
	run("metrics", blocks["metrics"])
	// The authorizer follows RBAC through an informer: the binding applies eventually.
	g.Eventually(func(g Gomega) {
		families := scrape(g, ctx, metricsURL, token)
		g.Expect(hasSeries(families["teams_operator_proactive_messages_total"],
			map[string]string{"result": "Delivered"})).To(BeTrue())
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// installTestBlocks returns the fenced blocks of the page that follow a <!-- install-test: NAME --> line.
func installTestBlocks(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	blocks := map[string]string{}
	name, in := "", false
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case in && line == "```":
			blocks[name], name, in = body.String(), "", false
			body.Reset()
		case in:
			body.WriteString(sc.Text() + "\n")
		case strings.HasPrefix(line, "<!-- install-test:"):
			name = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "<!-- install-test:"), "-->"))
		case name != "" && line == "```sh":
			in = true
		case name != "" && line != "":
			t.Fatalf("%s: the marker %q is not followed by a ```sh block", path, name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// helmBinary makes sure bin/helm exists (the page's `make helm`).
func helmBinary(t *testing.T, repo string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repo, "bin", "helm")); err == nil {
		return
	}
	cmd := exec.Command("make", "helm")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make helm: %v\n%s", err, out)
	}
}

// removeCRDs deletes the CRDs the harness installed, and waits until they are gone.
func removeCRDs(t *testing.T, env *harness.Env) {
	t.Helper()
	// Every CRD the harness installed from config/crd/bases ({group}_{plural}.yaml), so a new kind
	// needs no change here.
	files, err := filepath.Glob(filepath.Join(env.Repo, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("listing config/crd/bases: %v (%d files)", err, len(files))
	}
	args := []string{"--kubeconfig", env.Kubeconfig, "delete", "--wait", "crd"}
	for _, f := range files {
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_")
		args = append(args, plural+"."+group)
	}
	cmd := exec.Command("kubectl", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deleting the harness's CRDs: %v\n%s", err, out)
	}
}

// chartManagerArgs returns the manager container's arguments from the Deployment the chart created,
// without those that only make sense in a pod, and its service account.
func chartManagerArgs(t *testing.T, env *harness.Env) ([]string, *corev1.ServiceAccount) {
	t.Helper()
	g := NewWithT(t)
	var deploy appsv1.Deployment
	g.Expect(env.Client.Get(context.Background(),
		types.NamespacedName{Namespace: "teams-operator-system", Name: "teams-operator"}, &deploy)).To(Succeed())
	pod := deploy.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	var args []string
	for _, a := range pod.Containers[0].Args {
		flagName, _, _ := strings.Cut(a, "=")
		if slices.Contains([]string{"--metrics-bind-address", "--health-probe-bind-address"}, flagName) {
			continue
		}
		if flagName == "--annotation-key-file" {
			// The pod mounts the chart's delivery-proof Secret there; do what the kubelet would.
			a = "--annotation-key-file=" + mountedKey(t, env, deploy.Namespace)
		}
		args = append(args, a)
	}
	g.Expect(args).To(ContainElement("--leader-elect"), "the chart's default: one active replica")
	args = append(args, "--leader-election-namespace="+deploy.Namespace)
	g.Expect(args).To(ContainElement("--default-credentials=teams-operator-system/teams-credentials"))
	g.Expect(args).To(ContainElement("--graph-endpoint="+env.EmulatorServer.URL), "the chart passes the endpoints")
	return args, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: deploy.Namespace,
		Name: pod.ServiceAccountName}}
}

// mountedKey writes the key of the chart's delivery-proof Secret to a file, as its volume would.
func mountedKey(t *testing.T, env *harness.Env, namespace string) string {
	t.Helper()
	secret := &corev1.Secret{}
	if err := env.Client.Get(context.Background(),
		types.NamespacedName{Namespace: namespace, Name: "teams-operator-delivery-proof"}, secret); err != nil {
		t.Fatalf("the chart's delivery-proof Secret: %v", err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, secret.Data["key"], 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as sa with a token from the API server,
// as the pod's projected token would.
func serviceAccountKubeconfig(t *testing.T, env *harness.Env, sa *corev1.ServiceAccount) string {
	t.Helper()
	g := NewWithT(t)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos[sa.Name] = &clientcmdapi.AuthInfo{Token: serviceAccountToken(g, env, sa)}
	cfg.Contexts["chart"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: sa.Name}
	cfg.CurrentContext = "chart"
	path := filepath.Join(t.TempDir(), "kubeconfig-"+sa.Name)
	g.Expect(clientcmd.WriteToFile(*cfg, path)).To(Succeed())
	return path
}
