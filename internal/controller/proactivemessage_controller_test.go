package controller_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// pmTimeout bounds every wait for the manager in these specs; retries with Retry-After and
// backoff take a few seconds.
const pmTimeout = 30 * time.Second

// pmUser adds a user who has the app installed personally, and returns the user's id and
// the Graph id of the bot's 1:1 chat with them (a conversation id the Connector accepts).
func pmUser() (userID, chatID string) {
	userID = uuid.NewString()
	Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID: emulator.DefaultTenantID,
		Users: []emulator.UserSeed{{
			ID: userID, UserPrincipalName: "pm-" + userID[:8] + "@" + emulator.DefaultTenantDomain,
			DisplayName: "PM " + userID[:8], InstalledApps: []string{emulator.DefaultTeamsAppID},
		}},
	}}})).To(Succeed())
	return userID, emulator.PersonalChatID(emulator.DefaultBotAppID, userID)
}

// pmTeam adds a team with the app installed, with one member, and returns its id and its
// General channel's id.
func pmTeam(memberID string) (teamID, channelID string) {
	teamID = uuid.NewString()
	channelID = "19:" + strings.ReplaceAll(uuid.NewString(), "-", "") + "@thread.tacv2"
	Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID: emulator.DefaultTenantID,
		Teams: []emulator.TeamSeed{{
			ID: teamID, DisplayName: "PM " + teamID[:8], GeneralChannelID: channelID,
			Members: []string{memberID}, InstalledApps: []string{emulator.DefaultTeamsAppID},
		}},
	}}})).To(Succeed())
	return teamID, channelID
}

// pmReadyTarget creates a ConversationTarget and marks it Ready with the status its own
// controller resolves to. Doing it here keeps these specs independent of that controller:
// it resolves a target once and leaves a target that is Ready for its generation alone.
func pmReadyTarget(ns, name string, spec teamsv1alpha1.ConversationTargetSpec, kind, conversationID string) {
	pmReadyTargetIn(k8sClient, ns, name, spec, kind, conversationID)
}

func pmReadyTargetIn(c client.Client, ns, name string, spec teamsv1alpha1.ConversationTargetSpec, kind, conversationID string) {
	target := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	Expect(c.Create(ctx, target)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(target), target)).To(Succeed())
		if meta.IsStatusConditionTrue(target.Status.Conditions, teamsv1alpha1.ReadyCondition) {
			return
		}
		base := target.DeepCopy()
		target.Status = teamsv1alpha1.ConversationTargetStatus{
			ObservedGeneration: target.Generation, ConversationID: conversationID, Kind: kind,
			ServiceURL: emuServer.URL + "/teams/", TenantID: emulator.DefaultTenantID,
			Conditions: []metav1.Condition{{
				Type: teamsv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Resolved",
				Message: "set by the test", ObservedGeneration: target.Generation, LastTransitionTime: metav1.Now(),
			}},
		}
		g.Expect(c.Status().Patch(ctx, target, client.MergeFrom(base))).To(Succeed())
	}).WithTimeout(pmTimeout).Should(Succeed())
}

// pmPersonalTarget creates a Ready target for a new user's 1:1 chat.
func pmPersonalTarget(ns, name string) (chatID string) {
	_, chatID = pmUser()
	pmReadyTarget(ns, name, teamsv1alpha1.ConversationTargetSpec{
		Conversation: &teamsv1alpha1.KnownConversation{ID: chatID},
	}, "Personal", chatID)
	return chatID
}

func pmMessage(ns, name, target string, mutate func(*teamsv1alpha1.ProactiveMessageSpec)) *teamsv1alpha1.ProactiveMessage {
	msg := &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: target}, Text: "Message " + name,
		},
	}
	if mutate != nil {
		mutate(&msg.Spec)
	}
	Expect(k8sClient.Create(ctx, msg)).To(Succeed())
	return msg
}

