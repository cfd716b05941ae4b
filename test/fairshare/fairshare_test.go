// Package fairshare_test runs the manager at a low send rate against a real kube-apiserver
// (envtest) and the Teams emulator over TLS, with two namespaces competing for the bot's
// rate: a High message or another namespace's single message must not wait behind a
// backlog (docs/performance.md "Priority and fair share").
package fairshare_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/operator"
)

const (
	// sendRPS is the manager's --max-send-rps here: slow, so that one slot (333 ms) is long
	// against the manager's own latency on a loaded machine.
	sendRPS = 3
	// floodTargets × perTarget messages make the backlog; at most floodTargets of them wait
	// at the limiter at once (one per conversation: messages to one target go in order).
	floodTargets = 10
	perTarget    = 4
	// maxTurns is how many backlog messages may go between the single message's create and
	// its delivery: the slot in progress, and one for the manager's latency. Waiting behind
	// the backlog at the limiter alone would be about floodTargets.
	maxTurns = 3
)

type rig struct {
	ctx context.Context
	g   *WithT
	c   client.Client
	emu *emulator.Emulator
	// users are the emulator's users with the bot installed, one per target.
	users []string
}

func TestPriorityAndFairShare(t *testing.T) {
	r := start(t, rigOptions{sendRPS: sendRPS})
	t.Run("a High message does not wait behind another namespace's Bulk backlog", func(t *testing.T) {
		r.g = NewWithT(t)
		r.race("bulk", teamsv1alpha1.PriorityBulk, "alert", teamsv1alpha1.PriorityHigh, r.users[:floodTargets+1])
	})
	t.Run("within a priority, one namespace's backlog delays another's message by about a turn", func(t *testing.T) {
		r.g = NewWithT(t)
		r.race("flood", teamsv1alpha1.PriorityNormal, "single", teamsv1alpha1.PriorityNormal, r.users[floodTargets+1:])
	})
}

// race fills namespace floodNS with a backlog, then sends one message from singleNS and
// checks how many backlog messages Teams received between its create and its delivery.
func (r *rig) race(floodNS string, floodPriority teamsv1alpha1.MessagePriority, singleNS string,
	singlePriority teamsv1alpha1.MessagePriority, users []string) {
	g := r.g
	r.namespace(floodNS)
	r.namespace(singleNS)
	for i, user := range users[:floodTargets] {
		r.target(floodNS, fmt.Sprint("t", i), user)
	}
	r.target(singleNS, "t", users[floodTargets])
	r.waitReady(floodNS, floodTargets)
	r.waitReady(singleNS, 1)

	for n := range perTarget {
		for i := range floodTargets {
			r.message(floodNS, fmt.Sprintf("m-%d-%d", i, n), fmt.Sprint("t", i), floodPriority)
		}
	}
	// The backlog is moving: the limiter is busy.
	g.Eventually(func() int { return len(r.sentBy(floodNS)) }, time.Minute, 50*time.Millisecond).Should(BeNumerically(">=", 2))
	before := len(r.sentBy(floodNS))
	r.message(singleNS, "single", "t", singlePriority)
	g.Eventually(func() int { return len(r.sentBy(singleNS)) }, time.Minute, 50*time.Millisecond).Should(Equal(1))
	at := r.sentBy(singleNS)[0]
	between := 0
	for _, i := range r.sentBy(floodNS) {
		if i < at {
			between++
		}
	}
	between -= before
	g.Expect(between).To(BeNumerically("<=", maxTurns),
		"backlog messages sent between the single message's create and its delivery")
	g.Expect(len(r.sentBy(floodNS))).To(BeNumerically("<", floodTargets*perTarget), "the backlog was still there")
	// The backlog still drains completely.
	g.Eventually(func() int { return len(r.sentBy(floodNS)) }, 2*time.Minute, 100*time.Millisecond).
		Should(Equal(floodTargets * perTarget))
}

// sentBy returns the positions in the emulator's activity log of the messages of namespace
// ns (its users are known by the target names' order of creation: see target).
func (r *rig) sentBy(ns string) []int {
	var idx []int
	for i, a := range r.emu.Activities() {
		if owner[a.UserID] == ns {
			idx = append(idx, i)
		}
	}
	return idx
}

