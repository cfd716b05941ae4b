package controller_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Issue 14: one namespace must not be able to fill the manager's memory or put Secret values in
// its cache.
var _ = Describe("Tenant isolation: the manager's cache", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("keeps neither a card too large to send nor kubectl's copy of it, and fails the message", func() {
		pmPersonalTarget(ns, "big")
		// 1 MiB of card, applied with kubectl (so a second copy in last-applied-configuration):
		// 90 of these filled the chart's 256 MiB before.
		body := make([]apiextensionsv1.JSON, 0, 16)
		for range 16 {
			body = append(body, apiextensionsv1.JSON{Raw: []byte(`{"type":"TextBlock","text":"` + strings.Repeat("x", 64<<10) + `"}`)})
		}
		msg := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bomb", Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: strings.Repeat("y", 200<<10),
			}},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef:    teamsv1alpha1.LocalObjectReference{Name: "big"},
				AdaptiveCard: &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5", Body: body},
			},
		}
		Expect(k8sClient.Create(ctx, msg)).To(Succeed())

		failed := pmEventuallyPhase(ns, "bomb", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(failed).Reason).To(Equal(teamsv1alpha1.MessageTooLargeReason))
		Expect(pmReady(failed).Message).To(ContainSubstring("the card alone is"))
		Expect(failed.Status.Attempts).To(BeZero())

		cached := &teamsv1alpha1.ProactiveMessage{}
		Expect(mgrCache.Get(ctx, client.ObjectKeyFromObject(msg), cached)).To(Succeed())
		Expect(cached.Spec.AdaptiveCard.Body).To(BeEmpty(), "the cache holds no oversized card")
		Expect(cached.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
		Expect(cached.Annotations).To(HaveKey(teamsv1alpha1.CardDroppedAnnotation))

		// The marker lives only in the cache: the object on the API server is untouched.
		live := pmGet(Default, ns, "bomb")
		Expect(live.Spec.AdaptiveCard.Body).To(HaveLen(16))
		Expect(live.Annotations).NotTo(HaveKey(teamsv1alpha1.CardDroppedAnnotation))
		Expect(live.Annotations).To(HaveKey(corev1.LastAppliedConfigAnnotation))
	})

	It("keeps no Secret value in the Secret metadata cache", func() {
		secret := createCredentials(ns, "applied")
		base := secret.DeepCopy()
		secret.Annotations = map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"stringData":{"clientSecret":"do-not-cache-me"}}`,
		}
		Expect(k8sClient.Patch(ctx, secret, client.MergeFrom(base))).To(Succeed())
		Eventually(func(g Gomega) {
			cached := &metav1.PartialObjectMetadata{}
			cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			g.Expect(mgrCache.Get(ctx, client.ObjectKeyFromObject(secret), cached)).To(Succeed())
			g.Expect(cached.ResourceVersion).To(Equal(secret.ResourceVersion))
			g.Expect(cached.Annotations).To(BeEmpty())
		}).WithTimeout(pmTimeout).Should(Succeed())
	})
})
