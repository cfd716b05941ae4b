package chart

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
)

// TestKustomizeMatchesChart keeps config/ (for kustomize users) equivalent to the chart's defaults: the same
// manager flags, apart from those the chart spells out at their default values, and a pod that Pod Security
// "restricted" accepts.
func TestKustomizeMatchesChart(t *testing.T) {
	g := NewWithT(t)
	out, err := exec.Command("kubectl", "kustomize", filepath.Join(repoRoot, "config", "default")).Output()
	g.Expect(err).NotTo(HaveOccurred(), "kubectl kustomize config/default")
	kustomized := decode(t, string(out))
	chart := decode(t, render(t, valueSet{release: "teams-operator", namespace: "teams-operator-system"}))

	defaults := []string{"--cloud=Public", "--zap-log-level=info", "--zap-encoder=json",
		"--shared-credentials-namespace-selector=teams.operator.dev/shared-credentials=true",
		"--annotation-key-file=/etc/teams-operator/delivery-proof/key"}
	var chartArgs []string
	for _, a := range chart.args {
		if !slices.Contains(defaults, a) {
			chartArgs = append(chartArgs, a)
		}
	}
	g.Expect(kustomized.args).To(ConsistOf(chartArgs))
	checkSecure(g, kustomized)
	g.Expect(kustomized.deploy.Spec.Template.Spec.Containers[0].Resources).To(
		Equal(chart.deploy.Spec.Template.Spec.Containers[0].Resources))

	cluster := startControlPlane(t)
	cluster.namespace(t, "kustomize", true)
	cluster.dryRun(t, "kustomize", podFromTemplate(t, kustomized.deploy))
}
