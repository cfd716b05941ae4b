package faults_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

const (
	restartTargets   = 10
	restartPerTarget = 10
)

// TestAPIServerRestart stops kube-apiserver in the middle of 100 sends and starts it again on
// the same etcd. The manager runs without leader election (as the chart's single replica may),
// so it rides the outage out instead of exiting. It keeps the results it could not write and
// writes them when the API server is back; a send-attempt marker whose write the API server applied
// but whose answer was lost is still an uncertain send: Unknown for AtMostOnce, sent again for
// AtLeastOnce. Since the manager keeps results, runs here show none of either.
func TestAPIServerRestart(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{Latency: 30 * time.Millisecond})
	chats := s.conversations("a", restartTargets)
	targets := slices.Sorted(maps.Keys(chats))
	var names []string
	var objs [][]client.Object
	for _, target := range targets {
		n, o := messageObjects(target, restartPerTarget, func(i int) teamsv1alpha1.DeliveryGuarantee {
			return []teamsv1alpha1.DeliveryGuarantee{teamsv1alpha1.AtMostOnce, teamsv1alpha1.AtLeastOnce}[i%2]
		})
		names, objs = append(names, n...), append(objs, o)
	}
	s.create(objs...)

	// Slow enough (10 sends a second) that the restart lands in the middle.
	mgr := s.manager("manager", "--max-send-rps", "10")
	began := time.Now()
	s.g.Eventually(func() int { return len(s.env.Emulator.Activities()) }).
		WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).Should(BeNumerically(">=", 30))
	held := len(s.env.Emulator.Activities())
	stopping := time.Now()
	s.g.Expect(s.env.StopAPIServer()).To(Succeed())
	stopped := time.Now()
	s.g.Expect(s.env.StartAPIServer()).To(Succeed())
	t.Logf("API server stopped at %s with %d messages in Teams; down for %s (stop took %s)",
		stopping.Sub(began).Round(time.Millisecond), held, time.Since(stopped).Round(time.Millisecond),
		stopped.Sub(stopping).Round(time.Millisecond))

	msgs := s.settled(names, 3*time.Minute)
	recs := s.sendRecords(msgs, nil)
	s.g.Expect(mgr.Exited()).To(BeFalse(), "the manager rode the outage out")
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
			if m.Status.Phase == teamsv1alpha1.PhaseUnknown {
				expectUnknown(s.g, m, recs[n], tm)
				unknown++
				continue
			}
			expectDelivered(s.g, m, recs[n], tm)
			if m.Spec.DeliveryGuarantee == teamsv1alpha1.AtMostOnce {
				s.g.Expect(tm.copies[n]).To(Equal(1), "%s: AtMostOnce never duplicates", n)
			}
			duplicates += tm.copies[n] - 1
		}
		s.g.Expect(tm.firstArrivals()).To(Equal(slices.DeleteFunc(sent, func(n string) bool { return tm.copies[n] == 0 })),
			"%s: creation order", target)
	}
	// Only sends in flight when the API server went away can be uncertain: one per worker at most.
	s.g.Expect(unknown + duplicates).To(BeNumerically("<=", workers))
	t.Logf("Unknown: %d; duplicates (AtLeastOnce): %d", unknown, duplicates)
	s.expectNoSecrets(msgs)
}
