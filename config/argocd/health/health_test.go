// Package health holds the Argo CD health checks of the three kinds, in the layout of Argo CD's
// built-in checks (resource_customizations/<group>/<Kind>/health.lua, testdata/, health_test.yaml).
// This test runs each check as Argo CD does (gopher-lua, internal/argocdhealth) over every test
// case, and checks each case against kstatus too, so Argo CD and Flux agree (docs/gitops.md).
package health

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/teams-operator/teams-operator/internal/argocdhealth"
)

const group = "teams.operator.dev"

var kinds = []string{"ProactiveMessage", "ConversationTarget", "TeamsAppInstallation"}

// healthTests is Argo CD's health_test.yaml.
type healthTests struct {
	Tests []struct {
		HealthStatus argocdhealth.Status `json:"healthStatus"`
		InputPath    string              `json:"inputPath"`
	} `json:"tests"`
}

// kstatusFor is the kstatus result each Argo CD status must come with.
var kstatusFor = map[string][]status.Status{
	argocdhealth.Healthy:     {status.CurrentStatus},
	argocdhealth.Degraded:    {status.FailedStatus},
	argocdhealth.Progressing: {status.InProgressStatus},
}

func TestHealthChecks(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			g := NewWithT(t)
			script, err := argocdhealth.Script(".", group, kind)
			g.Expect(err).NotTo(HaveOccurred())
			dir := filepath.Join(group, kind)
			raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
			g.Expect(err).NotTo(HaveOccurred())
			var cases healthTests
			g.Expect(yaml.UnmarshalStrict(raw, &cases)).To(Succeed())
			g.Expect(cases.Tests).NotTo(BeEmpty())

			used := map[string]bool{}
			for _, tc := range cases.Tests {
				used[filepath.Base(tc.InputPath)] = true
				obj := load(g, filepath.Join(dir, tc.InputPath))
				got, err := argocdhealth.Evaluate(script, obj)
				g.Expect(err).NotTo(HaveOccurred(), tc.InputPath)
				g.Expect(got).To(Equal(tc.HealthStatus), tc.InputPath)

				res, err := status.Compute(obj)
				g.Expect(err).NotTo(HaveOccurred(), tc.InputPath)
				want := kstatusFor[got.Status]
				if obj.GetDeletionTimestamp() != nil {
					// kstatus says Terminating whatever the conditions; Argo CD shows why it is stuck.
					want = []status.Status{status.TerminatingStatus}
				}
				g.Expect(want).To(ContainElement(res.Status),
					"%s: Argo CD %s but kstatus %s", tc.InputPath, got.Status, res.Status)
			}
			files, err := os.ReadDir(filepath.Join(dir, "testdata"))
			g.Expect(err).NotTo(HaveOccurred())
			for _, f := range files {
				g.Expect(used).To(HaveKey(f.Name()), "testdata without a test case in health_test.yaml")
			}
		})
	}
}

// TestHealthChecksNeverSuspend: a sync wave waits on Suspended as on Progressing, so a waiting
// state reported Suspended would hold it; the checks must not use it (docs/gitops.md).
func TestHealthChecksNeverSuspend(t *testing.T) {
	g := NewWithT(t)
	for _, kind := range kinds {
		raw, err := os.ReadFile(filepath.Join(group, kind, "health.lua"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(raw)).NotTo(ContainSubstring(`"Suspended"`), kind)
	}
}

func load(g Gomega, path string) *unstructured.Unstructured {
	raw, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	js, err := yaml.YAMLToJSON(raw)
	g.Expect(err).NotTo(HaveOccurred(), path)
	obj := &unstructured.Unstructured{} // as the API server sends it: integers are int64
	g.Expect(obj.UnmarshalJSON(js)).To(Succeed(), path)
	return obj
}
