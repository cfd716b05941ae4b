package faults_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/broadcast"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// broadcastPeople is the audience of TestBroadcastSIGKILL: three batches of 250 and a bit.
const broadcastPeople = 600

// TestBroadcastSIGKILL kills the manager with SIGKILL twice in the middle of two broadcasts to
// the same 600 people, one AtMostOnce and one AtLeastOnce, and starts it again each time. Before
// each POST its batch is written as Sending; after a kill at most one batch per broadcast is
// left Sending. AtMostOnce: exactly those people may end Unknown, nobody gets two copies, and
// everyone ends delivered or Unknown. AtLeastOnce: that batch is sent again, so everyone ends
// delivered with a copy, and only people of a batch in flight at a kill may hold two.
func TestBroadcastSIGKILL(t *testing.T) {
	t.Parallel()
	// Latency keeps a batch in flight for seconds, so each kill lands inside one.
	s := start(t, emulator.Options{Latency: 20 * time.Millisecond})
	s.g.Expect(s.env.Emulator.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{emulator.GeneratedTenant(
		emulator.GenerateOptions{Users: broadcastPeople, BlockedEvery: -1, NotInstalledEvery: -1, GuestEvery: -1})}})).To(Succeed())
	s.create([]client.Object{
		&teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everyone"},
			Spec: teamsv1alpha1.ConversationTargetSpec{Audience: &teamsv1alpha1.AudienceTarget{
				Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID}}}},
		&teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "town-hall"},
			Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "everyone"},
				Text: "bk-town-hall", DeliveryGuarantee: teamsv1alpha1.AtMostOnce}},
		&teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "all-hands"},
			Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "everyone"},
				Text: "bk-all-hands", DeliveryGuarantee: teamsv1alpha1.AtLeastOnce}},
	})

	// People a kill left Sending, per message.
	inFlight, resent := map[string]bool{}, map[string]bool{}
	mgr := s.manager("manager-0")
	for k, threshold := range []int{150, 380} {
		s.g.Eventually(func() int { return len(s.broadcastCopies("bk-town-hall")) }).
			WithTimeout(3 * time.Minute).WithPolling(20 * time.Millisecond).Should(BeNumerically(">=", threshold))
		mgr.Kill()
		for name, set := range map[string]map[string]bool{"town-hall": inFlight, "all-hands": resent} {
			sending := s.sendingPeople(name)
			t.Logf("kill %d: %s: %d people left Sending", k+1, name, len(sending))
			s.g.Expect(len(sending)).To(BeNumerically("<=", 250), "at most one batch of %s in flight", name)
			for _, p := range sending {
				set[p] = true
			}
		}
		mgr = s.manager(fmt.Sprintf("manager-%d", k+1))
	}
	s.g.Expect(inFlight).NotTo(BeEmpty(), "a kill landed while a batch was in flight")
	s.g.Expect(resent).NotTo(BeEmpty(), "a kill landed while a batch of the AtLeastOnce broadcast was in flight")

	msg := s.broadcastFinished("town-hall")
	st := msg.Status.Broadcast
	copies := s.broadcastCopies("bk-town-hall")
	t.Logf("finished: delivered %d, unknown %d, in flight at a kill %d", st.Delivered, st.Unknown, len(inFlight))
	s.g.Expect(st.Audience).To(BeEquivalentTo(broadcastPeople))
	s.g.Expect(st.Delivered+st.Unknown).To(BeEquivalentTo(broadcastPeople), "everyone accounted for")
	s.g.Expect(st.Failed + st.Skipped + st.Pending).To(BeZero())
	for user, n := range copies {
		s.g.Expect(n).To(Equal(1), "%s got %d copies", user, n)
	}
	records := s.records(msg)
	s.g.Expect(records).To(HaveLen(broadcastPeople))
	for _, p := range records {
		switch p.State {
		case broadcast.Delivered:
			s.g.Expect(copies).To(HaveKey(strings.ToLower(p.User)), "%s: delivered, so Teams holds it", p.User)
		case broadcast.Unknown:
			s.g.Expect(inFlight).To(HaveKey(p.User), "%s: Unknown only if a kill left it in flight", p.User)
		default:
			s.g.Expect(p.State).To(BeElementOf(broadcast.Delivered, broadcast.Unknown), p.User)
		}
	}
	for p := range inFlight {
		s.g.Expect(copies[strings.ToLower(p)]).To(BeNumerically("<=", 1), p)
	}

	alo := s.broadcastFinished("all-hands").Status.Broadcast
	copies = s.broadcastCopies("bk-all-hands")
	twice := 0
	t.Logf("AtLeastOnce finished: delivered %d, unknown %d, in flight at a kill %d", alo.Delivered, alo.Unknown, len(resent))
	s.g.Expect(alo.Delivered).To(BeEquivalentTo(broadcastPeople), "the batch in flight was sent again")
	s.g.Expect(alo.Unknown + alo.Failed + alo.Skipped + alo.Pending).To(BeZero())
	s.g.Expect(copies).To(HaveLen(broadcastPeople), "everyone has a copy")
	for user, n := range copies {
		if n > 1 {
			twice++
			s.g.Expect(resent).To(HaveKey(user), "%s got %d copies but was in no batch in flight at a kill", user, n)
		}
	}
	t.Logf("AtLeastOnce: %d people got two copies", twice)
}

