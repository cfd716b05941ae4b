package crd

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	var names []string
	for field := range t.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

var _ = Describe("kubectl explain", Ordered, func() {
	var kubeconfig string

	BeforeAll(func() {
		_, err := exec.LookPath("kubectl")
		Expect(err).NotTo(HaveOccurred(), "kubectl must be on PATH (.ci/run installs it)")
		user, err := testEnv.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		data, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, data, 0o600)).To(Succeed())
		// The API server publishes a new CRD's OpenAPI schema a moment after the CRD is
		// established; until then kubectl explain cannot find the resource.
		for _, kind := range []string{"proactivemessage", "conversationtarget", "teamsappinstallation"} {
			Eventually(func() error {
				return exec.Command("kubectl", "--kubeconfig", kubeconfig, "explain", kind+".spec").Run()
			}).WithTimeout(30*time.Second).Should(Succeed(), "kubectl explain %s.spec", kind)
		}
	})

	explain := func(path string) string {
		out, err := exec.Command("kubectl", "--kubeconfig", kubeconfig, "explain", path).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl explain %s: %s", path, out)
		return string(out)
	}

	DescribeTable("documents every spec field",
		func(resource string, spec any) {
			for _, field := range jsonFields(spec) {
				out := explain(resource + ".spec." + field)
				description := strings.SplitN(out, "DESCRIPTION:", 2)
				Expect(description).To(HaveLen(2), "no description for %s.spec.%s:\n%s", resource, field, out)
				Expect(strings.TrimSpace(description[1])).NotTo(Or(BeEmpty(), HavePrefix("<empty>")),
					"empty description for %s.spec.%s", resource, field)
			}
		},
		Entry("ProactiveMessage", "proactivemessage", teamsv1alpha1.ProactiveMessageSpec{}),
		Entry("ConversationTarget", "conversationtarget", teamsv1alpha1.ConversationTargetSpec{}),
		Entry("TeamsAppInstallation", "teamsappinstallation", teamsv1alpha1.TeamsAppInstallationSpec{}),
	)

	It("explains delivery semantics where a user looks for them", func() {
		out := explain("proactivemessage.spec.deliveryGuarantee")
		Expect(out).To(ContainSubstring("AtMostOnce"))
		Expect(out).To(ContainSubstring("AtLeastOnce"))
		Expect(out).To(ContainSubstring("twice"))
	})
})
