package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// Issue 21: the platform team's ReachPolicy limits where a namespace's targets may go.
var _ = Describe("ReachPolicy", func() {
	var ns, policyName string
	BeforeEach(func() {
		ns = newNamespace()
		// The policy selects this namespace alone, by a label of its own.
		nsObj := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		base := nsObj.DeepCopy()
		nsObj.Labels["reach-test"] = ns
		Expect(k8sClient.Patch(ctx, nsObj, client.MergeFrom(base))).To(Succeed())
		policyName = "reach-" + ns
	})
	AfterEach(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &teamsv1alpha1.ReachPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: policyName}}))).To(Succeed())
	})

	It("refuses a channel and a person it does not list, names itself, and lets them through once it allows them", func() {
		allowedUser, _ := ctUser(true)
		otherUser, _ := ctUser(true)
		teamID, _, channelID := ctTeam(true)
		policy := &teamsv1alpha1.ReachPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: policyName},
			Spec: teamsv1alpha1.ReachPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"reach-test": ns}},
				People:            &teamsv1alpha1.PeopleReach{IDs: []string{allowedUser}},
				Channels:          &teamsv1alpha1.ReachList{IDs: []string{"19:other@thread.tacv2"}},
			},
		}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())

		allowed := ctCreate(ns, "allowed", teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: allowedUser}})
		person := ctCreate(ns, "person", teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: otherUser}})
		channel := ctCreate(ns, "channel", teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID, ChannelID: channelID}})

		ctReady(allowed, teamsv1alpha1.ConversationCreatedReason)
		refused := ctStalled(person, teamsv1alpha1.ReachRefusedReason)
		Expect(ctReadyMessage(refused)).To(Equal(`ReachPolicy "` + policyName + `" does not allow user ` + otherUser +
			" (the object id is not listed): ask the platform team to allow it, or use another target"))
		refused = ctStalled(channel, teamsv1alpha1.ReachRefusedReason)
		Expect(ctReadyMessage(refused)).To(ContainSubstring(`ReachPolicy "` + policyName + `" does not allow channel ` +
			channelID + " of team " + teamID))

		// A message to a refused target says which policy refused it, and nothing is sent.
		pmMessage(ns, "to-person", "person", nil)
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "to-person")
			g.Expect(pmReady(msg)).NotTo(BeNil())
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.ReachRefusedReason))
			g.Expect(pmReady(msg).Message).To(ContainSubstring(`ReachPolicy "` + policyName + `"`))
			g.Expect(msg.Status.Attempts).To(BeZero())
		}).WithTimeout(pmTimeout).Should(Succeed())

		// The platform team allows the person: the target resolves and the message goes.
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(policy), policy)).To(Succeed())
		policy.Spec.People.IDs = append(policy.Spec.People.IDs, otherUser)
		Expect(k8sClient.Update(ctx, policy)).To(Succeed())
		ctReady(person, teamsv1alpha1.ConversationCreatedReason)
		pmEventuallyPhase(ns, "to-person", teamsv1alpha1.PhaseDelivered)
	})

	It("refuses a target that was Ready before the policy, and its messages", func() {
		user, _ := ctUser(true)
		target := ctCreate(ns, "before", teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: user}})
		ctReady(target, teamsv1alpha1.ConversationCreatedReason)

		Expect(k8sClient.Create(ctx, &teamsv1alpha1.ReachPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: policyName},
			Spec: teamsv1alpha1.ReachPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"reach-test": ns}},
				Chats:             &teamsv1alpha1.ReachList{}, // only chats, and none of them
			},
		})).To(Succeed())
		refused := ctStalled(target, teamsv1alpha1.ReachRefusedReason)
		Expect(ctReadyMessage(refused)).To(ContainSubstring("the policy allows no people"))

		pmMessage(ns, "after", "before", nil)
		Eventually(func(g Gomega) {
			msg := pmGet(g, ns, "after")
			g.Expect(pmReady(msg)).NotTo(BeNil())
			g.Expect(pmReady(msg).Reason).To(Equal(teamsv1alpha1.ReachRefusedReason))
			g.Expect(msg.Status.Attempts).To(BeZero())
		}).WithTimeout(pmTimeout).Should(Succeed())
	})

	It("refuses an audience larger than its maxAudience, and an audience's group it does not list", func() {
		var users []teamsv1alpha1.UserTarget
		for range 3 {
			id, _ := ctUser(true)
			users = append(users, teamsv1alpha1.UserTarget{ID: id})
		}
		Expect(k8sClient.Create(ctx, &teamsv1alpha1.ReachPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: policyName},
			Spec: teamsv1alpha1.ReachPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"reach-test": ns}},
				MaxAudience:       new(int32(2)),
			},
		})).To(Succeed())
		t := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "three"},
			Spec: teamsv1alpha1.ConversationTargetSpec{Audience: &teamsv1alpha1.AudienceTarget{Users: users}}}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		pmMessage(ns, "to-three", "three", nil)
		failed := pmEventuallyPhase(ns, "to-three", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(failed).Reason).To(Equal(teamsv1alpha1.AudienceRefusedReason))
		Expect(pmReady(failed).Message).To(ContainSubstring(`has more than 2 people, the most ReachPolicy "` + policyName +
			`" allows`))
		for _, u := range users {
			Expect(pmLive(emulator.PersonalChatID(emulator.DefaultBotAppID, u.ID))).To(BeEmpty(), "nothing sent")
		}

		// Places apply to audiences too: a policy that lists groups but not this one.
		policy := &teamsv1alpha1.ReachPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: policyName}, policy)).To(Succeed())
		policy.Spec.Groups = &teamsv1alpha1.ReachList{IDs: []string{"00000000-0000-4000-8000-000000000001"}}
		Expect(k8sClient.Update(ctx, policy)).To(Succeed())
		group := ctCreate(ns, "group", teamsv1alpha1.ConversationTargetSpec{Audience: &teamsv1alpha1.AudienceTarget{
			Group: &teamsv1alpha1.GroupAudience{ID: "00000000-0000-4000-8000-000000000002"}}})
		refused := ctEventually(group, metav1.ConditionFalse, teamsv1alpha1.ReachRefusedReason, 20*time.Second)
		Expect(ctReadyMessage(refused)).To(ContainSubstring("group 00000000-0000-4000-8000-000000000002 (the group is not listed)"))
	})
})
