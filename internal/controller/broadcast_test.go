package controller_test

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/broadcast"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/optout"
)

// The generated people of these specs: a few hundred, some blocking the bot, some without its
// app, some guests in the team (emulator.GenerateOptions).
var (
	bcOpts = emulator.GenerateOptions{Users: 120, BlockedEvery: 10, NotInstalledEvery: 15, GuestEvery: 8}
	bcOnce sync.Once
)

const bcTimeout = 90 * time.Second

func bcSeed() {
	bcOnce.Do(func() {
		t := emulator.GeneratedTenant(bcOpts)
		Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{t}})).To(Succeed())
	})
}

// bcExpect is what a broadcast to people should end with.
type bcExpect struct{ delivered, blocked, notInstalled int }

func bcExpected(include func(emulator.GeneratedUser) bool) (bcExpect, map[string]bool) {
	var e bcExpect
	ids := map[string]bool{}
	for i := range bcOpts.Users {
		u := bcOpts.Generated(i)
		if !include(u) {
			continue
		}
		ids[u.ID] = true
		switch {
		case u.Blocked && (!u.NotInstalled || u.InTeam):
			e.blocked++
		case u.NotInstalled && !u.InTeam:
			e.notInstalled++
		default:
			e.delivered++
		}
	}
	return e, ids
}

func bcTarget(ns, name string, a teamsv1alpha1.AudienceTarget) {
	t := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: teamsv1alpha1.ConversationTargetSpec{Audience: &a}}
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
}

// bcCopies counts the live copies of a message per user, by the text marker.
func bcCopies(marker string) map[string]int {
	out := map[string]int{}
	for _, a := range emu.Activities() {
		if a.Deleted || a.UserID == "" || !strings.Contains(string(a.Activity), marker) {
			continue
		}
		out[strings.ToLower(a.UserID)]++
	}
	return out
}

func bcFinished(ns, name string) *teamsv1alpha1.ProactiveMessage {
	var msg *teamsv1alpha1.ProactiveMessage
	Eventually(func(g Gomega) {
		msg = pmGet(g, ns, name)
		g.Expect(msg.Status.Broadcast).NotTo(BeNil())
		g.Expect(msg.Status.Broadcast.FinishedAt).NotTo(BeNil(), "progress %s", msg.Status.Broadcast.Progress)
	}).WithTimeout(bcTimeout).Should(Succeed())
	return msg
}

func bcReason(st *teamsv1alpha1.BroadcastStatus, reason string) int32 {
	for _, r := range st.Reasons {
		if r.Reason == reason {
			return r.Count
		}
	}
	return 0
}

func bcChunks(ns string, msg *teamsv1alpha1.ProactiveMessage) []corev1.ConfigMap {
	list := &corev1.ConfigMapList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(ns),
		client.MatchingLabels{teamsv1alpha1.BroadcastLabel: string(msg.UID)})).To(Succeed())
	return list.Items
}

