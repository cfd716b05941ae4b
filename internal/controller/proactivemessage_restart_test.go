package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/operator"
)

// The suite's manager cannot be stopped without stopping every other spec, so this spec runs
// its own API server and its own managers against the shared emulator (with its own users).

// restartSendRPS makes the 200 sends take ten seconds.
const restartSendRPS = 20

// pmStartManager starts a manager on cfg and returns a function that stops it and waits
// until it has stopped.
func pmStartManager(cfg *rest.Config) (stop func()) {
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 k8sClient.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	Expect(err).NotTo(HaveOccurred())
	endpoints, err := cloud.Lookup(cloud.Public)
	Expect(err).NotTo(HaveOccurred())
	endpoints, err = endpoints.WithOverrides(emuServer.URL+"/", emuServer.URL, emuServer.URL+"/teams/")
	Expect(err).NotTo(HaveOccurred())
	Expect(operator.Setup(mgr, operator.Options{
		Endpoints:          endpoints,
		DefaultCredentials: types.NamespacedName{Namespace: operatorNamespace, Name: defaultSecretName},
		ExtraRootCAs:       emuServer.RootCAs,
		// Slow enough that the spec can stop the manager in the middle on a loaded machine.
		MaxSendRPS: restartSendRPS,
	})).To(Succeed())
	mgrCtx, cancelMgr := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	return func() {
		cancelMgr()
		Eventually(done).WithTimeout(time.Minute).Should(BeClosed())
	}
}

var _ = Describe("ProactiveMessage across a manager restart", func() {
	It("loses and duplicates nothing when the manager stops and starts again in the middle of 200 sends", func() {
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := env.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(env.Stop)
		c, err := client.New(cfg, client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		for _, name := range []string{operatorNamespace, "restart"} {
			Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
		}
		Expect(c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: defaultSecretName},
			StringData: map[string]string{"tenantId": emulator.DefaultTenantID, "clientId": emulator.DefaultBotAppID,
				"clientSecret": emulator.DefaultBotSecret},
		})).To(Succeed())

		const conversations, perConversation = 10, 20
		chats := make([]string, conversations)
		for i := range conversations {
			_, chats[i] = pmUser()
			pmReadyTargetIn(c, "restart", fmt.Sprintf("t-%d", i), teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: chats[i]}}, "Personal", chats[i])
		}

		// Every message exists before the first manager starts: created while it runs, a slow
		// API server could let it deliver them all before the spec can stop it.
		for n := range perConversation {
			for i := range conversations {
				Expect(c.Create(ctx, &teamsv1alpha1.ProactiveMessage{
					ObjectMeta: metav1.ObjectMeta{Namespace: "restart", Name: fmt.Sprintf("m-%d-%02d", i, n)},
					Spec: teamsv1alpha1.ProactiveMessageSpec{
						TargetRef: teamsv1alpha1.LocalObjectReference{Name: fmt.Sprintf("t-%d", i)},
						Text:      fmt.Sprintf("restart %d %02d", i, n),
					},
				})).To(Succeed())
			}
		}
		stop := pmStartManager(cfg)
		phases := func(g Gomega) map[teamsv1alpha1.Phase]int {
			list := &teamsv1alpha1.ProactiveMessageList{}
			g.Expect(c.List(ctx, list, client.InNamespace("restart"))).To(Succeed())
			out := map[teamsv1alpha1.Phase]int{}
			for _, m := range list.Items {
				out[m.Status.Phase]++
			}
			return out
		}
		Eventually(func(g Gomega) {
			g.Expect(phases(g)[teamsv1alpha1.PhaseDelivered]).To(BeNumerically(">=", 20))
		}).WithTimeout(2 * time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())
		stop()
		before := phases(Default)
		GinkgoWriter.Printf("Phases when the first manager stopped: %v\n", before)
		Expect(before[teamsv1alpha1.PhaseDelivered]).To(BeNumerically("<", conversations*perConversation),
			"the manager stopped in the middle")

		stop = pmStartManager(cfg)
		DeferCleanup(func() { stop() })
		Eventually(func(g Gomega) {
			p := phases(g)
			g.Expect(p[teamsv1alpha1.PhaseDelivered] + p[teamsv1alpha1.PhaseUnknown]).To(Equal(conversations * perConversation))
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())

		list := &teamsv1alpha1.ProactiveMessageList{}
		Expect(c.List(ctx, list, client.InNamespace("restart"))).To(Succeed())
		unknown := 0
		for i, chatID := range chats {
			copies := map[string]int{}
			var order []string
			for _, a := range pmLive(chatID) {
				text := pmActivity(a)["text"].(string)
				copies[text]++
				order = append(order, text)
			}
			for _, m := range list.Items {
				if m.Spec.TargetRef.Name != fmt.Sprintf("t-%d", i) {
					continue
				}
				switch m.Status.Phase {
				case teamsv1alpha1.PhaseDelivered:
					Expect(copies[m.Spec.Text]).To(Equal(1), "%s delivered exactly once", m.Name)
				default: // Unknown: AtMostOnce never sends it twice
					unknown++
					Expect(copies[m.Spec.Text]).To(BeNumerically("<=", 1), "%s not duplicated", m.Name)
				}
			}
			Expect(slices.IsSorted(order)).To(BeTrue(), "conversation %d in creation order: %v", i, order)
		}
		GinkgoWriter.Printf("Unknown after the restart: %d\n", unknown)
		// A graceful stop lets the sends in flight finish and record their result, so no
		// outcome is unknown (a crash is the "crash between the marker and the answer" spec).
		Expect(unknown).To(BeZero())
	})
})
