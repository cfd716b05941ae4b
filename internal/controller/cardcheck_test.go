package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

var _ = Describe("ProactiveMessage card validation", func() {
	It("refuses a card Teams would not render, naming the JSON path, without sending it", func() {
		ns := newNamespace()
		chatID := pmPersonalTarget(ns, "cards")
		pmMessage(ns, "a-carousel", "cards", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text = ""
			s.AdaptiveCard = &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5", Body: []apiextensionsv1.JSON{
				{Raw: []byte(`{"type":"TextBlock","text":"fine"}`)},
				{Raw: []byte(`{"type":"Carousel","pages":[]}`)},
			}}
		})
		pmMessage(ns, "b-fine", "cards", nil)

		bad := pmEventuallyPhase(ns, "a-carousel", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(bad).Reason).To(Equal(teamsv1alpha1.InvalidCardReason))
		Expect(pmReady(bad).Message).To(ContainSubstring(`$.body[1].type: Teams does not render the element type "Carousel"`))
		Expect(meta.IsStatusConditionTrue(bad.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
		Expect(bad.Status.Attempts).To(BeZero())
		pmEventuallyPhase(ns, "b-fine", teamsv1alpha1.PhaseDelivered)
		Expect(pmLive(chatID)).To(HaveLen(1), "only the valid message reached Teams")
	})
})