func pmGet(g Gomega, ns, name string) *teamsv1alpha1.ProactiveMessage {
	msg := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, msg)).To(Succeed())
	return msg
}

func pmReady(msg *teamsv1alpha1.ProactiveMessage) *metav1.Condition {
	return meta.FindStatusCondition(msg.Status.Conditions, teamsv1alpha1.ReadyCondition)
}

// pmEventuallyPhase waits for a phase and returns the message as it is then.
func pmEventuallyPhase(ns, name string, phase teamsv1alpha1.Phase) *teamsv1alpha1.ProactiveMessage {
	var msg *teamsv1alpha1.ProactiveMessage
	Eventually(func(g Gomega) {
		msg = pmGet(g, ns, name)
		g.Expect(msg.Status.Phase).To(Equal(phase), "Ready: %+v", pmReady(msg))
	}).WithTimeout(pmTimeout).Should(Succeed())
	return msg
}

// pmLive returns the messages Teams holds in a conversation, without deleted ones.
func pmLive(conversationID string) []emulator.StoredActivity {
	var out []emulator.StoredActivity
	for _, a := range emu.ConversationActivities(conversationID) {
		if !a.Deleted {
			out = append(out, a)
		}
	}
	return out
}

// pmActivity decodes a stored activity's JSON.
func pmActivity(a emulator.StoredActivity) map[string]any {
	var m map[string]any
	Expect(json.Unmarshal(a.Activity, &m)).To(Succeed())
	return m
}

// pmFault adds a fault for the sends to one conversation and removes it after the spec.
func pmFault(f emulator.Fault) {
	id := emu.AddFault(f)
	DeferCleanup(func() { emu.RemoveFault(id) })
}

func pmWritePaths(ns string) map[string]int {
	writes.mu.Lock()
	defer writes.mu.Unlock()
	out := map[string]int{}
	for p, n := range writes.counts {
		if strings.Contains(p, ns) {
			out[p] = n
		}
	}
	return out
}

