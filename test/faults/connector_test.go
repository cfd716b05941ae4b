package faults_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

const (
	faultTargets = 4
	faultPerTgt  = 8
	// stormSends is how many sends in a row Teams answers 429 (Retry-After: 2) in each storm
	// conversation: about eight seconds of storm, whatever the machine's load.
	stormSends = 4
	// burstFor is how long each 503 burst lasts.
	burstFor = 2 * time.Second
)

// TestConnectorFaults runs three groups of conversations through one manager at once, each with
// its own faults on the Connector's send: a 429 storm (Retry-After honoured), three 503 bursts, and answers dropped after
// Teams stored the message. Every send that reached Teams is in the emulator's journal, so the
// tests count attempts, drops and copies exactly.
func TestConnectorFaults(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{Latency: 20 * time.Millisecond})
	storm := s.conversations("storm", faultTargets)
	bursts := s.conversations("burst", faultTargets)
	drops := s.conversations("drop", faultTargets)
	// drop-00 and drop-01 are AtMostOnce, drop-02 and drop-03 AtLeastOnce.
	dropTargets := slices.Sorted(maps.Keys(drops))
	dropGuarantee := map[string]teamsv1alpha1.DeliveryGuarantee{}
	for i, target := range dropTargets {
		dropGuarantee[target] = teamsv1alpha1.AtMostOnce
		if i >= faultTargets/2 {
			dropGuarantee[target] = teamsv1alpha1.AtLeastOnce
		}
	}
	names := map[string][]string{} // by target
	var objs [][]client.Object
	add := func(chats map[string]string, guarantee func(target string) func(int) teamsv1alpha1.DeliveryGuarantee) {
		for target := range chats {
			n, o := messageObjects(target, faultPerTgt, guarantee(target))
			names[target], objs = n, append(objs, o)
		}
	}
	alternate := func(string) func(int) teamsv1alpha1.DeliveryGuarantee {
		return func(i int) teamsv1alpha1.DeliveryGuarantee {
			return []teamsv1alpha1.DeliveryGuarantee{teamsv1alpha1.AtMostOnce, teamsv1alpha1.AtLeastOnce}[i%2]
		}
	}
	add(storm, alternate)
	add(bursts, alternate)
	add(drops, func(target string) func(int) teamsv1alpha1.DeliveryGuarantee { return always(dropGuarantee[target]) })
	s.create(objs...)

	// The faults start when the manager is ready, and every message is waiting for it.
	s.manager("manager")
	stormStart := time.Now()
	for _, chat := range storm {
		s.env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: chat,
			Status: 429, RetryAfter: "2", Count: stormSends})
	}
	burst := func() {
		for _, chat := range bursts {
			s.env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: chat,
				Status: 503, Duration: burstFor})
		}
	}
	burst()
	// The first one or two sends to each drop conversation are stored by Teams and their answer lost.
	for i, target := range dropTargets {
		s.env.Emulator.AddFault(emulator.Fault{API: "botframework", Operation: "sendActivity", PathContains: drops[target],
			Action: emulator.FaultAcceptThenDrop, Count: 1 + i%2})
	}

	// While the storm lasts, its messages say they are throttled.
	s.g.Eventually(func(g Gomega) {
		var reasons []string
		for _, m := range s.messages(g) {
			if strings.HasPrefix(m.Name, "storm-") {
				reasons = append(reasons, meta(m.Status.Conditions, teamsv1alpha1.ReadyCondition).Reason)
			}
		}
		g.Expect(reasons).To(ContainElement(teamsv1alpha1.ThrottledReason))
	}).WithTimeout(time.Minute).Should(Succeed())
	t.Logf("Throttled seen %s into the storm", time.Since(stormStart).Round(time.Millisecond))
	// Two more bursts, a third and two thirds of the way through the burst group.
	for _, part := range []int{1, 2} {
		s.g.Eventually(func() int {
			n := 0
			for _, chat := range bursts {
				n += len(s.env.Emulator.ConversationActivities(chat))
			}
			return n
		}).WithTimeout(2*time.Minute).Should(BeNumerically(">=", part*faultTargets*faultPerTgt/3), "burst %d", part+1)
		burst()
	}

	var all []string
	for _, n := range names {
		all = append(all, n...)
	}
	msgs := s.settled(all, 3*time.Minute)
	recs := s.sendRecords(msgs, nil)
	s.expectNoSecrets(msgs)

	// retried checks a group whose every message must be delivered exactly once, in order, with
	// status.attempts counting every send Teams saw, and faultStatus answered at least once.
	retried := func(t *testing.T, chats map[string]string, faultStatus int) int {
		g := NewWithT(t)
		faulted, attempts, sends := 0, int32(0), 0
		for target, chat := range chats {
			tm := s.teams(chat)
			for _, n := range names[target] {
				expectDelivered(g, msgs[n], recs[n], tm)
				g.Expect(tm.copies[n]).To(Equal(1), "%s: delivered exactly once", n)
				attempts += msgs[n].Status.Attempts
			}
			g.Expect(tm.order).To(Equal(names[target]), "%s: creation order", target)
			for _, r := range s.journal(chat) {
				sends++
				if r.Fault != "" {
					g.Expect(r.Status).To(Equal(faultStatus))
					faulted++
				}
			}
		}
		g.Expect(faulted).To(BeNumerically(">", 0), "the fault was hit")
		g.Expect(attempts).To(BeEquivalentTo(sends), "status.attempts counts every send")
		t.Logf("%d sends for %d messages, %d answered %d", sends, len(chats)*faultPerTgt, faulted, faultStatus)
		return faulted
	}
	t.Run("429 storm", func(t *testing.T) {
		NewWithT(t).Expect(retried(t, storm, 429)).To(Equal(faultTargets*stormSends), "every 429 was waited out")
	})
	t.Run("503 bursts", func(t *testing.T) { retried(t, bursts, 503) })
	t.Run("accept then drop", func(t *testing.T) {
		g := NewWithT(t)
		for _, target := range dropTargets {
			tm := s.teams(drops[target])
			dropped := 0
			for _, r := range s.journal(drops[target]) {
				if r.Dropped {
					dropped++
				}
			}
			g.Expect(dropped).To(Equal(1+slices.Index(dropTargets, target)%2), "%s: every injected drop happened", target)
			unknown, duplicates := 0, 0
			for _, n := range names[target] {
				m := msgs[n]
				if m.Status.Phase == teamsv1alpha1.PhaseUnknown {
					expectUnknown(g, m, recs[n], tm)
					g.Expect(tm.copies[n]).To(Equal(1), "%s: the dropped send was stored", n)
					unknown++
					continue
				}
				expectDelivered(g, m, recs[n], tm)
				duplicates += tm.copies[n] - 1
			}
			if dropGuarantee[target] == teamsv1alpha1.AtMostOnce {
				// Each drop is one uncertain send, reported Unknown; nothing is sent twice.
				g.Expect(unknown).To(Equal(dropped), "%s: Unknown exactly where drops were injected", target)
				g.Expect(duplicates).To(BeZero(), target)
			} else {
				// Each drop is sent again: one duplicate per drop, no more.
				g.Expect(unknown).To(BeZero(), target)
				g.Expect(duplicates).To(Equal(dropped), "%s: duplicates exactly where drops were injected", target)
			}
			g.Expect(tm.firstArrivals()).To(Equal(names[target]), "%s: creation order", target)
			t.Logf("%s (%s): %d dropped, %d Unknown, %d duplicates", target, dropGuarantee[target], dropped, unknown, duplicates)
		}
	})
}