var _ = Describe("Broadcast to an audience", Ordered, func() {
	BeforeAll(bcSeed)

	It("sends one message to each user of an Entra group, nested groups included, and counts the skips", func() {
		ns := newNamespace()
		bcTarget(ns, "staff", teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID}})
		_, mark := bcGroupReads(0)
		pmMessage(ns, "all-staff", "staff", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-group-marker" })
		want, ids := bcExpected(func(emulator.GeneratedUser) bool { return true })
		By("showing its progress while it sends (the first spec: every conversation is created, so it takes seconds)")
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "all-staff")
			st := msg.Status.Broadcast
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.Pending).To(BeNumerically(">", 0))
			g.Expect(st.Delivered).To(BeNumerically(">", 0))
			g.Expect(st.Progress).To(Equal(fmt.Sprintf("%d/%d", st.Audience-st.Pending, st.Audience)))
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.SendingReason))
			g.Expect(pmReady(msg).Message).To(ContainSubstring("pending"))
		}).WithTimeout(bcTimeout).WithPolling(50 * time.Millisecond).Should(Succeed())
		msg := bcFinished(ns, "all-staff")
		reads, _ := bcGroupReads(mark)
		Expect(reads).To(Equal(1), "the audience is read once, when the message starts, "+
			"not on each of its reconciles (a batch of 20 and a budget of 2 s here)")
		st := msg.Status.Broadcast
		Expect(msg.Status.Phase).To(Equal(teamsv1alpha1.PhaseDelivered))
		Expect(st.Audience).To(BeNumerically(">=", len(ids)))
		Expect(st.Delivered).To(BeNumerically(">=", want.delivered))
		Expect(bcReason(st, broadcast.ReasonBlockedByUser)).To(BeEquivalentTo(want.blocked))
		Expect(bcReason(st, broadcast.ReasonBotNotInstalled)).To(BeEquivalentTo(want.notInstalled))
		Expect(st.Failed).To(BeZero())
		Expect(st.Unknown).To(BeZero())
		Expect(st.Pending).To(BeZero())
		Expect(st.SampleFailures).NotTo(BeEmpty())
		Expect(st.Progress).To(Equal(fmt.Sprintf("%d/%d", st.Audience, st.Audience)))
		copies := bcCopies("bc-group-marker")
		for id := range ids {
			Expect(copies[id]).To(BeNumerically("<=", 1), "nobody gets two copies")
		}
		Expect(len(copies)).To(BeEquivalentTo(st.Delivered))
		Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.DeliveredReason))

		By("keeping per-person outcomes in a few compressed chunks")
		chunks := bcChunks(ns, msg)
		Expect(chunks).To(HaveLen(1))
		people, err := broadcast.Decode(chunks[0].BinaryData[broadcast.DataKey], 1<<20)
		Expect(err).NotTo(HaveOccurred())
		Expect(people).To(HaveLen(int(st.Audience)))

		By("recording the audience on the target")
		target := &teamsv1alpha1.ConversationTarget{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "staff"}, target)).To(Succeed())
		Expect(target.Status.Kind).To(Equal("Audience"))
		Expect(target.Status.Audience).NotTo(BeNil())
		Expect(target.Status.Audience.Size).To(Equal(st.Audience))
	})

	It("reaches a team's members from its roster, leaving guests out unless asked", func() {
		ns := newNamespace()
		bcTarget(ns, "all-hands", teamsv1alpha1.AudienceTarget{Team: &teamsv1alpha1.TeamAudience{ID: emulator.GeneratedTeamID}})
		pmMessage(ns, "members", "all-hands", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-team-marker" })
		want, ids := bcExpected(func(u emulator.GeneratedUser) bool { return u.InTeam && !u.Guest })
		msg := bcFinished(ns, "members")
		st := msg.Status.Broadcast
		Expect(st.Audience).To(BeEquivalentTo(len(ids)))
		Expect(st.Delivered).To(BeEquivalentTo(want.delivered))
		Expect(bcReason(st, broadcast.ReasonBlockedByUser)).To(BeEquivalentTo(want.blocked))
		copies := bcCopies("bc-team-marker")
		for id := range copies {
			Expect(ids).To(HaveKey(id), "a guest or a non-member got the message")
		}

		bcTarget(ns, "all-hands-guests", teamsv1alpha1.AudienceTarget{Team: &teamsv1alpha1.TeamAudience{
			ID: emulator.GeneratedTeamID, IncludeGuests: true}})
		pmMessage(ns, "everyone", "all-hands-guests", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-guests-marker" })
		_, withGuests := bcExpected(func(u emulator.GeneratedUser) bool { return u.InTeam })
		Expect(len(withGuests)).To(BeNumerically(">", len(ids)))
		Expect(bcFinished(ns, "everyone").Status.Broadcast.Audience).To(BeEquivalentTo(len(withGuests)))
	})

	It("reaches a list of users by object id and user principal name, and skips unknown names", func() {
		ns := newNamespace()
		u1, u2 := bcOpts.Generated(1), bcOpts.Generated(2)
		bcTarget(ns, "few", teamsv1alpha1.AudienceTarget{Users: []teamsv1alpha1.UserTarget{
			{ID: u1.ID}, {UserPrincipalName: u2.UPN}, {UserPrincipalName: "nobody@" + emulator.DefaultTenantDomain},
		}})
		pmMessage(ns, "few", "few", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-users-marker" })
		st := bcFinished(ns, "few").Status.Broadcast
		Expect(st.Audience).To(BeEquivalentTo(3))
		Expect(st.Delivered).To(BeEquivalentTo(2))
		Expect(bcReason(st, broadcast.ReasonUserNotFound)).To(BeEquivalentTo(1))
		Expect(bcCopies("bc-users-marker")).To(HaveKeyWithValue(u1.ID, 1))
		Expect(bcCopies("bc-users-marker")).To(HaveKeyWithValue(u2.ID, 1))
	})

	It("holds a suspended broadcast and resumes it", func() {
		ns := newNamespace()
		users := bcUsers(20)
		bcTarget(ns, "twenty", teamsv1alpha1.AudienceTarget{Users: users})
		pmMessage(ns, "held", "twenty", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.Suspend = "bc-suspend-marker", true
		})
		Eventually(func(g Gomega) {
			g.Expect(pmReady(pmGet(g, ns, "held"))).NotTo(BeNil())
			g.Expect(pmReady(pmGet(g, ns, "held")).Reason).To(Equal(teamsv1alpha1.SuspendedReason))
		}).WithTimeout(bcTimeout).Should(Succeed())
		Consistently(func() map[string]int { return bcCopies("bc-suspend-marker") }).
			WithTimeout(2 * time.Second).Should(BeEmpty())
		bcPatch(ns, "held", func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.Suspend = false })
		st := bcFinished(ns, "held").Status.Broadcast
		Expect(st.Audience).To(BeEquivalentTo(20))
		Expect(len(bcCopies("bc-suspend-marker"))).To(BeEquivalentTo(st.Delivered))
	})

	It("edits every copy when the content changes, and deletes every copy with the object", func() {
		ns := newNamespace()
		bcTarget(ns, "editors", teamsv1alpha1.AudienceTarget{Users: bcUsers(15)})
		pmMessage(ns, "news", "editors", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.DeletionPolicy = "bc-edit-marker v1", teamsv1alpha1.MessageDeletionPolicyDelete
		})
		st := bcFinished(ns, "news").Status.Broadcast
		Expect(st.Delivered).To(BeNumerically(">", 0))
		bcPatch(ns, "news", func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.Text = "bc-edit-marker v2" })
		Eventually(func(g Gomega) {
			g.Expect(len(bcCopies("bc-edit-marker v2"))).To(BeEquivalentTo(st.Delivered))
			g.Expect(bcCopies("bc-edit-marker v1")).To(BeEmpty())
			g.Expect(pmReady(pmGet(g, ns, "news")).Reason).To(Equal(teamsv1alpha1.EditedReason))
		}).WithTimeout(bcTimeout).Should(Succeed())

		Expect(k8sClient.Delete(ctx, pmGet(Default, ns, "news"))).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "news"}, &teamsv1alpha1.ProactiveMessage{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
			g.Expect(bcCopies("bc-edit-marker")).To(BeEmpty())
		}).WithTimeout(bcTimeout).Should(Succeed())
	})

	It("cancels the rest when the message is deleted", func() {
		ns := newNamespace()
		bcTarget(ns, "staff", teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID}})
		pmMessage(ns, "cancelled", "staff", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-cancel-marker" })
		Eventually(func() int { return len(bcCopies("bc-cancel-marker")) }).WithTimeout(bcTimeout).Should(BeNumerically(">", 0))
		Expect(k8sClient.Delete(ctx, pmGet(Default, ns, "cancelled"))).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cancelled"}, &teamsv1alpha1.ProactiveMessage{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(bcTimeout).Should(BeTrue())
		count := func() int { return len(bcCopies("bc-cancel-marker")) }
		sent := 0
		Eventually(func(g Gomega) { // the batch in flight ends, then nothing more goes out
			sent = count()
			g.Consistently(count).WithTimeout(2 * time.Second).Should(Equal(sent))
		}).WithTimeout(bcTimeout).Should(Succeed())
		want, _ := bcExpected(func(emulator.GeneratedUser) bool { return true })
		Expect(sent).To(BeNumerically("<", want.delivered), "deleted before everyone got it")
	})

	It("leaves whoever is still pending at expiresAt unsent, and counts them Expired", func() {
		ns := newNamespace()
		bcTarget(ns, "staff", teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID}})
		expires := metav1.NewTime(time.Now().Add(8 * time.Second).Truncate(time.Second))
		pmMessage(ns, "late", "staff", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.ExpiresAt = "bc-expiry-marker", &expires
		})
		Eventually(func() int { return len(bcCopies("bc-expiry-marker")) }).WithTimeout(bcTimeout).Should(BeNumerically(">", 0))
		bcPatch(ns, "late", func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.Suspend = true })
		Eventually(func() bool { return time.Now().After(expires.Add(time.Second)) }).WithTimeout(time.Minute).Should(BeTrue())
		bcPatch(ns, "late", func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.Suspend = false })
		st := bcFinished(ns, "late").Status.Broadcast
		Expect(bcReason(st, broadcast.ReasonExpired)).To(BeNumerically(">", 0), "suspended before everyone got it")
		Expect(st.Delivered + st.Skipped + st.Failed + st.Unknown).To(Equal(st.Audience))
		Expect(st.Pending).To(BeZero())
		Expect(bcCopies("bc-expiry-marker")).To(HaveLen(int(st.Delivered)))
	})

	It("refuses an audience it cannot read, or one larger than maxSize, before sending anything", func() {
		ns := newNamespace()
		bcTarget(ns, "no-app-team", teamsv1alpha1.AudienceTarget{Team: &teamsv1alpha1.TeamAudience{ID: emulator.DefaultTeamID}})
		bcTarget(ns, "no-group", teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{
			ID: "0d9a9b8c-7e6f-4a5b-9c8d-7e6f5a4b3c2d"}})
		bcTarget(ns, "too-many", teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID},
			MaxSize: new(int32(10))})
		for target, reason := range map[string]string{
			"no-app-team": teamsv1alpha1.BotNotInRosterReason, "no-group": teamsv1alpha1.AudienceNotFoundReason,
			"too-many": teamsv1alpha1.AudienceTooLargeReason,
		} {
			pmMessage(ns, target, target, func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-refused-marker" })
			msg := pmEventuallyPhase(ns, target, teamsv1alpha1.PhaseFailed)
			Expect(pmReady(msg).Reason).To(Equal(reason), target)
			Expect(msg.Status.Broadcast.StartedAt).To(BeNil(), target)
		}
		Expect(bcCopies("bc-refused-marker")).To(BeEmpty())
	})

	It("never deletes copies named by records someone else wrote", func() {
		ns := newNamespace()
		bcTarget(ns, "three", teamsv1alpha1.AudienceTarget{Users: bcUsers(3)})
		pmMessage(ns, "forged", "three", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.DeletionPolicy = "bc-forged-marker", teamsv1alpha1.MessageDeletionPolicyDelete
		})
		msg := bcFinished(ns, "forged")
		Expect(bcCopies("bc-forged-marker")).To(HaveLen(3))
		By("rewriting the records, as anyone who may write ConfigMaps in the namespace can")
		cm := bcChunks(ns, msg)[0]
		people, err := broadcast.Decode(cm.BinaryData[broadcast.DataKey], 1<<20)
		Expect(err).NotTo(HaveOccurred())
		people[0].Activity = "1" + people[0].Activity // another message's id, in the attacker's story
		cm.BinaryData[broadcast.DataKey], err = broadcast.Encode(people)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Update(ctx, &cm)).To(Succeed())
		Expect(k8sClient.Delete(ctx, msg)).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(msg), &teamsv1alpha1.ProactiveMessage{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(bcTimeout).Should(BeTrue())
		Expect(bcCopies("bc-forged-marker")).To(HaveLen(3), "nothing deleted on the word of unsigned records")
	})

	It("skips people who told the bot to stop", func() {
		ns := newNamespace()
		users := bcUsers(4)
		out := users[3].ID
		store := &optout.Store{Namespace: operatorNamespace, Reader: k8sClient, Writer: k8sClient}
		_, err := store.Set(ctx, emulator.DefaultBotAppID, emulator.DefaultTenantID, out, true)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			_, err := store.Set(ctx, emulator.DefaultBotAppID, emulator.DefaultTenantID, out, false)
			Expect(err).NotTo(HaveOccurred())
		})
		By("waiting until the manager sees the opt-out (a single message to the person ends OptedOut)")
		Expect(k8sClient.Create(ctx, &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "one"},
			Spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: out}}})).To(Succeed())
		bcTarget(ns, "four", teamsv1alpha1.AudienceTarget{Users: users})
		pmMessage(ns, "single", "one", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-optout-single" })
		pmEventuallyPhase(ns, "single", teamsv1alpha1.PhaseOptedOut)
		pmMessage(ns, "newsletter", "four", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-optout-marker" })
		st := bcFinished(ns, "newsletter").Status.Broadcast
		Expect(st.Delivered).To(BeEquivalentTo(3))
		Expect(bcReason(st, broadcast.ReasonOptedOut)).To(BeEquivalentTo(1))
		Expect(bcCopies("bc-optout-marker")).NotTo(HaveKey(out))
	})

	It("installs the app for people who lack it when installMissing is set", func() {
		ns := newNamespace()
		var users []teamsv1alpha1.UserTarget
		for i := range bcOpts.Users {
			if u := bcOpts.Generated(i); u.NotInstalled && !u.Blocked {
				users = append(users, teamsv1alpha1.UserTarget{ID: u.ID})
			}
		}
		Expect(users).NotTo(BeEmpty())
		bcTarget(ns, "missing", teamsv1alpha1.AudienceTarget{Users: users,
			InstallMissing: &teamsv1alpha1.InstallMissing{TeamsAppID: emulator.DefaultTeamsAppID}})
		pmMessage(ns, "installed", "missing", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-install-marker" })
		st := bcFinished(ns, "installed").Status.Broadcast
		Expect(st.Delivered).To(BeEquivalentTo(len(users)))
		Expect(bcCopies("bc-install-marker")).To(HaveLen(len(users)))
	})
})