var _ = Describe("ProactiveMessage", func() {
	var ns string

	BeforeEach(func() {
		ns = newNamespace()
	})

	It("delivers a text message with one status write and records the ids in status and the send journal", func() {
		chatID := pmPersonalTarget(ns, "adele")
		pmMessage(ns, "hello", "adele", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text = "Deployment **v1.2.3** finished"
		})

		msg := pmEventuallyPhase(ns, "hello", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Status.ActivityID).NotTo(BeEmpty())
		Expect(msg.Status.ConversationID).To(Equal(chatID))
		Expect(msg.Status.DeliveredAt).NotTo(BeNil())
		Expect(msg.Status.Attempts).To(Equal(int32(1)))
		Expect(msg.Status.ObservedGeneration).To(Equal(msg.Generation))
		Expect(pmReady(msg).Status).To(Equal(metav1.ConditionTrue))
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.DeliveredReason))
		for _, key := range []string{teamsv1alpha1.SendAttemptAnnotation, teamsv1alpha1.ActivityIDAnnotation,
			teamsv1alpha1.ConversationIDAnnotation, teamsv1alpha1.DeliveryProofAnnotation} {
			Expect(msg.Annotations).NotTo(HaveKey(key), "new sends write no annotations")
		}
		Expect(msg.Finalizers).To(BeEmpty(), "deletionPolicy Retain needs no finalizer")
		entry := pmJournalEntry(ns, "hello")
		Expect(entry.UID).To(Equal(msg.UID))
		Expect(entry.ActivityID).To(Equal(msg.Status.ActivityID))
		Expect(entry.ConversationID).To(Equal(chatID))
		Expect(entry.Marker).NotTo(BeEmpty())
		Expect(entry.Proof).NotTo(BeEmpty())

		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(1))
		Expect(stored[0].ActivityID).To(Equal(msg.Status.ActivityID))
		Expect(pmActivity(stored[0])).To(HaveKeyWithValue("text", "Deployment **v1.2.3** finished"))
		Expect(pmActivity(stored[0])).To(HaveKeyWithValue("textFormat", "markdown"))

		// One status write and no metadata write; the marker and the ids are journal writes
		// (a lone message has nobody to share them with: two).
		status := func() int { return writes.For("proactivemessages", ns, "hello/status") }
		all := func() int { return writes.For("proactivemessages", ns, "hello") }
		Expect(status()).To(Equal(1))
		Expect(all()).To(Equal(1))
		Consistently(func(g Gomega) {
			g.Expect(all()).To(Equal(1), "%v", pmWritePaths(ns))
			g.Expect(pmJournalWrites(ns)).To(Equal(2), "%v", pmWritePaths(ns))
			g.Expect(pmLive(chatID)).To(HaveLen(1))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("sends mentions, a summary, an alert and an Adaptive Card as Teams stores them", func() {
		userID, chatID := pmUser()
		pmReadyTarget(ns, "megan", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		mention := teamsv1alpha1.Mention{ID: userID, Name: "Megan"}
		pmMessage(ns, "a-text", "megan", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.TextFormat, s.Summary, s.Alert = "Hi <at>Megan</at>", teamsv1alpha1.TextFormatXML, "feed text", true
			s.Mentions = []teamsv1alpha1.Mention{mention}
		})
		pmMessage(ns, "b-card", "megan", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text = ""
			s.AdaptiveCard = &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5",
				Body: []apiextensionsv1.JSON{{Raw: []byte(`{"type":"TextBlock","text":"Card for <at>Megan</at>"}`)}}}
			s.Mentions = []teamsv1alpha1.Mention{mention}
		})
		pmEventuallyPhase(ns, "a-text", teamsv1alpha1.PhaseDelivered)
		pmEventuallyPhase(ns, "b-card", teamsv1alpha1.PhaseDelivered)

		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(2))
		text, card := pmActivity(stored[0]), pmActivity(stored[1])
		Expect(json.Marshal(text)).To(MatchJSON(`{"type":"message","text":"Hi <at>Megan</at>","textFormat":"xml",
			"summary":"feed text","channelData":{"tenant":{"id":"` + emulator.DefaultTenantID + `"},"notification":{"alert":true}},
			"conversation":{"id":"` + chatID + `","tenantId":"` + emulator.DefaultTenantID + `"},
			"entities":[{"type":"mention","text":"<at>Megan</at>","mentioned":{"id":"` + userID + `","name":"Megan"}}]}`))
		Expect(card).NotTo(HaveKey("text"), "never text and card in one activity")
		Expect(json.Marshal(card["attachments"])).To(MatchJSON(`[{"contentType":"application/vnd.microsoft.card.adaptive",
			"content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Card for <at>Megan</at>"}],
			"msteams":{"entities":[{"type":"mention","text":"<at>Megan</at>","mentioned":{"id":"` + userID + `","name":"Megan"}}]}}}]`))
		Expect(stored[1].Split).To(BeFalse())
	})

	It("starts a thread in a channel and posts a reply in that thread", func() {
		userID, _ := pmUser()
		teamID, channelID := pmTeam(userID)
		pmReadyTarget(ns, "platform", teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID}}, "Channel", channelID)
		// The reply exists first: it waits for its parent.
		pmMessage(ns, "reply", "platform", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text = "Rolled back"
			s.ReplyTo = &teamsv1alpha1.LocalObjectReference{Name: "root"}
		})
		Eventually(func(g Gomega) {
			ready := pmReady(pmGet(g, ns, "reply"))
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(teamsv1alpha1.ReplyTargetNotReady))
			g.Expect(ready.Message).To(ContainSubstring(`"root"`))
		}).WithTimeout(pmTimeout).Should(Succeed())

		pmMessage(ns, "root", "platform", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "Release 1.2.3 failed" })
		root := pmEventuallyPhase(ns, "root", teamsv1alpha1.PhaseDelivered)
		Expect(root.Status.ConversationID).To(Equal(channelID + ";messageid=" + root.Status.ActivityID))
		reply := pmEventuallyPhase(ns, "reply", teamsv1alpha1.PhaseDelivered)
		Expect(reply.Status.ConversationID).To(Equal(root.Status.ConversationID))

		thread := pmLive(root.Status.ConversationID)
		Expect(thread).To(HaveLen(2))
		Expect(thread[0].ActivityID).To(Equal(root.Status.ActivityID))
		Expect(thread[1].ActivityID).To(Equal(reply.Status.ActivityID))
		Expect(thread[1].ThreadID).To(Equal(root.Status.ActivityID), "the reply is in the root's thread")
		Expect(pmActivity(thread[1])).To(HaveKeyWithValue("text", "Rolled back"))
	})

	It("waits for a ConversationTarget that is not there and goes as soon as it is Ready", func() {
		pmMessage(ns, "early", "later", nil)
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "early")
			g.Expect(msg.Status.Phase).To(Equal(teamsv1alpha1.PhasePending))
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.DependencyNotReadyReason))
			g.Expect(pmReady(msg).Message).To(ContainSubstring(`ConversationTarget "later"`))
		}).WithTimeout(pmTimeout).Should(Succeed())

		chatID := pmPersonalTarget(ns, "later")
		pmEventuallyPhase(ns, "early", teamsv1alpha1.PhaseDelivered)
		Expect(pmLive(chatID)).To(HaveLen(1))
	})

	It("sends a scheduled message at its time, not before", func() {
		chatID := pmPersonalTarget(ns, "lynne")
		sendAt := metav1.NewTime(time.Now().Add(3 * time.Second).Truncate(time.Second))
		pmMessage(ns, "standup", "lynne", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.SendAt = &sendAt })
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "standup")
			g.Expect(msg.Status.Phase).To(Equal(teamsv1alpha1.PhaseScheduled))
			// Waiting for its time by design: Ready, so a GitOps wait does not hang on it.
			g.Expect(pmReady(msg).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.ScheduledReason))
			g.Expect(meta.FindStatusCondition(msg.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(BeNil())
			g.Expect(msg.Status.ObservedGeneration).To(Equal(msg.Generation))
		}).WithTimeout(pmTimeout).Should(Succeed())
		Expect(pmLive(chatID)).To(BeEmpty())

		pmEventuallyPhase(ns, "standup", teamsv1alpha1.PhaseDelivered)
		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(1))
		Expect(stored[0].CreatedAt).To(BeTemporally(">=", sendAt.Time))
		Expect(stored[0].CreatedAt).To(BeTemporally("<", sendAt.Add(3*time.Second)))
	})

	It("expires a message that was not delivered before expiresAt and never sends it", func() {
		expiresAt := metav1.NewTime(time.Now().Add(2 * time.Second))
		pmMessage(ns, "stale", "nowhere", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.ExpiresAt = &expiresAt })
		msg := pmEventuallyPhase(ns, "stale", teamsv1alpha1.PhaseExpired)
		Expect(pmReady(msg).Status).To(Equal(metav1.ConditionFalse))
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.ExpiredReason))
		// Terminal and not a success: Stalled, for this generation, so a GitOps waiter stops on it.
		Expect(meta.IsStatusConditionTrue(msg.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
		Expect(meta.FindStatusCondition(msg.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(BeNil())
		Expect(msg.Status.ObservedGeneration).To(Equal(msg.Generation))

		// The target appears too late: nothing is sent.
		chatID := pmPersonalTarget(ns, "nowhere")
		Consistently(func(g Gomega) {
			g.Expect(pmLive(chatID)).To(BeEmpty())
			g.Expect(pmGet(g, ns, "stale").Status.Phase).To(Equal(teamsv1alpha1.PhaseExpired))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("edits the Teams message in place when the content changes, and not with onUpdate Ignore", func() {
		chatID := pmPersonalTarget(ns, "diego")
		pmMessage(ns, "status", "diego", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "Build running" })
		pmMessage(ns, "fixed", "diego", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.OnUpdate = "Immutable", teamsv1alpha1.OnUpdateIgnore
		})
		first := pmEventuallyPhase(ns, "status", teamsv1alpha1.PhaseDelivered)
		fixed := pmEventuallyPhase(ns, "fixed", teamsv1alpha1.PhaseDelivered)
		byID := func(id string) emulator.StoredActivity {
			for _, a := range pmLive(chatID) {
				if a.ActivityID == id {
					return a
				}
			}
			Fail("no activity " + id + " in Teams")
			return emulator.StoredActivity{}
		}

		for name, text := range map[string]string{"status": "Build **passed**", "fixed": "Changed"} {
			Eventually(func(g Gomega) {
				msg := pmGet(g, ns, name)
				base := msg.DeepCopy()
				msg.Spec.Text = text
				g.Expect(k8sClient.Patch(ctx, msg, client.MergeFrom(base))).To(Succeed())
			}).WithTimeout(pmTimeout).Should(Succeed())
		}
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "status")
			g.Expect(msg.Status.ObservedGeneration).To(Equal(msg.Generation))
			g.Expect(pmReady(msg).Message).To(ContainSubstring("edited"))
			g.Expect(msg.Status.ContentHash).NotTo(Equal(first.Status.ContentHash))
		}).WithTimeout(pmTimeout).Should(Succeed())

		Expect(pmLive(chatID)).To(HaveLen(2), "edited in place, not sent again")
		edited := byID(first.Status.ActivityID)
		Expect(edited.UpdatedAt).NotTo(BeNil())
		Expect(pmActivity(edited)).To(HaveKeyWithValue("text", "Build **passed**"))
		Consistently(func(g Gomega) {
			kept := byID(fixed.Status.ActivityID)
			g.Expect(pmActivity(kept)).To(HaveKeyWithValue("text", "Immutable"))
			g.Expect(kept.UpdatedAt).To(BeNil())
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("deletes the Teams message with the object when deletionPolicy is Delete", func() {
		chatID := pmPersonalTarget(ns, "alex")
		pmMessage(ns, "temporary", "alex", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.DeletionPolicy = teamsv1alpha1.MessageDeletionPolicyDelete
		})
		msg := pmEventuallyPhase(ns, "temporary", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Finalizers).To(ContainElement(teamsv1alpha1.Finalizer))

		Expect(k8sClient.Delete(ctx, msg)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(msg), &teamsv1alpha1.ProactiveMessage{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		}).WithTimeout(pmTimeout).Should(Succeed())
		all := emu.ConversationActivities(chatID)
		Expect(all).To(HaveLen(1))
		Expect(all[0].ActivityID).To(Equal(msg.Status.ActivityID))
		Expect(all[0].Deleted).To(BeTrue())
	})

	It("deletes a finished message ttlAfterFinished after it finished", func() {
		chatID := pmPersonalTarget(ns, "gc")
		pmMessage(ns, "short-lived", "gc", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.TTLAfterFinished = &metav1.Duration{Duration: 2 * time.Second}
		})
		pmEventuallyPhase(ns, "short-lived", teamsv1alpha1.PhaseDelivered)
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "short-lived"}, &teamsv1alpha1.ProactiveMessage{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		}).WithTimeout(pmTimeout).Should(Succeed())
		Expect(pmLive(chatID)).To(HaveLen(1), "Retain keeps the Teams message")
	})

	It("waits out a 429 storm (Retry-After) and delivers every message once, in order", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Status: 429, RetryAfter: "1", Count: 6})
		pmReadyTarget(ns, "storm", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		for i := range 3 {
			pmMessage(ns, fmt.Sprintf("storm-%02d", i), "storm", nil)
		}
		var attempts int32
		for i := range 3 {
			attempts += pmEventuallyPhase(ns, fmt.Sprintf("storm-%02d", i), teamsv1alpha1.PhaseDelivered).Status.Attempts
		}
		Expect(attempts).To(Equal(int32(3+6)), "each 429 cost one attempt, nothing else")
		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(3))
		for i, a := range stored {
			Expect(pmActivity(a)).To(HaveKeyWithValue("text", fmt.Sprintf("Message storm-%02d", i)))
		}
	})

	It("shows Throttled while Teams answers 429", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Status: 429, RetryAfter: "2", Count: 1})
		pmReadyTarget(ns, "busy", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "busy", "busy", nil)
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "busy")
			g.Expect(msg.Status.Phase).To(Equal(teamsv1alpha1.PhaseSending))
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.ThrottledReason))
			g.Expect(pmJournal(g, ns)).NotTo(HaveKey("busy"), "a refused send leaves no marker")
		}).WithTimeout(pmTimeout).Should(Succeed())
		// A change of the target starts a reconcile during the wait: it must not send early.
		target := &teamsv1alpha1.ConversationTarget{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "busy"}, target)).To(Succeed())
		patch := client.MergeFrom(target.DeepCopy())
		target.SetAnnotations(map[string]string{"example.com/touched": "during the wait"})
		Expect(k8sClient.Patch(ctx, target, patch)).To(Succeed())
		msg := pmEventuallyPhase(ns, "busy", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Status.Attempts).To(Equal(int32(2)))
		var sends []emulator.JournalEntry
		for _, e := range emu.Requests() {
			if e.Operation == "sendActivity" && strings.Contains(e.Path, userPart) {
				sends = append(sends, e)
			}
		}
		Expect(sends).To(HaveLen(2))
		Expect(sends[0].Status).To(Equal(429))
		// Retry-After is 2 s; the journal times a request when the emulator finished it.
		Expect(sends[1].Time.Sub(sends[0].Time)).To(BeNumerically(">=", 1900*time.Millisecond),
			"the second send waited for Retry-After")
	})

	It("backs off through 503 bursts and delivers", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Status: 503, Count: 3})
		pmReadyTarget(ns, "flaky", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "flaky", "flaky", nil)
		msg := pmEventuallyPhase(ns, "flaky", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Status.Attempts).To(Equal(int32(4)))
		Expect(msg.Status.LastError).To(BeEmpty())
		Expect(pmLive(chatID)).To(HaveLen(1))
	})

	It("turns a dropped answer into Unknown under AtMostOnce and never sends again", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Action: emulator.FaultAcceptThenDrop, Count: 1})
		pmReadyTarget(ns, "drop", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "once", "drop", nil)
		msg := pmEventuallyPhase(ns, "once", teamsv1alpha1.PhaseUnknown)
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.DeliveryUnknownReason))
		Expect(meta.IsStatusConditionTrue(msg.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
		evidence := pmJournal(Default, ns)["once"]
		Expect(evidence.Marker).NotTo(BeEmpty(), "the marker stays as evidence")
		Expect(evidence.HasIDs()).To(BeFalse())
		Consistently(func(g Gomega) {
			g.Expect(pmLive(chatID)).To(HaveLen(1), "the dropped send reached Teams once")
			g.Expect(pmGet(g, ns, "once").Status.Attempts).To(Equal(int32(1)))
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})

	// Issue 13 item 8: a gateway's 502 or 504 may come after Teams stored the message.
	It("turns a 502 to a send into Unknown under AtMostOnce and never sends again", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Status: 502, Count: 1})
		pmReadyTarget(ns, "gateway", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "bad-gateway", "gateway", nil)
		msg := pmEventuallyPhase(ns, "bad-gateway", teamsv1alpha1.PhaseUnknown)
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.DeliveryUnknownReason))
		Expect(msg.Status.LastError).To(ContainSubstring("502"))
		Consistently(func(g Gomega) {
			g.Expect(pmSends(userPart)).To(Equal(1), "never sent again")
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})

	It("sends again after a 504 to a send under AtLeastOnce", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Status: 504, Count: 1})
		pmReadyTarget(ns, "gateway", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "timeout", "gateway", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.DeliveryGuarantee = teamsv1alpha1.AtLeastOnce
		})
		msg := pmEventuallyPhase(ns, "timeout", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Status.Attempts).To(Equal(int32(2)))
		Expect(pmSends(userPart)).To(Equal(2))
	})

	It("sends again after a dropped answer under AtLeastOnce", func() {
		_, chatID := pmUser()
		userPart := strings.TrimSuffix(strings.SplitN(chatID, "_", 2)[1], "@unq.gbl.spaces")
		pmFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: userPart,
			Action: emulator.FaultAcceptThenDrop, Count: 1})
		pmReadyTarget(ns, "drop", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "twice", "drop", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.DeliveryGuarantee = teamsv1alpha1.AtLeastOnce
		})
		msg := pmEventuallyPhase(ns, "twice", teamsv1alpha1.PhaseDelivered)
		Expect(msg.Status.Attempts).To(Equal(int32(2)))
		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(2), "the dropped send and the resend both reached Teams")
		Expect(stored[1].ActivityID).To(Equal(msg.Status.ActivityID))
	})

	It("refuses a message too large for Teams without sending it, and does not delay the next one", func() {
		chatID := pmPersonalTarget(ns, "big")
		body := make([]apiextensionsv1.JSON, 0, 200)
		for range 200 {
			body = append(body, apiextensionsv1.JSON{Raw: []byte(`{"type":"TextBlock","text":"` + strings.Repeat("x", 600) + `"}`)})
		}
		pmMessage(ns, "a-huge", "big", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text = ""
			s.AdaptiveCard = &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5", Body: body}
		})
		pmMessage(ns, "b-small", "big", nil)

		huge := pmEventuallyPhase(ns, "a-huge", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(huge).Reason).To(Equal(teamsv1alpha1.MessageTooLargeReason))
		Expect(pmReady(huge).Message).To(ContainSubstring("shorten"))
		Expect(meta.IsStatusConditionTrue(huge.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
		Expect(huge.Status.Attempts).To(BeZero())
		pmEventuallyPhase(ns, "b-small", teamsv1alpha1.PhaseDelivered)
		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(1))
		Expect(pmActivity(stored[0])).To(HaveKeyWithValue("text", "Message b-small"))
	})

	It("fails with BlockedByUser when the user blocked the bot", func() {
		userID, chatID := pmUser()
		Expect(emu.SetBlocked(userID, emulator.DefaultBotAppID, true)).To(Succeed())
		pmReadyTarget(ns, "blocked", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		pmMessage(ns, "blocked", "blocked", nil)
		msg := pmEventuallyPhase(ns, "blocked", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.BlockedByUserReason))
		Expect(pmReady(msg).Message).To(ContainSubstring("has blocked the bot"))
		Expect(msg.Status.LastError).To(ContainSubstring("403"))
		Expect(pmJournal(Default, ns)).NotTo(HaveKey("blocked"), "a refused send leaves no marker")
		Expect(pmLive(chatID)).To(BeEmpty())
	})

	It("delivers messages to one conversation in creation order", func() {
		chatID := pmPersonalTarget(ns, "ordered")
		const n = 12
		for i := range n {
			pmMessage(ns, fmt.Sprintf("m-%02d", i), "ordered", nil)
		}
		for i := range n {
			pmEventuallyPhase(ns, fmt.Sprintf("m-%02d", i), teamsv1alpha1.PhaseDelivered)
		}
		stored := pmLive(chatID)
		Expect(stored).To(HaveLen(n))
		for i, a := range stored {
			Expect(pmActivity(a)).To(HaveKeyWithValue("text", fmt.Sprintf("Message m-%02d", i)))
		}
	})

	It("never resends after a crash between the marker and the answer under AtMostOnce (an older version's annotations)", func() {
		chatID := pmPersonalTarget(ns, "crash")
		// As a manager of an older version that stopped after persisting the marker leaves the
		// object (the journal's marker: proactivemessage_journal_test.go).
		for _, name := range []string{"at-most", "at-least"} {
			msg := &teamsv1alpha1.ProactiveMessage{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
					teamsv1alpha1.SendAttemptAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}},
				Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "crash"},
					Text: "After crash " + name},
			}
			if name == "at-least" {
				msg.Spec.DeliveryGuarantee = teamsv1alpha1.AtLeastOnce
			}
			Expect(k8sClient.Create(ctx, msg)).To(Succeed())
		}
		unknown := pmEventuallyPhase(ns, "at-most", teamsv1alpha1.PhaseUnknown)
		Expect(pmReady(unknown).Reason).To(Equal(teamsv1alpha1.DeliveryUnknownReason))
		Expect(pmReady(unknown).Message).To(ContainSubstring("AtLeastOnce"))
		resent := pmEventuallyPhase(ns, "at-least", teamsv1alpha1.PhaseDelivered)
		Consistently(func(g Gomega) {
			stored := pmLive(chatID)
			g.Expect(stored).To(HaveLen(1))
			g.Expect(stored[0].ActivityID).To(Equal(resent.Status.ActivityID))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("delivers a burst of 100 messages to 5 conversations once each, in order, with almost no 429", func() {
		const conversations, perConversation = 5, 20
		chats := make([]string, conversations)
		for c := range conversations {
			chats[c] = pmPersonalTarget(ns, fmt.Sprintf("burst-%d", c))
		}
		since := int64(0)
		if reqs := emu.Requests(); len(reqs) > 0 {
			since = reqs[len(reqs)-1].Seq
		}
		for i := range perConversation {
			for c := range conversations {
				pmMessage(ns, fmt.Sprintf("burst-%d-%02d", c, i), fmt.Sprintf("burst-%d", c), nil)
			}
		}
		Eventually(func(g Gomega) {
			list := &teamsv1alpha1.ProactiveMessageList{}
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			delivered := 0
			for _, m := range list.Items {
				if m.Status.Phase == teamsv1alpha1.PhaseDelivered {
					delivered++
				}
			}
			g.Expect(delivered).To(Equal(conversations * perConversation))
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())

		for c, chatID := range chats {
			stored := pmLive(chatID)
			Expect(stored).To(HaveLen(perConversation))
			for i, a := range stored {
				Expect(pmActivity(a)).To(HaveKeyWithValue("text", fmt.Sprintf("Message burst-%d-%02d", c, i)))
			}
		}
		// The client's limiters keep to Teams' windows as the client sees them; a request can
		// still reach the emulator a few milliseconds later than its neighbour and land in a
		// full window there. Those rare 429s are waited out like any other.
		sends, throttled := 0, 0
		for _, r := range emu.RequestsSince(since) {
			for _, chatID := range chats {
				if r.Operation == "sendActivity" && strings.Contains(r.Path, chatID) {
					sends++
					if r.Status == 429 {
						throttled++
					}
				}
			}
		}
		Expect(sends).To(Equal(conversations*perConversation + throttled))
		Expect(throttled).To(BeNumerically("<=", conversations*perConversation/20), "steady state: almost no 429")
	})

	It("is refused by the API server when it has both text and a card", func() {
		msg := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "both"},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: "x"}, Text: "x",
				AdaptiveCard: &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5"},
			},
		}
		Expect(k8sClient.Create(ctx, msg)).To(MatchError(ContainSubstring("exactly one of text or adaptiveCard")))
	})
})

// pmSends counts the sendActivity requests the emulator got for a conversation.
func pmSends(conversationPart string) int {
	n := 0
	for _, e := range emu.Requests() {
		if e.Operation == "sendActivity" && strings.Contains(e.Path, conversationPart) {
			n++
		}
	}
	return n
}
