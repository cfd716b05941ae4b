package faults_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

const (
	// tokenOutage is how long the Entra token endpoint answers 503.
	tokenOutage = time.Minute
	// tokenLifetime is short, so the bot token the manager holds when the outage begins needs
	// renewing during it (the manager renews at half life).
	tokenLifetime = 20 * time.Second
	tokenTargets  = 3
	tokenPerBatch = 4
)

// TestTokenOutage takes the token endpoint down for a minute while messages are created. The
// manager cannot renew its bot token, says so in the messages' conditions (without a secret) and
// retries with backoff; once the endpoint is back, every message is delivered exactly once.
func TestTokenOutage(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{TokenLifetime: tokenLifetime})
	chats := s.conversations("t", tokenTargets)
	targets := slices.Sorted(maps.Keys(chats))
	s.manager("manager")
	// One message per conversation before the outage: the manager holds a bot token.
	batch := func(prefix string, sendAt *metav1.Time) []string {
		var names []string
		var objs [][]client.Object
		for _, target := range targets {
			n, o := messageObjects(target, tokenPerBatch, always(teamsv1alpha1.AtMostOnce))
			for i, obj := range o {
				n[i] = prefix + n[i]
				obj.SetName(n[i])
				obj.(*teamsv1alpha1.ProactiveMessage).Spec.Text = n[i]
				obj.(*teamsv1alpha1.ProactiveMessage).Spec.SendAt = sendAt
			}
			names, objs = append(names, n...), append(objs, o)
		}
		s.create(objs...)
		return names
	}
	warm := batch("a-", nil)
	s.settled(warm, 2*time.Minute)

	id := s.env.Emulator.AddFault(emulator.Fault{API: "entra", Operation: "token", Status: 503, Duration: tokenOutage})
	// The outage as the emulator keeps it, to compare with its journal's times.
	var outageStart, outageEnd time.Time
	for _, f := range s.env.Emulator.Faults() {
		if f.ID == id {
			outageEnd = *f.Expires
			outageStart = outageEnd.Add(-tokenOutage)
		}
	}
	s.g.Expect(outageEnd).NotTo(BeZero())
	// Due a token lifetime into the outage: by then the token the manager holds is due for
	// renewal (at half its life), so these cannot go with it.
	due := metav1.NewTime(outageStart.Add(tokenLifetime))
	during := batch("b-", &due)

	// The messages wait for a token, and say why.
	var why metav1.Condition
	s.g.Eventually(func(g Gomega) {
		for _, n := range during {
			m := s.messages(g)[n]
			if c := meta(m.Status.Conditions, teamsv1alpha1.ReadyCondition); strings.Contains(c.Message, "acquiring token") {
				why = c
				return
			}
		}
		g.Expect(why.Message).NotTo(BeEmpty(), "a message names the token problem")
	}).WithTimeout(tokenOutage - 5*time.Second).WithPolling(time.Second).Should(Succeed())
	t.Logf("%s into the outage: Ready=%s %s: %s", time.Since(outageStart).Round(time.Second), why.Status, why.Reason, why.Message)
	s.g.Expect(why.Status).To(Equal(metav1.ConditionFalse))
	s.g.Expect(why.Reason).To(Equal(teamsv1alpha1.ProgressingWithRetryReason))
	// Entra's own error for a 503: the OAuth code and its AADSTS number.
	s.g.Expect(why.Message).To(ContainSubstring("temporarily_unavailable"))
	s.g.Expect(time.Now()).To(BeTemporally("<", outageEnd), "the token problem showed during the outage")

	// Created while the manager has no usable token: sent only after the outage.
	late := batch("c-", nil)
	all := slices.Concat(warm, during, late)
	msgs := s.settled(all, tokenOutage+3*time.Minute)
	t.Logf("all delivered %s after the outage ended", time.Since(outageEnd).Round(time.Second))
	recs := s.sendRecords(msgs, nil)

	tokensDuring, failed := 0, 0
	for _, r := range s.env.Emulator.Requests() {
		if r.Operation != "token" || r.Time.Before(outageStart) || !r.Time.Before(outageEnd) {
			continue
		}
		tokensDuring++
		if r.Status == 503 {
			failed++
		}
	}
	s.g.Expect(tokensDuring).To(Equal(failed), "no token was issued during the outage")
	s.g.Expect(failed).To(BeNumerically(">", 0), "the manager asked for a token during the outage")
	t.Logf("%d token requests during the outage, all answered 503", failed)

	for _, target := range targets {
		tm := s.teams(chats[target])
		var order []string
		for _, n := range all {
			m := msgs[n]
			if m.Spec.TargetRef.Name != target {
				continue
			}
			order = append(order, n)
			expectDelivered(s.g, m, recs[n], tm)
			s.g.Expect(tm.copies[n]).To(Equal(1), "%s: delivered exactly once", n)
			if !strings.HasPrefix(n, "a-") {
				// deliveredAt has a one-second resolution.
				s.g.Expect(m.Status.DeliveredAt.Time).To(BeTemporally(">=", outageEnd.Truncate(time.Second)),
					"%s: due when the manager had no usable token, delivered after the outage", n)
			}
		}
		s.g.Expect(tm.order).To(Equal(order), "%s: creation order", target)
	}
	s.expectNoSecrets(msgs)
}
