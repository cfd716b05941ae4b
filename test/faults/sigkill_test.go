package faults_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

const (
	killConversations = 25
	killPerTarget     = 20
	kills             = 3
)

// TestSIGKILL kills the manager with SIGKILL three times at random points during 500 sends and
// starts it again each time. A send in flight at a kill has a send-attempt marker and no activity
// id; those, and only those, may end Unknown (AtMostOnce) or reach Teams twice (AtLeastOnce).
// FAULTS_SEED=n replays the kill points of a failed run.
func TestSIGKILL(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), "FAULTS_SEED")
	}
	rng := rand.New(rand.NewPCG(seed, 0)) //nolint:gosec // test randomness, logged for replay
	// The kills land at random numbers of messages in Teams, one in each third of the run, so
	// each manager gets some work done.
	total := killConversations * killPerTarget
	thresholds := make([]int, kills)
	for k := range kills {
		lo := total * (4*k + 1) / (4*kills + 2)
		hi := total * (4*k + 4) / (4*kills + 2)
		thresholds[k] = lo + rng.IntN(hi-lo)
	}
	t.Logf("FAULTS_SEED=%d: kills when Teams holds %v messages", seed, thresholds)

	// Latency keeps sends in flight long enough for a kill to find some.
	s := start(t, emulator.Options{Latency: 50 * time.Millisecond})
	chats := s.conversations("k", killConversations)
	targets := slices.Sorted(maps.Keys(chats))
	// AtMostOnce and AtLeastOnce alternate within each conversation.
	mixed := func(i int) teamsv1alpha1.DeliveryGuarantee {
		if i%2 == 0 {
			return teamsv1alpha1.AtMostOnce
		}
		return teamsv1alpha1.AtLeastOnce
	}
	// Every message exists before the first manager starts, so the kills find a full queue.
	var names []string
	var objs [][]client.Object
	for _, target := range targets {
		n, o := messageObjects(target, killPerTarget, mixed)
		names, objs = append(names, n...), append(objs, o)
	}
	s.create(objs...)
	t.Logf("%d targets and %d messages created", len(targets), len(names))

	// inFlight[name] counts the sends of the message that a kill left in flight (distinct
	// send-attempt markers: a send a previous kill left behind and nobody looked at since is
	// not counted twice).
	inFlight := map[string]int{}
	seen := map[string]string{}
	// lost are deliveries a kill found with their ids in status only: the journal writes them
	// shortly after the status, and nobody writes a finished message again.
	lost := map[string]bool{}
	mgr := s.manager("manager-0")
	began := time.Now()
	for k, threshold := range thresholds {
		s.g.Eventually(func() int { return len(s.env.Emulator.Activities()) }).
			WithTimeout(3*time.Minute).WithPolling(10*time.Millisecond).
			Should(BeNumerically(">=", threshold), "kill %d", k+1)
		mgr.Kill()
		held := len(s.env.Emulator.Activities())
		var open []string
		marked, unsaved := s.afterKill()
		for _, n := range unsaved {
			lost[n] = true
		}
		for n, marker := range marked {
			if seen[n] != marker {
				seen[n] = marker
				inFlight[n]++
				open = append(open, n)
			}
		}
		slices.Sort(open)
		t.Logf("kill %d at %s: Teams holds %d messages; %d sends in flight: %v; %d deliveries with ids in status only: %v",
			k+1, time.Since(began).Round(time.Millisecond), held, len(open), open, len(unsaved), unsaved)
		s.g.Expect(len(open)).To(BeNumerically("<=", workers), "no more sends in flight than workers")
		mgr = s.manager(fmt.Sprintf("manager-%d", k+1))
	}
	s.g.Expect(inFlight).NotTo(BeEmpty(), "at least one kill landed while a send was in flight")

	msgs := s.settled(names, 4*time.Minute)
	recs := s.sendRecords(msgs, lost)
	t.Logf("all %d messages finished %s after the first manager started", total, time.Since(began).Round(time.Millisecond))
	unknown, duplicates := 0, 0
	for _, target := range targets {
		tm := s.teams(chats[target])
		var sent []string
		for _, n := range names {
			m := msgs[n]
			if m.Spec.TargetRef.Name != target {
				continue
			}
			sent = append(sent, n)
			copies := tm.copies[n]
			switch {
			case inFlight[n] == 0:
				// Never in flight at a kill: delivered, exactly once.
				expectDeliveredOrLost(s.g, m, recs[n], tm, lost[n])
				s.g.Expect(copies).To(Equal(1), "%s: delivered exactly once", n)
			case m.Spec.DeliveryGuarantee == teamsv1alpha1.AtMostOnce:
				// Uncertain: reported Unknown, never sent again.
				expectUnknown(s.g, m, recs[n], tm)
				unknown++
			default:
				// AtLeastOnce sends again after each kill that found it in flight.
				expectDeliveredOrLost(s.g, m, recs[n], tm, lost[n])
				s.g.Expect(copies).To(BeNumerically("<=", 1+inFlight[n]), "%s: one resend per uncertain send at most", n)
				duplicates += copies - 1
			}
		}
		// Per conversation, messages first reach Teams in creation order.
		arrived := tm.firstArrivals()
		s.g.Expect(arrived).To(Equal(slices.DeleteFunc(sent, func(n string) bool { return tm.copies[n] == 0 })),
			"%s: creation order", target)
	}
	t.Logf("in flight at a kill: %d; Unknown: %d; duplicates (AtLeastOnce): %d; ids in status only at a kill: %d",
		len(inFlight), unknown, duplicates, len(lost))
	s.expectNoSecrets(msgs)
}

// afterKill returns, once the API server has settled, the sends a dead manager left in flight:
// messages with a send-attempt marker and no activity id (in annotations, the send journal or
// status), with their marker; and the deliveries whose ids only status holds (the journal writes
// them just after the status: a crash in between loses that copy, not the delivery). A write
// the manager made just before it died can still be landing, so it waits for two equal readings.
func (s *suite) afterKill() (marked map[string]string, unsaved []string) {
	type reading struct {
		marked  map[string]string
		unsaved []string
	}
	var last *reading
	read := func(g Gomega) *reading {
		r := &reading{marked: map[string]string{}}
		journal, _ := s.sendJournal(g)
		for n, m := range s.messages(g) {
			rec := recordOf(m, journal)
			switch {
			case rec.result || m.Status.Phase == teamsv1alpha1.PhaseUnknown:
			case m.Status.ActivityID != "":
				r.unsaved = append(r.unsaved, n)
			case rec.marker != "":
				r.marked[n] = rec.marker
			}
		}
		slices.Sort(r.unsaved)
		return r
	}
	s.g.Eventually(func(g Gomega) {
		cur := read(g)
		stable := last != nil && maps.Equal(cur.marked, last.marked) && slices.Equal(cur.unsaved, last.unsaved)
		last = cur
		g.Expect(stable).To(BeTrue())
	}).WithTimeout(30 * time.Second).WithPolling(300 * time.Millisecond).Should(Succeed())
	return last.marked, last.unsaved
}
