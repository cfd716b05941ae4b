package operator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/optout"
)

const overrideLabel = "teams.operator.dev/opt-out-override"

// TestOptOut: a person replies "stop": the record (a ConfigMap shard in the manager's namespace)
// holds them, the bot confirms in the chat, and a message to them ends OptedOut with nothing
// sent, unless it sets ignoreOptOut in a namespace allowed to. "start" undoes it.
func TestOptOut(t *testing.T) {
	g := NewWithT(t)
	managerNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "manager-"}}
	w := startOperator(t, func(o *Options) {
		k8s, err := client.New(restCfg, client.Options{Scheme: scheme})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8s.Create(t.Context(), managerNS)).To(Succeed())
		o.OptOut = OptOutOptions{Namespace: managerNS.Name, Override: labels.SelectorFromSet(labels.Set{overrideLabel: "true"})}
	})
	ns := w.namespace(t, emulator.DefaultBotAppID, emulator.DefaultBotSecret)
	allowed := w.namespace(t, emulator.DefaultBotAppID, emulator.DefaultBotSecret)
	nsObj := &corev1.Namespace{}
	g.Expect(w.k8s.Get(w.ctx, key("", allowed), nsObj)).To(Succeed())
	nsObj.Labels[overrideLabel] = "true"
	g.Expect(w.k8s.Update(w.ctx, nsObj)).To(Succeed())
	_, err := w.emu.Install(emulator.ScopeUser, emulator.DefaultUserAlexID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	for _, n := range []string{ns, allowed} {
		g.Expect(w.k8s.Create(w.ctx, &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "alex"},
			Spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{UserPrincipalName: emulator.DefaultUserAlexUPN},
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: "bot"}}})).To(Succeed())
	}
	ct := &teamsv1alpha1.ConversationTarget{}
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.Get(w.ctx, key(ns, "alex"), ct)).To(Succeed())
		g.Expect(ct.Status.UserID).To(Equal(emulator.DefaultUserAlexID))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	conv := ct.Status.ConversationID

	say := func(text string) {
		answers, err := w.emu.Act(w.ctx, emulator.UserAction{Kind: emulator.ActMessage, User: emulator.DefaultUserAlexID, Text: text})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(answers).To(ConsistOf(HaveField("Status", http.StatusOK)))
	}
	texts := func() []string {
		var out []string
		for _, a := range w.emu.ConversationActivities(conv) {
			out = append(out, string(a.Activity))
		}
		return out
	}
	say("Stop ")
	g.Eventually(texts).Should(ContainElement(ContainSubstring("no longer get notifications")), "the bot confirms")
	var shards corev1.ConfigMapList
	g.Expect(w.k8s.List(w.ctx, &shards, client.InNamespace(managerNS.Name),
		client.MatchingLabels{optout.LabelOptOut: "true", optout.LabelBot: emulator.DefaultBotAppID})).To(Succeed())
	g.Expect(shards.Items).To(HaveLen(1))
	g.Expect(shards.Items[0].Data).To(HaveKey(emulator.DefaultTenantID + "." + emulator.DefaultUserAlexID))

	send := func(namespace, name string, ignore bool) *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "alex"},
				Text: "deploy " + name, IgnoreOptOut: ignore}}
		g.Expect(w.k8s.Create(w.ctx, pm)).To(Succeed())
		return pm
	}
	phase := func(namespace, name string) func(g Gomega) teamsv1alpha1.Phase {
		return func(g Gomega) teamsv1alpha1.Phase {
			pm := &teamsv1alpha1.ProactiveMessage{}
			g.Expect(w.k8s.Get(w.ctx, key(namespace, name), pm)).To(Succeed())
			return pm.Status.Phase
		}
	}
	send(ns, "first", false)
	send(ns, "critical", true)
	send(allowed, "critical", true)
	g.Eventually(phase(ns, "first")).WithTimeout(30 * time.Second).Should(Equal(teamsv1alpha1.PhaseOptedOut))
	g.Eventually(phase(ns, "critical")).WithTimeout(30 * time.Second).Should(Equal(teamsv1alpha1.PhaseOptedOut))
	g.Eventually(phase(allowed, "critical")).WithTimeout(30 * time.Second).Should(Equal(teamsv1alpha1.PhaseDelivered))
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(w.k8s.Get(w.ctx, key(ns, "critical"), pm)).To(Succeed())
	ready := meta.FindStatusCondition(pm.Status.Conditions, teamsv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(teamsv1alpha1.RecipientOptedOutReason))
	g.Expect(ready.Message).To(ContainSubstring("ignoreOptOut has no effect in this namespace"))
	g.Expect(texts()).NotTo(ContainElement(ContainSubstring("deploy first")), "nothing sent to an opted-out person")
	g.Expect(texts()).To(ContainElement(ContainSubstring("deploy critical")), "the allowed override was sent")

	say("start")
	g.Eventually(texts).Should(ContainElement(ContainSubstring("on again")))
	g.Eventually(func(g Gomega) {
		g.Expect(w.k8s.List(w.ctx, &shards, client.InNamespace(managerNS.Name))).To(Succeed())
		g.Expect(shards.Items[0].Data).To(BeEmpty())
	}).Should(Succeed())
	send(ns, "second", false)
	g.Eventually(phase(ns, "second")).WithTimeout(30 * time.Second).Should(Equal(teamsv1alpha1.PhaseDelivered))
	g.Expect(strings.Join(texts(), "\n")).To(ContainSubstring("deploy second"))
}
