package controller_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// refuseResultsLabel marks the messages whose delivery result the API server refuses to store.
const refuseResultsLabel = "test.teams.operator.dev/refuse-results"

// pmRefuseResults installs an admission policy that refuses, in namespace ns, every write that
// would record a delivery of a message labelled refuseResultsLabel: the activity-id annotation,
// or status.phase Delivered. For the sender it looks like an API server that went away right
// after Teams accepted the message.
func pmRefuseResults(ns string) {
	name := "refuse-results-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups:   []string{teamsv1alpha1.GroupVersion.Group},
							APIVersions: []string{teamsv1alpha1.GroupVersion.Version},
							Resources:   []string{"proactivemessages", "proactivemessages/status"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf(`!(has(object.metadata.labels) && %q in object.metadata.labels) || `+
					`!((has(object.metadata.annotations) && %q in object.metadata.annotations) || `+
					`(has(object.status) && has(object.status.phase) && object.status.phase == "Delivered"))`,
					refuseResultsLabel, teamsv1alpha1.ActivityIDAnnotation),
				Message: "the test refuses delivery results",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, policy))).To(Succeed()) })
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed()) })
}

var _ = Describe("ProactiveMessage whose result cannot be written", func() {
	It("keeps the delivery and writes it once the API server takes it, instead of reporting Unknown", func() {
		ns := newNamespace()
		chatID := pmPersonalTarget(ns, "adele")
		pmRefuseResults(ns)
		// The policy applies once the API server has loaded it: until then a probe message's
		// refused write would go through. Probe with a write the policy refuses.
		probe := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe", Labels: map[string]string{refuseResultsLabel: ""}},
			Spec:       teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "nowhere"}, Text: "probe"},
		}
		Expect(k8sClient.Create(ctx, probe)).To(Succeed())
		Eventually(func() error {
			p := probe.DeepCopy()
			p.Annotations = map[string]string{teamsv1alpha1.ActivityIDAnnotation: "x"}
			return k8sClient.Patch(ctx, p, client.MergeFrom(probe))
		}).WithTimeout(pmTimeout).Should(MatchError(ContainSubstring("the test refuses delivery results")))

		msg := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kept", Labels: map[string]string{refuseResultsLabel: ""}},
			Spec:       teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "adele"}, Text: "Kept"},
		}
		Expect(k8sClient.Create(ctx, msg)).To(Succeed())
		Eventually(func() int { return len(pmLive(chatID)) }).WithTimeout(pmTimeout).Should(Equal(1))
		// The manager retries the refused write; it must neither decide that the outcome is
		// unknown nor send again.
		Consistently(func(g Gomega) {
			m := pmGet(g, ns, "kept")
			g.Expect(m.Status.Phase).NotTo(Equal(teamsv1alpha1.PhaseUnknown), "Ready: %+v", pmReady(m))
			g.Expect(pmLive(chatID)).To(HaveLen(1))
		}).WithTimeout(3 * time.Second).Should(Succeed())

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(msg), msg)).To(Succeed())
		patch := client.MergeFrom(msg.DeepCopy())
		delete(msg.Labels, refuseResultsLabel)
		Expect(k8sClient.Patch(ctx, msg, patch)).To(Succeed())
		delivered := pmEventuallyPhase(ns, "kept", teamsv1alpha1.PhaseDelivered)
		live := pmLive(chatID)
		Expect(live).To(HaveLen(1), "sent once")
		Expect(delivered.Status.ActivityID).To(Equal(live[0].ActivityID))
		Expect(pmJournalEntry(ns, "kept").ActivityID).To(Equal(live[0].ActivityID))
	})
})
