package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// TestGitOpsWait applies what a GitOps repository would hold (an installation, two targets and a mix of
// messages: delivered, scheduled for next week, expired, refused by Teams) to the manager binary, and runs a
// kstatus waiter over the set, as Flux's kustomize-controller does with wait: true. The wait must end with the
// expected result well before its timeout: the expired and refused messages Failed, everything else Current
// (the scheduled message too). Without the expired and refused messages, the same set is Current.
func TestGitOpsWait(t *testing.T) {
	g := NewWithT(t)
	requireTools(t)
	ctx := context.Background()
	env, err := harness.Start(harness.Options{Dir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	const ns = "gitops"
	g.Expect(env.Namespace(ctx, ns)).To(Succeed())
	_, err = env.StartManager(ctx, "manager", "--default-credentials", ns+"/"+harness.CredentialsName)
	g.Expect(err).NotTo(HaveOccurred())

	// A segment of its own in the refusing target's service URL lets the fault match its sends only.
	env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "createConversation",
		PathContains: "/gitops-refused/", Status: http.StatusBadRequest, Code: "BadArgument"})
	nextWeek := metav1.NewTime(time.Now().Add(7 * 24 * time.Hour))
	lastHour := metav1.NewTime(time.Now().Add(-time.Hour))
	set := []client.Object{
		&teamsv1alpha1.TeamsAppInstallation{
			ObjectMeta: metav1.ObjectMeta{Name: "platform-team"},
			Spec: teamsv1alpha1.TeamsAppInstallationSpec{
				App:   teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
				Scope: teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: emulator.DefaultTeamID}},
			},
		},
		gitopsTarget("general", ""),
		gitopsTarget("refusing", env.EmulatorServer.URL+"/gitops-refused/"),
		gitopsMessage("deployed", "general", nil),
		gitopsMessage("release", "general", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.SendAt = &nextWeek }),
		gitopsMessage("too-late", "general", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.ExpiresAt = &lastHour }),
		gitopsMessage("refused", "refusing", nil),
	}
	for _, obj := range set {
		obj.SetNamespace(ns)
		g.Expect(env.Client.Create(ctx, obj)).To(Succeed())
	}

	const timeout = 3 * time.Minute
	start := time.Now()
	statuses, err := kstatusWait(ctx, env.Client, set, timeout)
	g.Expect(err).NotTo(HaveOccurred(), "the wait must end by itself, not time out")
	g.Expect(time.Since(start)).To(BeNumerically("<", timeout))
	g.Expect(statuses).To(Equal(map[string]kstatus.Status{
		"TeamsAppInstallation/platform-team": kstatus.CurrentStatus,
		"ConversationTarget/general":         kstatus.CurrentStatus,
		"ConversationTarget/refusing":        kstatus.CurrentStatus,
		"ProactiveMessage/deployed":          kstatus.CurrentStatus,
		"ProactiveMessage/release":           kstatus.CurrentStatus,
		"ProactiveMessage/too-late":          kstatus.FailedStatus,
		"ProactiveMessage/refused":           kstatus.FailedStatus,
	}))
	for name, phase := range map[string]teamsv1alpha1.Phase{
		"deployed": teamsv1alpha1.PhaseDelivered, "release": teamsv1alpha1.PhaseScheduled,
		"too-late": teamsv1alpha1.PhaseExpired, "refused": teamsv1alpha1.PhaseFailed,
	} {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pm)).To(Succeed())
		g.Expect(pm.Status.Phase).To(Equal(phase), name)
	}

	// The repository without the two messages that cannot succeed: Current, at once.
	healthy := slices.DeleteFunc(slices.Clone(set), func(o client.Object) bool {
		return o.GetName() == "too-late" || o.GetName() == "refused"
	})
	statuses, err = kstatusWait(ctx, env.Client, healthy, 30*time.Second)
	g.Expect(err).NotTo(HaveOccurred())
	for id, st := range statuses {
		g.Expect(st).To(Equal(kstatus.CurrentStatus), id)
	}
}

func gitopsTarget(name, serviceURL string) *teamsv1alpha1.ConversationTarget {
	return &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{
				TeamID: emulator.DefaultTeamID, ChannelID: emulator.DefaultGeneralChannelID},
			ServiceURL: serviceURL,
		},
	}
}

func gitopsMessage(name, target string, mutate func(*teamsv1alpha1.ProactiveMessageSpec)) *teamsv1alpha1.ProactiveMessage {
	pm := &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: target}, Text: "gitops test: " + name},
	}
	if mutate != nil {
		mutate(&pm.Spec)
	}
	return pm
}

// kstatusWait polls the objects and computes their kstatus until none is InProgress (each is Current or
// Failed), as a GitOps health check does, and returns each object's last status by Kind/name. It fails only
// when the timeout passes first, naming what was still in progress.
func kstatusWait(ctx context.Context, c client.Client, objs []client.Object, timeout time.Duration) (map[string]kstatus.Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		statuses := map[string]kstatus.Status{}
		var pending []string
		for _, obj := range objs {
			gvk, err := apiutil.GVKForObject(obj, c.Scheme())
			if err != nil {
				return nil, err
			}
			kind := gvk.Kind
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), u); err != nil {
				return nil, err
			}
			res, err := kstatus.Compute(u)
			if err != nil {
				return nil, err
			}
			id := kind + "/" + obj.GetName()
			statuses[id] = res.Status
			if res.Status != kstatus.CurrentStatus && res.Status != kstatus.FailedStatus {
				pending = append(pending, fmt.Sprintf("%s %s: %s", id, res.Status, res.Message))
			}
		}
		if len(pending) == 0 {
			return statuses, nil
		}
		if time.Now().After(deadline) {
			return statuses, fmt.Errorf("timeout waiting for %v", pending)
		}
		select {
		case <-ctx.Done():
			return statuses, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
