package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlane is a kube-apiserver and etcd (envtest), started by the first test that needs it and stopped by
// TestMain. It has no CRDs of ours (the chart brings them, applied with dry-run), only a minimal ServiceMonitor
// CRD so that the chart's optional ServiceMonitor can be dry-run too.
type controlPlane struct {
	env        *envtest.Environment
	client     client.Client
	kubeconfig string
}

var (
	cpOnce sync.Once
	cp     *controlPlane
	cpErr  error
)

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	cpOnce.Do(func() { cp, cpErr = newControlPlane() })
	if cpErr != nil {
		t.Fatal(cpErr)
	}
	return cp
}

func stopControlPlane() {
	if cp != nil {
		_ = cp.env.Stop()
		_ = os.RemoveAll(filepath.Dir(cp.kubeconfig))
	}
}

func newControlPlane() (*controlPlane, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test` (or `make test-chart`), " +
			"which builds the control plane")
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		return nil, fmt.Errorf("kubectl is not on PATH: %w", err)
	}
	env := &envtest.Environment{
		CRDInstallOptions: envtest.CRDInstallOptions{
			CRDs: []*apiextensionsv1.CustomResourceDefinition{serviceMonitorCRD()},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	c := &controlPlane{env: env}
	fail := func(err error) (*controlPlane, error) {
		_ = env.Stop()
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fail(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return fail(err)
	}
	if c.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail(err)
	}
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(fmt.Errorf("adding the kubectl user: %w", err))
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "chart-test-kubeconfig-")
	if err != nil {
		return fail(err)
	}
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	return c, nil
}

// serviceMonitorCRD is a stand-in for the Prometheus Operator CRD: right group, version and kind, any content.
func serviceMonitorCRD() *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
}

// namespace creates a namespace; restricted labels it to enforce (and warn about) Pod Security "restricted".
func (c *controlPlane) namespace(t *testing.T, name string, restricted bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if restricted {
		ns.Labels = map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
			"pod-security.kubernetes.io/warn":            "restricted",
			"pod-security.kubernetes.io/warn-version":    "latest",
		}
	}
	// AlreadyExists: the same test ran before against this control plane (go test -count=N).
	if err := c.client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// kubectl runs kubectl against the control plane with stdin, returning stdout and stderr.
func (c *controlPlane) kubectl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// dryRun applies the manifest with server-side apply and server-side dry-run into the namespace, and fails the
// test on an error or on any warning from the API server (Pod Security warnings among them).
func (c *controlPlane) dryRun(t *testing.T, namespace, manifest string) string {
	t.Helper()
	stdout, stderr, err := c.kubectl(t, manifest, dryRunArgs(namespace)...)
	if err != nil {
		t.Fatalf("server-side dry-run into %s failed: %v\nstdout:\n%s\nstderr:\n%s", namespace, err, stdout, stderr)
	}
	if strings.Contains(stderr, "Warning") {
		t.Fatalf("server-side dry-run into %s gave warnings:\n%s", namespace, stderr)
	}
	return stdout
}

// dryRunArgs are kubectl's arguments for a server-side apply with server-side dry-run. It forces conflicts: the
// tests dry-run several releases' cluster-scoped objects (and the CRDs a real install left behind), and who owns
// which field is not what they check.
func dryRunArgs(namespace string) []string {
	return []string{"apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=chart-test",
		"-n", namespace, "-f", "-"}
}
