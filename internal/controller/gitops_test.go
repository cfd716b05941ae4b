package controller_test

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/argocdhealth"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// The rows of docs/gitops.md: the real controllers drive each object into a state against the
// emulator and the API server, and the object as the API server returns it must give the row's
// kstatus result (the library Flux's health checks use) and Argo CD health (the shipped
// health.lua, run as Argo CD runs it).

const (
	pmKind  = "ProactiveMessage"
	ctKind  = "ConversationTarget"
	taiKind = "TeamsAppInstallation"
)

// row is one line of a table in docs/gitops.md.
type row struct {
	phase   teamsv1alpha1.Phase // ProactiveMessage only
	ready   metav1.ConditionStatus
	reason  string
	kstatus kstatus.Status
	argo    string
}

var (
	rowProgressing = func(reason string) row {
		return row{ready: metav1.ConditionFalse, reason: reason, kstatus: kstatus.InProgressStatus, argo: argocdhealth.Progressing}
	}
	rowStalled = func(reason string) row {
		return row{ready: metav1.ConditionFalse, reason: reason, kstatus: kstatus.FailedStatus, argo: argocdhealth.Degraded}
	}
	rowReady = func(reason string) row {
		return row{ready: metav1.ConditionTrue, reason: reason, kstatus: kstatus.CurrentStatus, argo: argocdhealth.Healthy}
	}
)

func (r row) inPhase(p teamsv1alpha1.Phase) row { r.phase = p; return r }

// expectRow waits until the object is in the row's state, for its current generation.
func expectRow(kind, ns, name string, want row) *unstructured.Unstructured {
	script, err := argocdhealth.Script(filepath.Join("..", "..", "config", "argocd", "health"),
		teamsv1alpha1.GroupVersion.Group, kind)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	Eventually(func(g Gomega) {
		u.SetGroupVersionKind(teamsv1alpha1.GroupVersion.WithKind(kind))
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
		ready := readyOf(g, u)
		g.Expect(ready.Reason).To(Equal(want.reason), ready.Message)
		g.Expect(ready.Status).To(Equal(want.ready))
		if want.phase != "" {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			g.Expect(phase).To(Equal(string(want.phase)))
		}
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		g.Expect(observed).To(Equal(u.GetGeneration()), "every decision sets observedGeneration")

		res, err := kstatus.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(want.kstatus), res.Message)
		argo, err := argocdhealth.Evaluate(script, u)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(argo.Status).To(Equal(want.argo), argo.Message)
	}).WithTimeout(pmTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
	return u
}

func readyOf(g Gomega, u *unstructured.Unstructured) metav1.Condition {
	raw, _, err := unstructured.NestedSlice(u.Object, "status", "conditions")
	g.Expect(err).NotTo(HaveOccurred())
	for _, c := range raw {
		m, _ := c.(map[string]any)
		if m["type"] == teamsv1alpha1.ReadyCondition {
			msg, _ := m["message"].(string)
			reason, _ := m["reason"].(string)
			st, _ := m["status"].(string)
			return metav1.Condition{Type: teamsv1alpha1.ReadyCondition, Status: metav1.ConditionStatus(st), Reason: reason, Message: msg}
		}
	}
	g.Expect(raw).To(ContainElement(HaveKeyWithValue("type", teamsv1alpha1.ReadyCondition)))
	return metav1.Condition{}
}

// ghUserPart is the part of a personal chat id that appears in the Connector's URL path.
func ghUserPart(chatID string) string {
	return strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
}

