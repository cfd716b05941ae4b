package operator

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// TestInstallsSeenLive: with polls an hour apart, an install in Teams makes a waiting user
// target Ready at once, and a removal makes the TeamsAppInstallation reinstall at once; each
// affected object gets an event. Objects of another bot in the same tenant are not touched.
func TestInstallsSeenLive(t *testing.T) {
	g := NewWithT(t)
	w := startOperator(t, nil)
	ns := w.namespace(t, emulator.DefaultBotAppID, emulator.DefaultBotSecret)
	other := w.namespace(t, emulator.DefaultNotifierAppID, emulator.DefaultNotifierSecret)
	ref := &teamsv1alpha1.LocalObjectReference{Name: "bot"}
	userTarget := func(namespace string) *teamsv1alpha1.ConversationTarget {
		return &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "alex"},
			Spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: emulator.DefaultUserAlexID}, CredentialsRef: ref}}
	}
	g.Expect(w.k8s.Create(w.ctx, userTarget(ns))).To(Succeed())
	g.Expect(w.k8s.Create(w.ctx, userTarget(other))).To(Succeed())
	tai := &teamsv1alpha1.TeamsAppInstallation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "megan"},
		Spec: teamsv1alpha1.TeamsAppInstallationSpec{
			App:            teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
			Scope:          teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: emulator.DefaultUserMeganID}},
			CredentialsRef: ref,
		}}
	g.Expect(w.k8s.Create(w.ctx, tai)).To(Succeed())

	ct := &teamsv1alpha1.ConversationTarget{}
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "alex"), ct)).To(Succeed())
		c := meta.FindStatusCondition(ct.Status.Conditions, teamsv1alpha1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(teamsv1alpha1.BotNotInstalledReason))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "megan"), tai)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(tai.Status.Conditions, teamsv1alpha1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// Alex installs the app in Teams: the target is Ready at once.
	answers, err := w.emu.Act(w.ctx, emulator.UserAction{Kind: emulator.ActInstall, User: emulator.DefaultUserAlexID,
		TeamsAppID: emulator.DefaultTeamsAppID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(answers).To(HaveEach(HaveField("Status", http.StatusOK)))
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "alex"), ct)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(ct.Status.Conditions, teamsv1alpha1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Expect(eventReasons(g, w, ns, "alex")).To(ContainElement(teamsv1alpha1.AppInstalledInTeamsReason))

	// The other bot's target in the same tenant heard nothing.
	otherCT := &teamsv1alpha1.ConversationTarget{}
	g.Expect(w.k8s.Get(w.ctx, key(other, "alex"), otherCT)).To(Succeed())
	g.Expect(otherCT.Annotations).NotTo(HaveKey(teamsv1alpha1.BotActivityAnnotation))
	g.Expect(eventReasons(g, w, other, "alex")).NotTo(ContainElement(teamsv1alpha1.AppInstalledInTeamsReason))

	// Megan removes the app in Teams: the installation is repaired at once.
	_, err = w.emu.Act(w.ctx, emulator.UserAction{Kind: emulator.ActUninstall, User: emulator.DefaultUserMeganID,
		TeamsAppID: emulator.DefaultTeamsAppID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() []string { return eventReasons(g, w, ns, "megan") }).WithTimeout(30 * time.Second).
		Should(ContainElement(teamsv1alpha1.AppRemovedInTeamsReason))
	g.Eventually(func() int { return len(userInstalls(w, emulator.DefaultUserMeganID)) }).WithTimeout(30*time.Second).
		Should(Equal(1), "reinstalled by the operator")
}

func eventReasons(g Gomega, w *world, ns, name string) []string {
	var list eventsv1.EventList
	g.Expect(w.k8s.List(w.ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func userInstalls(w *world, userID string) []emulator.InstallState {
	for _, t := range w.emu.State().Tenants {
		for _, u := range t.Users {
			if u.ID == userID {
				return u.InstalledApps
			}
		}
	}
	return nil
}