// owner maps an emulator user to the namespace whose target points at it.
var owner = map[string]string{}

func (r *rig) namespace(name string) {
	r.g.Expect(r.c.Create(r.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
}

func (r *rig) target(ns, name, user string) {
	owner[user] = ns
	r.g.Expect(r.c.Create(r.ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: user}},
	})).To(Succeed())
}

func (r *rig) waitReady(ns string, n int) {
	r.g.Eventually(func(g Gomega) {
		list := &teamsv1alpha1.ConversationTargetList{}
		g.Expect(r.c.List(r.ctx, list, client.InNamespace(ns))).To(Succeed())
		ready := 0
		for _, t := range list.Items {
			if t.Status.ConversationID != "" {
				ready++
			}
		}
		g.Expect(ready).To(Equal(n))
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
}

func (r *rig) message(ns, name, target string, p teamsv1alpha1.MessagePriority) {
	r.g.Expect(r.c.Create(r.ctx, &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: target},
			Text:      ns + "/" + name,
			Priority:  p,
		},
	})).To(Succeed())
}

// rigOptions shape the manager and the emulator of a rig.
type rigOptions struct {
	// sendRPS is the manager's --max-send-rps; emulatorRPS the emulator's per-app limit
	// (0: Teams' 50).
	sendRPS     float64
	emulatorRPS int
	// people, when set, is merged into the emulator's default tenant (a generated organisation).
	people *emulator.TenantSeed
}

func start(t *testing.T, o rigOptions) *rig {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or set it to the directory with kube-apiserver and etcd")
	}
	logf.SetLogger(zap.New(zap.WriteTo(testWriter{t}), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })

	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(teamsv1alpha1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	emu, err := emulator.New(emulator.DefaultSeed(), emulator.Options{AppRPS: o.emulatorRPS})
	g.Expect(err).NotTo(HaveOccurred())
	if o.people != nil {
		g.Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{*o.people}})).To(Succeed())
	}
	r := &rig{ctx: ctx, g: g, c: c, emu: emu}
	seed := emulator.TenantSeed{ID: emulator.DefaultTenantID}
	for i := range 2 * (floodTargets + 1) {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("teams-operator-fairshare/user/", i))).String()
		seed.Users = append(seed.Users, emulator.UserSeed{
			ID: id, UserPrincipalName: fmt.Sprintf("fair-%d@%s", i, emulator.DefaultTenantDomain),
			InstalledApps: []string{emulator.DefaultTeamsAppID},
		})
		r.users = append(r.users, id)
	}
	g.Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{seed}})).To(Succeed())
	server, err := emu.StartTLS("127.0.0.1:0", t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())

	const credentials = "teams-operator-system"
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: credentials}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: credentials, Name: "teams-credentials"},
		StringData: map[string]string{
			"tenantId": emulator.DefaultTenantID, "clientId": emulator.DefaultBotAppID,
			"clientSecret": emulator.DefaultBotSecret,
		},
	})).To(Succeed())

	endpoints, err := cloud.Lookup(cloud.Public)
	g.Expect(err).NotTo(HaveOccurred())
	endpoints, err = endpoints.WithOverrides(server.URL+"/", server.URL, server.URL+"/teams/")
	g.Expect(err).NotTo(HaveOccurred())
	opts := operator.Options{
		Endpoints:          endpoints,
		DefaultCredentials: types.NamespacedName{Namespace: credentials, Name: "teams-credentials"},
		ExtraRootCAs:       server.RootCAs,
		MaxSendRPS:         o.sendRPS,
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  operator.CacheOptions(opts),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test starts its own manager in this process.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(operator.Setup(mgr, opts)).To(Succeed())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	// Cleanups run last in, first out: the manager stops before the emulator, the emulator
	// before the control plane.
	t.Cleanup(func() { g.Expect(server.Close()).To(Succeed()) })
	t.Cleanup(func() {
		cancel()
		g.Eventually(stopped, time.Minute).Should(BeClosed())
	})
	return r
}

// testWriter sends the manager's log to the test's, shown only when it fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
