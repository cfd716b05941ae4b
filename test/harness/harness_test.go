package harness_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// TestHarness delivers one message through the manager binary, kills it, and starts another that
// finds the message delivered and sends nothing more.
func TestHarness(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	env, err := harness.Start(harness.Options{Dir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	g.Expect(env.Namespace(ctx, "h")).To(Succeed())
	_, err = env.Emulator.Install("team", emulator.DefaultTeamID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())

	mgr, err := env.StartManager(ctx, "manager-1", "--default-credentials", "h/"+harness.CredentialsName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "h", Name: "general"},
		Spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
			TeamID: emulator.DefaultTeamID, ChannelID: emulator.DefaultGeneralChannelID}},
	})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: "h", Name: "hello"},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: "general"}, Text: "hello from the harness"},
	})).To(Succeed())
	delivered := func(g Gomega) teamsv1alpha1.Phase {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(env.Client.Get(ctx, keyOf("h", "hello"), pm)).To(Succeed())
		return pm.Status.Phase
	}
	g.Eventually(delivered).WithTimeout(time.Minute).Should(Equal(teamsv1alpha1.PhaseDelivered))

	resp, err := http.Get(mgr.MetricsURL) //nolint:noctx // local probe
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(string(body)).To(ContainSubstring(`teams_operator_proactive_messages_total{result="Delivered"} 1`))

	mgr.Kill()
	g.Expect(mgr.Exited()).To(BeTrue())
	_, err = env.StartManager(ctx, "manager-2", "--default-credentials", "h/"+harness.CredentialsName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Consistently(func() int {
		return len(env.Emulator.ConversationActivities(emulator.DefaultGeneralChannelID))
	}).WithTimeout(3 * time.Second).Should(Equal(1))
}

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