var _ = Describe("Broadcast timing and install failures", Ordered, func() {
	BeforeAll(bcSeed)

	It("holds the whole broadcast until sendAt", func() {
		ns := newNamespace()
		bcTarget(ns, "later", teamsv1alpha1.AudienceTarget{Users: bcUsers(5)})
		sendAt := metav1.NewTime(time.Now().Add(5 * time.Second).Truncate(time.Second))
		pmMessage(ns, "scheduled", "later", func(s *teamsv1alpha1.ProactiveMessageSpec) {
			s.Text, s.SendAt = "bc-sendat-marker", &sendAt
		})
		st := bcFinished(ns, "scheduled").Status.Broadcast
		Expect(st.Delivered).To(BeEquivalentTo(5))
		Expect(st.StartedAt.Time).NotTo(BeTemporally("<", sendAt.Time), "the audience is read at sendAt, not before")
		n := 0
		for _, a := range emu.Activities() {
			if strings.Contains(string(a.Activity), "bc-sendat-marker") {
				n++
				Expect(a.CreatedAt).NotTo(BeTemporally("<", sendAt.Time), "nobody gets it before sendAt")
			}
		}
		Expect(n).To(Equal(5))
	})

	It("counts a person whose app installation Graph refused as InstallFailed, and reaches the others", func() {
		ns := newNamespace()
		// Two people of their own without the app (another spec installs it for the generated ones).
		var users []teamsv1alpha1.UserTarget
		seed := emulator.TenantSeed{ID: emulator.DefaultTenantID}
		for i := range 2 {
			id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "teams-operator/bc-installfail/%d", i)).String()
			seed.Users = append(seed.Users, emulator.UserSeed{ID: id,
				UserPrincipalName: fmt.Sprintf("bc-installfail-%d@%s", i, emulator.DefaultTenantDomain)})
			users = append(users, teamsv1alpha1.UserTarget{ID: id})
		}
		Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{seed}})).To(Succeed())
		refused := users[0].ID
		// 403 is final (retried only on 429, 412 and 503): the person fails with the reason, once.
		fault := emu.AddFault(emulator.Fault{API: "graph", Operation: "installApp", PathContains: refused,
			Status: 403, Code: "Forbidden", Message: "The app is blocked by the organisation's app policy"})
		DeferCleanup(func() { emu.RemoveFault(fault) })
		// Someone who has the app is reached without an installation.
		users = append(users, bcUsers(1)...)
		bcTarget(ns, "partly", teamsv1alpha1.AudienceTarget{Users: users,
			InstallMissing: &teamsv1alpha1.InstallMissing{TeamsAppID: emulator.DefaultTeamsAppID}})
		pmMessage(ns, "partly", "partly", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = "bc-installfail-marker" })
		msg := bcFinished(ns, "partly")
		st := msg.Status.Broadcast
		Expect(st.Delivered).To(BeEquivalentTo(2))
		Expect(st.Failed).To(BeEquivalentTo(1))
		Expect(bcReason(st, broadcast.ReasonInstallFailed)).To(BeEquivalentTo(1))
		Expect(st.SampleFailures).To(ContainElement(HaveField("User", refused)))
		Expect(bcCopies("bc-installfail-marker")).NotTo(HaveKey(strings.ToLower(refused)))
		Expect(bcCopies("bc-installfail-marker")).To(HaveLen(2))
		Expect(msg.Status.Phase).To(Equal(teamsv1alpha1.PhaseDelivered), "someone was reached")
	})
})

// bcGroupReads counts the reads of the generated group's transitive members after the request
// numbered since, and returns the number of the latest request.
func bcGroupReads(since int64) (reads int, last int64) {
	last = since
	for _, r := range emu.RequestsSince(since) {
		if r.Operation == "listTransitiveUsers" && strings.Contains(r.Path, emulator.GeneratedGroupID) {
			reads++
		}
		last = r.Seq
	}
	return reads, last
}

// bcUsers lists n generated users who have the app and did not block the bot.
func bcUsers(n int) []teamsv1alpha1.UserTarget {
	var out []teamsv1alpha1.UserTarget
	for i := 0; len(out) < n; i++ {
		if u := bcOpts.Generated(i); !u.Blocked && !u.NotInstalled {
			out = append(out, teamsv1alpha1.UserTarget{ID: u.ID})
		}
	}
	return out
}

func bcPatch(ns, name string, change func(*teamsv1alpha1.ProactiveMessage)) {
	Eventually(func(g Gomega) {
		msg := pmGet(g, ns, name)
		change(msg)
		g.Expect(k8sClient.Update(ctx, msg)).To(Succeed())
	}).WithTimeout(pmTimeout).Should(Succeed())
}
