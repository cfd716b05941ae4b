// Package chart tests the Helm chart in charts/teams-operator: it renders the chart with bin/helm for several
// value sets, lints it, checks that its CRDs and RBAC are exactly what controller-gen generates into config/, and
// applies every rendering with server-side dry-run to a real kube-apiserver (envtest), including into namespaces
// that enforce Pod Security "restricted".
//
// bin/helm is built with `make helm` when missing (a few minutes the first time); kubectl must be on PATH.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var (
	repoRoot = mustAbs(filepath.Join("..", ".."))
	chartDir = filepath.Join(repoRoot, "charts", "teams-operator")

	helmOnce sync.Once
	helmPath string
	helmErr  error
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopControlPlane()
	os.Exit(code)
}

// helm returns the path of bin/helm, building it with `make helm` the first time it is missing.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		helmPath = filepath.Join(repoRoot, "bin", "helm")
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		cmd := exec.Command("make", "-C", repoRoot, "helm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("building bin/helm with `make helm` failed (run it by hand to see why): %w\n%s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs bin/helm with an isolated configuration and returns stdout, and stderr as part of the error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helm(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valueSet is one way of configuring the chart: a values file in testdata plus --set overrides.
type valueSet struct {
	release   string
	namespace string
	files     []string
	set       []string
}

func (v valueSet) args() []string {
	args := []string{"template", v.release, chartDir, "--namespace", v.namespace}
	for _, f := range v.files {
		args = append(args, "-f", filepath.Join("testdata", f))
	}
	for _, s := range v.set {
		args = append(args, "--set", s)
	}
	return args
}

// render renders the chart and fails the test on any error.
func render(t *testing.T, v valueSet) string {
	t.Helper()
	out, err := runHelm(t, v.args()...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects parses a multi-document YAML stream, skipping empty documents.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("parsing rendered manifest: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// find returns the one object of the kind (and name, when not empty), failing the test otherwise.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q in the rendered chart, found %d", kind, name, len(found))
	}
	return found[0]
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}