// broadcastFinished waits for the broadcast name to finish.
func (s *suite) broadcastFinished(name string) *teamsv1alpha1.ProactiveMessage {
	msg := &teamsv1alpha1.ProactiveMessage{}
	s.g.Eventually(func(g Gomega) {
		g.Expect(s.c.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, msg)).To(Succeed())
		g.Expect(msg.Status.Broadcast).NotTo(BeNil())
		g.Expect(msg.Status.Broadcast.FinishedAt).NotTo(BeNil())
	}).WithTimeout(4 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	return msg
}

// broadcastCopies counts, per user, the copies Teams holds of the text.
func (s *suite) broadcastCopies(text string) map[string]int {
	out := map[string]int{}
	for _, a := range s.env.Emulator.Activities() {
		if a.UserID != "" && strings.Contains(string(a.Activity), text) {
			out[strings.ToLower(a.UserID)]++
		}
	}
	return out
}

// records reads every per-person record of a broadcast.
func (s *suite) records(msg *teamsv1alpha1.ProactiveMessage) []broadcast.Person {
	list := &corev1.ConfigMapList{}
	s.g.Expect(s.c.List(s.ctx, list, client.InNamespace(ns),
		client.MatchingLabels{teamsv1alpha1.BroadcastLabel: string(msg.UID)})).To(Succeed())
	var out []broadcast.Person
	for _, cm := range list.Items {
		people, err := broadcast.Decode(cm.BinaryData[broadcast.DataKey], 8<<20)
		s.g.Expect(err).NotTo(HaveOccurred())
		out = append(out, people...)
	}
	return out
}

// sendingPeople returns, once the API server has settled (a dead manager's last write can still
// be landing), the people whose batch a kill left Sending.
func (s *suite) sendingPeople(name string) []string {
	msg := &teamsv1alpha1.ProactiveMessage{}
	s.g.Expect(s.c.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, msg)).To(Succeed())
	var last []string
	read := false
	s.g.Eventually(func(g Gomega) {
		var cur []string
		for _, p := range s.records(msg) {
			if p.State == broadcast.Sending {
				cur = append(cur, p.User)
			}
		}
		stable := read && strings.Join(cur, ",") == strings.Join(last, ",")
		last, read = cur, true
		g.Expect(stable).To(BeTrue())
	}).WithTimeout(30 * time.Second).WithPolling(300 * time.Millisecond).Should(Succeed())
	return last
}
