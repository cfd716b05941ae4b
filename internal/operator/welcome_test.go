package operator

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// TestWelcome (user Lynne: each test of the package has its own users, since the objects of
// earlier tests stay on the shared API server): spec.welcome is sent once, when the app is first seen installed, and never
// again: not after a manager restart, a removal in Teams repaired by a reinstall, or a lost
// status (restore from backup).
func TestWelcome(t *testing.T) {
	g := NewWithT(t)
	w := startOperator(t, nil)
	ns := w.namespace(t, emulator.DefaultBotAppID, emulator.DefaultBotSecret)
	tai := &teamsv1alpha1.TeamsAppInstallation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lynne"},
		Spec: teamsv1alpha1.TeamsAppInstallationSpec{
			App:            teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
			Scope:          teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: emulator.DefaultUserLynneID}},
			CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: "bot"},
			Welcome:        &teamsv1alpha1.WelcomeMessage{Text: "Hello from the platform team"},
		}}
	g.Expect(w.k8s.Create(w.ctx, tai)).To(Succeed())
	welcomes := func() int {
		n := 0
		for _, a := range w.emu.Activities() {
			if a.UserID == emulator.DefaultUserLynneID && strings.Contains(string(a.Activity), "Hello from the platform team") {
				n++
			}
		}
		return n
	}
	g.Eventually(welcomes).WithTimeout(30 * time.Second).Should(Equal(1))
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "lynne"), tai)).To(Succeed())
		g.Expect(tai.Status.Welcome).NotTo(BeNil())
		g.Expect(tai.Status.Welcome.ActivityID).NotTo(BeEmpty())
		g.Expect(meta.IsStatusConditionTrue(tai.Status.Conditions, teamsv1alpha1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Expect(eventReasons(g, w, ns, "lynne")).To(ContainElement(teamsv1alpha1.WelcomeSentReason))

	// A restart, then a removal in Teams that the restarted manager repairs at once.
	w.stop()
	w = startManager(t, w.emu, w.emuSrv, nil)
	_, err := w.emu.Act(w.ctx, emulator.UserAction{Kind: emulator.ActUninstall, User: emulator.DefaultUserLynneID,
		TeamsAppID: emulator.DefaultTeamsAppID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() int { return len(userInstalls(w, emulator.DefaultUserLynneID)) }).WithTimeout(30*time.Second).
		Should(Equal(1), "reinstalled")

	// The status is lost (a restore from backup): the annotation still says it was sent.
	g.Expect(w.k8s.Get(w.ctx, key(ns, "lynne"), tai)).To(Succeed())
	g.Expect(tai.Annotations).To(HaveKey(teamsv1alpha1.WelcomeSentAnnotation))
	patch := client.MergeFrom(tai.DeepCopy())
	tai.Status.Welcome = nil
	g.Expect(w.k8s.Status().Patch(w.ctx, tai, patch)).To(Succeed())
	tai.Annotations[teamsv1alpha1.BotActivityAnnotation] = "look again"
	g.Expect(w.k8s.Update(w.ctx, tai)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "lynne"), tai)).To(Succeed())
		g.Expect(tai.Status.Welcome).NotTo(BeNil())
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Consistently(welcomes).WithTimeout(2*time.Second).Should(Equal(1), "never sent twice")
}
