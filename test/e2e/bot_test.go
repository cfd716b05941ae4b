package e2e

import (
	"context"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// TestBotEndpoint runs the manager binary with the bot endpoint over TLS against the emulator:
// a welcome is sent once across a manager restart, an install in Teams makes a waiting target
// Ready at once, and "stop" / "start" make a message end OptedOut, then be delivered.
func TestBotEndpoint(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	env, err := harness.Start(harness.Options{Dir: filepath.Join(dir, "harness")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	const ns, managerNS = "bot-e2e", "teams-operator-system"
	g.Expect(env.Namespace(ctx, ns)).To(Succeed())
	g.Expect(env.Namespace(ctx, managerNS)).To(Succeed())

	certDir := filepath.Join(dir, "bot-tls")
	amWriteCert(t, certDir)
	caPEM, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	start := func(name string) *harness.Manager {
		addr := amFreeAddr(t)
		mgr, err := env.StartManager(ctx, name, "--default-credentials", ns+"/"+harness.CredentialsName,
			"--bot-endpoint-bind-address", addr, "--bot-endpoint-cert-path", certDir,
			"--bot-openid-metadata-url", env.EmulatorServer.URL+emulator.BotOpenIDMetadataPath,
			"--opt-out-namespace", managerNS)
		g.Expect(err).NotTo(HaveOccurred())
		t.Cleanup(func() { amDumpOnFailure(t, mgr.Log) })
		env.Emulator.SetBotEndpoint(emulator.BotEndpoint{URL: "https://" + addr + "/api/messages", RootCAs: pool,
			ServiceURL: env.EmulatorServer.URL + "/teams/"})
		return mgr
	}
	mgr := start("manager")

	// Welcome, once.
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.TeamsAppInstallation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lynne"},
		Spec: teamsv1alpha1.TeamsAppInstallationSpec{
			App:     teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
			Scope:   teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: emulator.DefaultUserLynneID}},
			Welcome: &teamsv1alpha1.WelcomeMessage{Text: "Welcome aboard"},
		}})).To(Succeed())
	welcomes := func() int {
		n := 0
		for _, a := range env.Emulator.Activities() {
			if strings.Contains(string(a.Activity), "Welcome aboard") {
				n++
			}
		}
		return n
	}
	g.Eventually(welcomes).WithTimeout(60 * time.Second).Should(Equal(1))

	// Alex's target waits for the app; Alex installs it in Teams.
	g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alex"},
		Spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: emulator.DefaultUserAlexID}}})).To(Succeed())
	target := &teamsv1alpha1.ConversationTarget{}
	g.Eventually(func(g Gomega) string {
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "alex"}, target)).To(Succeed())
		c := meta.FindStatusCondition(target.Status.Conditions, teamsv1alpha1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		return c.Reason
	}).WithTimeout(60 * time.Second).Should(Equal(teamsv1alpha1.BotNotInstalledReason))

	// The manager restarts: no second welcome.
	g.Expect(mgr.Stop(30 * time.Second)).To(Succeed())
	start("manager-2")
	answers, err := env.Emulator.Act(ctx, emulator.UserAction{Kind: emulator.ActInstall, User: emulator.DefaultUserAlexID,
		TeamsAppID: emulator.DefaultTeamsAppID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(answers).To(HaveEach(HaveField("Status", http.StatusOK)))
	g.Eventually(func(g Gomega) bool {
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "alex"}, target)).To(Succeed())
		return meta.IsStatusConditionTrue(target.Status.Conditions, teamsv1alpha1.ReadyCondition)
	}).WithTimeout(20*time.Second).Should(BeTrue(), "Ready at once, not at the next poll (30 s)")
	g.Expect(welcomes()).To(Equal(1))

	// Stop, a message ends OptedOut; start, the next one is delivered.
	say := func(text string) {
		answers, err := env.Emulator.Act(ctx, emulator.UserAction{Kind: emulator.ActMessage, User: emulator.DefaultUserAlexID, Text: text})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(answers).To(ConsistOf(HaveField("Status", http.StatusOK)))
	}
	phase := func(name string) func(g Gomega) teamsv1alpha1.Phase {
		return func(g Gomega) teamsv1alpha1.Phase {
			pm := &teamsv1alpha1.ProactiveMessage{}
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pm)).To(Succeed())
			return pm.Status.Phase
		}
	}
	send := func(name string) {
		g.Expect(env.Client.Create(ctx, &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "alex"}, Text: "note " + name}})).To(Succeed())
	}
	say("stop")
	send("first")
	g.Eventually(phase("first")).WithTimeout(60 * time.Second).Should(Equal(teamsv1alpha1.PhaseOptedOut))
	say("start")
	send("second")
	g.Eventually(phase("second")).WithTimeout(60 * time.Second).Should(Equal(teamsv1alpha1.PhaseDelivered))
	for _, a := range env.Emulator.Activities() {
		g.Expect(string(a.Activity)).NotTo(ContainSubstring("note first"), "nothing sent to an opted-out person")
	}
}
