package chart

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestHelmInstall runs docs/install.md's `helm install` against the control plane, asks the API server what the
// manager's service account may then do (what the controllers and leader election need, and nothing on Secrets
// beyond reading them), and uninstalls: the CRDs stay. Nothing runs the pod (envtest has no kubelet).
func TestHelmInstall(t *testing.T) {
	g := NewWithT(t)
	cluster := startControlPlane(t)
	const ns = "teams-operator-system"
	out, err := runHelm(t, "install", "teams-operator", chartDir,
		"--namespace", ns, "--create-namespace",
		"--set", "defaultCredentials.secretName=teams-credentials",
		"--kubeconfig", cluster.kubeconfig)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("STATUS: deployed"))
	g.Expect(out).To(ContainSubstring("teams-operator-system/teams-credentials"), "NOTES name the default credentials")

	// The identity the API server gives the pod's token (k8s.io/apiserver/pkg/authentication/serviceaccount).
	sa := "system:serviceaccount:" + ns + ":teams-operator"
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	can := func(g Gomega, verb, group, resource, subresource, namespace string) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   sa,
			Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: group, Resource: resource, Subresource: subresource, Namespace: namespace,
			},
		}}
		g.Expect(cluster.client.Create(context.Background(), sar)).To(Succeed())
		return sar.Status.Allowed
	}
	permissions := []struct {
		verb, group, resource, sub, ns string
		allowed                        bool
	}{
		{"get", "", "secrets", "", "platform", true},
		{"watch", "", "secrets", "", "", true},
		{"create", "", "secrets", "", "platform", false},
		{"update", "", "secrets", "", "platform", false},
		{"delete", "", "secrets", "", "platform", false},
		{"list", "teams.operator.dev", "proactivemessages", "", "", true},
		{"patch", "teams.operator.dev", "proactivemessages", "status", "platform", true},
		{"update", "teams.operator.dev", "teamsappinstallations", "finalizers", "platform", true},
		{"create", "events.k8s.io", "events", "", "platform", true},
		{"create", "coordination.k8s.io", "leases", "", ns, true},
		{"update", "coordination.k8s.io", "leases", "", ns, true},
		{"create", "coordination.k8s.io", "leases", "", "platform", false},
		{"create", "", "events", "", ns, true},
		{"create", "authentication.k8s.io", "tokenreviews", "", "", true},
		{"create", "authorization.k8s.io", "subjectaccessreviews", "", "", true},
		// The receiver reads a card template ConfigMap by name and watches the labelled ones to check
		// them when saved (a cache with a label selector: RBAC cannot narrow a watch by label); a
		// broadcast keeps its per-person records in ConfigMaps it creates, updates and lists
		// (docs/security.md). Nothing deletes ConfigMaps: the records go with their message.
		{"get", "", "configmaps", "", "platform", true},
		{"list", "", "configmaps", "", "platform", true},
		{"create", "", "configmaps", "", "platform", true},
		{"watch", "", "configmaps", "", "", true},
		{"delete", "", "configmaps", "", "platform", false},
		{"create", "teams.operator.dev", "proactivemessages", "", "platform", true},
		{"create", "", "pods", "", ns, false},
	}
	// The authorizer follows RBAC changes through an informer, so the new bindings apply eventually.
	g.Eventually(func(g Gomega) {
		for _, p := range permissions {
			g.Expect(can(g, p.verb, p.group, p.resource, p.sub, p.ns)).To(Equal(p.allowed),
				"may %s %s %s/%s in %q", p.verb, p.group, p.resource, p.sub, p.ns)
		}
	}).WithTimeout(30 * time.Second).Should(Succeed())

	out, err = runHelm(t, "uninstall", "teams-operator", "--namespace", ns, "--kubeconfig", cluster.kubeconfig)
	g.Expect(err).NotTo(HaveOccurred(), out)
	for _, name := range []string{"teamsappinstallations", "conversationtargets", "proactivemessages"} {
		var crd apiextensionsv1.CustomResourceDefinition
		key := types.NamespacedName{Name: name + ".teams.operator.dev"}
		g.Expect(cluster.client.Get(context.Background(), key, &crd)).To(Succeed(), "the CRD %s is kept", key.Name)
		g.Expect(crd.DeletionTimestamp).To(BeNil())
	}
	// The authorizer follows RBAC changes through an informer, so this is eventually true.
	g.Eventually(func(g Gomega) bool { return can(g, "get", "", "secrets", "", "platform") }).
		WithTimeout(30*time.Second).Should(BeFalse(), "uninstalling removes the manager's RBAC")
}