var _ = Describe("GitOps health (docs/gitops.md)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	Context("ProactiveMessage", func() {
		It("is progressing while its target does not exist, and Failed/Degraded once expired", func() {
			expiresAt := metav1.NewTime(time.Now().Add(4 * time.Second))
			pmMessage(ns, "early", "missing", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.ExpiresAt = &expiresAt })
			expectRow(pmKind, ns, "early", rowProgressing(teamsv1alpha1.DependencyNotReadyReason).inPhase(teamsv1alpha1.PhasePending))
			expectRow(pmKind, ns, "early", rowStalled(teamsv1alpha1.ExpiredReason).inPhase(teamsv1alpha1.PhaseExpired))
		})

		It("follows a stalled target (Failed/Degraded), and is delivered once the target is fixed", func() {
			_, chatID := pmUser()
			target := &teamsv1alpha1.ConversationTarget{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later"},
				Spec: teamsv1alpha1.ConversationTargetSpec{
					Conversation:   &teamsv1alpha1.KnownConversation{ID: chatID},
					CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: "later-credentials"},
				},
			}
			Expect(k8sClient.Create(ctx, target)).To(Succeed())
			expectRow(ctKind, ns, "later", rowStalled(teamsv1alpha1.CredentialsNotFoundReason))
			pmMessage(ns, "waiting", "later", nil)
			expectRow(pmKind, ns, "waiting", rowStalled(teamsv1alpha1.DependencyNotReadyReason).inPhase(teamsv1alpha1.PhasePending))

			createCredentials(ns, "later-credentials")
			expectRow(ctKind, ns, "later", rowReady(teamsv1alpha1.ResolvedReason))
			expectRow(pmKind, ns, "waiting", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
			Expect(pmLive(chatID)).To(HaveLen(1))
		})

		It("is Failed/Degraded (Pending) when the target's credentials are unusable", func() {
			_, chatID := pmUser()
			secret := createCredentials(ns, "gone-credentials")
			ctCreate(ns, "nocreds", teamsv1alpha1.ConversationTargetSpec{
				Conversation:   &teamsv1alpha1.KnownConversation{ID: chatID},
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: secret.Name},
			})
			expectRow(ctKind, ns, "nocreds", rowReady(teamsv1alpha1.ResolvedReason))
			// Resolved once, the target stays Ready; the message needs the Secret to send.
			Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
			pmMessage(ns, "nocreds", "nocreds", nil)
			expectRow(pmKind, ns, "nocreds", rowStalled(teamsv1alpha1.CredentialsNotFoundReason).inPhase(teamsv1alpha1.PhasePending))
		})

		It("is Current/Healthy while scheduled (a reply to it too), and delivered at its time", func() {
			teamID, channelID := pmTeam(uuidUser())
			pmReadyTarget(ns, "general", teamsv1alpha1.ConversationTargetSpec{
				Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID, ChannelID: channelID}}, "Channel", channelID)
			nextWeek := metav1.NewTime(time.Now().Add(7 * 24 * time.Hour))
			pmMessage(ns, "release", "general", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.SendAt = &nextWeek })
			pmMessage(ns, "release-notes", "general", func(s *teamsv1alpha1.ProactiveMessageSpec) {
				s.ReplyTo = &teamsv1alpha1.LocalObjectReference{Name: "release"}
			})
			expectRow(pmKind, ns, "release", rowReady(teamsv1alpha1.ScheduledReason).inPhase(teamsv1alpha1.PhaseScheduled))
			expectRow(pmKind, ns, "release-notes", rowReady(teamsv1alpha1.ScheduledReason).inPhase(teamsv1alpha1.PhaseScheduled))
			Expect(emu.ConversationActivities(channelID)).To(BeEmpty())

			// Bring the time forward: both go, the reply in the thread.
			msg := &teamsv1alpha1.ProactiveMessage{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "release"}, msg)).To(Succeed())
			patch := client.MergeFrom(msg.DeepCopy())
			now := metav1.NewTime(time.Now().Add(-time.Second))
			msg.Spec.SendAt = &now
			Expect(k8sClient.Patch(ctx, msg, patch)).To(Succeed())
			expectRow(pmKind, ns, "release", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
			expectRow(pmKind, ns, "release-notes", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
		})

		It("is progressing while throttled, queued behind it, or replying to it", func() {
			_, chatID := pmUser()
			// Teams throttles this chat until the queued and replying messages were seen waiting: a
			// fault that ended by itself could end before a loaded machine got that far.
			throttle := emu.AddFault(emulator.Fault{API: "botframework", Operation: "sendActivity",
				PathContains: ghUserPart(chatID), Status: 429, RetryAfter: "1"})
			DeferCleanup(func() { emu.RemoveFault(throttle) })
			pmReadyTarget(ns, "busy", teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
			pmMessage(ns, "first", "busy", nil)
			expectRow(pmKind, ns, "first", rowProgressing(teamsv1alpha1.ThrottledReason).inPhase(teamsv1alpha1.PhaseSending))
			pmMessage(ns, "second", "busy", nil)
			pmMessage(ns, "reply", "busy", func(s *teamsv1alpha1.ProactiveMessageSpec) {
				s.ReplyTo = &teamsv1alpha1.LocalObjectReference{Name: "first"}
			})
			expectRow(pmKind, ns, "second", rowProgressing(teamsv1alpha1.QueuedReason).inPhase(teamsv1alpha1.PhasePending))
			expectRow(pmKind, ns, "reply", rowProgressing(teamsv1alpha1.ReplyTargetNotReady).inPhase(teamsv1alpha1.PhasePending))
			expectRow(pmKind, ns, "first", rowProgressing(teamsv1alpha1.ThrottledReason).inPhase(teamsv1alpha1.PhaseSending))
			Expect(emu.RemoveFault(throttle)).To(BeTrue(), "the chat was still throttled")
			expectRow(pmKind, ns, "first", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
			expectRow(pmKind, ns, "second", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
			// A reply needs a channel thread: to a 1:1 chat it fails, for good.
			expectRow(pmKind, ns, "reply", rowStalled(teamsv1alpha1.InvalidSpecReason).inPhase(teamsv1alpha1.PhaseFailed))
		})

		It("is progressing while retrying a temporary error", func() {
			_, chatID := pmUser()
			pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: ghUserPart(chatID),
				Status: 503, Count: 3})
			pmReadyTarget(ns, "flaky", teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
			pmMessage(ns, "flaky", "flaky", nil)
			expectRow(pmKind, ns, "flaky", rowProgressing(teamsv1alpha1.ProgressingWithRetryReason).inPhase(teamsv1alpha1.PhaseSending))
			expectRow(pmKind, ns, "flaky", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
		})

		It("is Failed/Degraded when Teams refuses it, and when the outcome is unknown", func() {
			_, refusedChat := pmUser()
			pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: ghUserPart(refusedChat),
				Status: 403, Code: "BotNotInConversationRoster", Message: "The bot is not part of the conversation roster."})
			pmReadyTarget(ns, "refused", teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: refusedChat}}, "Personal", refusedChat)
			pmMessage(ns, "refused", "refused", nil)
			expectRow(pmKind, ns, "refused", rowStalled(teamsv1alpha1.BotNotInRosterReason).inPhase(teamsv1alpha1.PhaseFailed))

			_, dropChat := pmUser()
			pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: ghUserPart(dropChat),
				Action: emulator.FaultAcceptThenDrop, Count: 1})
			pmReadyTarget(ns, "drop", teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: dropChat}}, "Personal", dropChat)
			pmMessage(ns, "dropped", "drop", nil)
			expectRow(pmKind, ns, "dropped", rowStalled(teamsv1alpha1.DeliveryUnknownReason).inPhase(teamsv1alpha1.PhaseUnknown))
		})

		It("is progressing while an edit is retried, and Failed/Degraded when the edit is refused", func() {
			_, chatID := pmUser()
			pmReadyTarget(ns, "edits", teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
			pmMessage(ns, "status", "edits", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "Build running" })
			expectRow(pmKind, ns, "status", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))

			retry := emu.AddFault(emulator.Fault{API: "botframework", Operation: "updateActivity",
				PathContains: ghUserPart(chatID), Status: 502})
			DeferCleanup(func() { emu.RemoveFault(retry) })
			ghSetText(ns, "status", "Build passed")
			expectRow(pmKind, ns, "status", rowProgressing(teamsv1alpha1.EditFailedReason).inPhase(teamsv1alpha1.PhaseDelivered))

			// The refusal is in place before the 502 goes, so no retry can succeed in between.
			pmFault(emulator.Fault{API: "botframework", Operation: "updateActivity", PathContains: ghUserPart(chatID),
				Status: 400, Code: "BadArgument", Message: "Unknown activity."})
			emu.RemoveFault(retry)
			expectRow(pmKind, ns, "status", rowStalled(teamsv1alpha1.EditFailedReason).inPhase(teamsv1alpha1.PhaseDelivered))
		})
	})

	Context("ConversationTarget and TeamsAppInstallation", func() {
		It("waits (progressing) for an installation being made in its namespace, then both are Current/Healthy", func() {
			w := newTAIWorld()
			ns = w.ns
			w.credentials()
			fault := emu.AddFault(emulator.Fault{API: "graph", Operation: "installApp", PathContains: w.teamID, Status: 503})
			DeferCleanup(func() { emu.RemoveFault(fault) })
			w.create("team", nil)
			expectRow(taiKind, ns, "team", rowProgressing(teamsv1alpha1.ProgressingWithRetryReason))
			ctCreate(ns, "general", teamsv1alpha1.ConversationTargetSpec{
				Channel:        &teamsv1alpha1.ChannelTarget{TeamID: w.teamID},
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: taiSecretName},
			})
			u := expectRow(ctKind, ns, "general", rowProgressing(teamsv1alpha1.BotNotInstalledReason))
			Expect(readyOf(Default, u).Message).To(ContainSubstring("TeamsAppInstallation team is installing it"))

			emu.RemoveFault(fault)
			expectRow(taiKind, ns, "team", rowReady(teamsv1alpha1.InstalledReason))
			expectRow(ctKind, ns, "general", rowReady(teamsv1alpha1.ResolvedReason))
		})

		It("is Failed/Degraded when nothing in the namespace installs the bot, and heals once someone does", func() {
			teamID, _, channelID := ctTeam(false)
			ctCreate(ns, "elsewhere", teamsv1alpha1.ConversationTargetSpec{
				Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID, ChannelID: channelID}})
			expectRow(ctKind, ns, "elsewhere", rowStalled(teamsv1alpha1.BotNotInstalledReason))
			_, err := emu.Install(emulator.ScopeTeam, teamID, emulator.DefaultTeamsAppID)
			Expect(err).NotTo(HaveOccurred())
			// Annotating asks the target to look again now instead of at its next check.
			target := &teamsv1alpha1.ConversationTarget{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "elsewhere"}, target)).To(Succeed())
			patch := client.MergeFrom(target.DeepCopy())
			target.SetAnnotations(map[string]string{"example.com/recheck": "now"})
			Expect(k8sClient.Patch(ctx, target, patch)).To(Succeed())
			expectRow(ctKind, ns, "elsewhere", rowReady(teamsv1alpha1.ResolvedReason))
		})

		It("follows a stalled installation (installationRef), and waits for a missing one", func() {
			w := newTAIWorld()
			ns = w.ns
			w.credentials()
			ctCreate(ns, "adele", teamsv1alpha1.ConversationTargetSpec{
				InstallationRef: &teamsv1alpha1.LocalObjectReference{Name: "adele"},
				CredentialsRef:  &teamsv1alpha1.LocalObjectReference{Name: taiSecretName},
			})
			expectRow(ctKind, ns, "adele", rowProgressing(teamsv1alpha1.DependencyNotReadyReason))
			w.create("adele", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.App = teamsv1alpha1.TeamsAppReference{ExternalID: "com.example.not-in-the-catalog"}
				s.Scope = teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: w.userID}}
			})
			expectRow(taiKind, ns, "adele", rowStalled(teamsv1alpha1.AppNotFoundReason))
			expectRow(ctKind, ns, "adele", rowStalled(teamsv1alpha1.DependencyNotReadyReason))
		})

		It("is progressing while Microsoft throttles, and Failed/Degraded without credentials", func() {
			userID, _ := ctUser(true)
			segment := "gh429" + uuidUser()[:8]
			pmFault(emulator.Fault{API: "botframework", Operation: "createConversation",
				PathContains: "/" + segment + "/", Status: 429, RetryAfter: "30", Count: 1})
			ctCreate(ns, "busy", teamsv1alpha1.ConversationTargetSpec{
				User: &teamsv1alpha1.UserTarget{ID: userID}, ServiceURL: emuServer.URL + "/" + segment + "/"})
			expectRow(ctKind, ns, "busy", rowProgressing(teamsv1alpha1.ThrottledReason))

			ctCreate(ns, "nocreds", teamsv1alpha1.ConversationTargetSpec{
				User:           &teamsv1alpha1.UserTarget{ID: userID},
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: "absent"},
			})
			expectRow(ctKind, ns, "nocreds", rowStalled(teamsv1alpha1.CredentialsNotFoundReason))
		})

		It("is Terminating (kstatus) and Progressing (Argo CD) while the uninstall is retried", func() {
			w := newTAIWorld()
			ns = w.ns
			w.credentials()
			key := w.create("leaving", nil)
			expectRow(taiKind, ns, "leaving", rowReady(teamsv1alpha1.InstalledReason))
			fault := emu.AddFault(emulator.Fault{API: "graph", Operation: "uninstallApp", PathContains: w.teamID, Status: 503})
			DeferCleanup(func() { emu.RemoveFault(fault) })
			Expect(k8sClient.Delete(ctx, &teamsv1alpha1.TeamsAppInstallation{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})).To(Succeed())
			expectRow(taiKind, ns, "leaving", row{ready: metav1.ConditionFalse, reason: teamsv1alpha1.DeletingReason,
				kstatus: kstatus.TerminatingStatus, argo: argocdhealth.Progressing})
			emu.RemoveFault(fault)
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, key, &teamsv1alpha1.TeamsAppInstallation{}))
			}).WithTimeout(pmTimeout).Should(BeTrue())
		})

		It("is progressing while Graph throttles an install", func() {
			w := newTAIWorld()
			ns = w.ns
			w.credentials()
			pmFault(emulator.Fault{API: "graph", Operation: "installApp", PathContains: w.teamID,
				Status: 429, RetryAfter: "30", Count: 1})
			w.create("busy", nil)
			expectRow(taiKind, ns, "busy", rowProgressing(teamsv1alpha1.ThrottledReason))
		})
	})

	It("reports every kind InProgress/Progressing before the operator has looked at it", func() {
		for kind, obj := range map[string]client.Object{
			pmKind: &teamsv1alpha1.ProactiveMessage{Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: "t"}, Text: "hello"}},
			ctKind: &teamsv1alpha1.ConversationTarget{Spec: teamsv1alpha1.ConversationTargetSpec{
				Conversation: &teamsv1alpha1.KnownConversation{ID: "a:new"}}},
			taiKind: &teamsv1alpha1.TeamsAppInstallation{Spec: teamsv1alpha1.TeamsAppInstallationSpec{
				App:            teamsv1alpha1.TeamsAppReference{TeamsAppID: emulator.DefaultTeamsAppID},
				Scope:          teamsv1alpha1.InstallationScope{Chat: &teamsv1alpha1.ChatScope{ID: "19:new@thread.v2"}},
				DeletionPolicy: teamsv1alpha1.DeletionPolicyOrphan,
				// No Secret: the controller stalls without calling Microsoft.
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: "absent"}}},
		} {
			obj.SetNamespace(ns)
			obj.SetName("new")
			// The object as the API server answered the create: before any reconcile, with the
			// CRD's status default (observedGeneration -1).
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			// Gone before the spec ends: no Microsoft call of it is in flight when the suite stops.
			DeferCleanup(func() {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
				Eventually(func() bool {
					return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj))
				}).WithTimeout(pmTimeout).Should(BeTrue())
			})
			raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{Object: raw}
			u.SetGroupVersionKind(teamsv1alpha1.GroupVersion.WithKind(kind))
			observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), kind)
			Expect(observed).To(Equal(int64(-1)), kind)
			res, err := kstatus.Compute(u)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(kstatus.InProgressStatus), kind)
			script, err := argocdhealth.Script(filepath.Join("..", "..", "config", "argocd", "health"),
				teamsv1alpha1.GroupVersion.Group, kind)
			Expect(err).NotTo(HaveOccurred())
			Expect(argocdhealth.Evaluate(script, u)).To(HaveField("Status", argocdhealth.Progressing), kind)
		}
	})

	It("records one event per transition, Warning only when Stalled, with the condition's reason", func() {
		_, chatID := pmUser()
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: ghUserPart(chatID),
			Status: 503, Count: 3})
		pmReadyTarget(ns, "events", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "events", "events", nil)
		expectRow(pmKind, ns, "events", rowReady(teamsv1alpha1.DeliveredReason).inPhase(teamsv1alpha1.PhaseDelivered))
		Eventually(func(g Gomega) {
			g.Expect(ghEvents(g, pmKind, ns, "events")).To(ConsistOf("Normal/ProgressingWithRetry", "Normal/Delivered"),
				"three retries with the same reason record one event")
		}).WithTimeout(10 * time.Second).Should(Succeed())

		pmMessage(ns, "expired", "missing", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			past := metav1.NewTime(time.Now().Add(-time.Minute))
			s.ExpiresAt = &past
		})
		expectRow(pmKind, ns, "expired", rowStalled(teamsv1alpha1.ExpiredReason).inPhase(teamsv1alpha1.PhaseExpired))
		Eventually(func(g Gomega) {
			g.Expect(ghEvents(g, pmKind, ns, "expired")).To(ConsistOf("Warning/Expired"))
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})
})

// ghEvents returns type/reason of the events recorded about one object.
func ghEvents(g Gomega, kind, ns, name string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == kind {
			reasons = append(reasons, e.Type+"/"+e.Reason)
		}
	}
	return reasons
}

// ghSetText changes a message's text (a new generation).
func ghSetText(ns, name, text string) {
	msg := &teamsv1alpha1.ProactiveMessage{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, msg)).To(Succeed())
	patch := client.MergeFrom(msg.DeepCopy())
	msg.Spec.Text = text
	Expect(k8sClient.Patch(ctx, msg, patch)).To(Succeed())
}

// uuidUser returns a new user id with the app not installed; enough for a team member.
func uuidUser() string {
	id, _ := ctUser(false)
	return id
}
