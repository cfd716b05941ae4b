package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// clearRefusedBook is a send journal whose API server takes the marker but not its removal:
// the process forgets the marker (DeleteLater), as the real journal does.
type clearRefusedBook struct{ entries map[string]ledger.Entry }

func (b *clearRefusedBook) Get(_ context.Context, _, name string) (ledger.Entry, bool, error) {
	e, ok := b.entries[name]
	return e, ok, nil
}
func (b *clearRefusedBook) Refresh(context.Context, string) error { return nil }
func (b *clearRefusedBook) Put(_ context.Context, _, name string, e ledger.Entry) error {
	b.entries[name] = e
	return nil
}
func (b *clearRefusedBook) Clear(context.Context, string, string) error {
	return &ledger.JournalError{Namespace: "ns", ConfigMap: ledger.ShardName(0), Err: errors.New("API server away")}
}
func (b *clearRefusedBook) PutLater(_, name string, e ledger.Entry) { b.entries[name] = e }
func (b *clearRefusedBook) DeleteLater(_, name string)              { delete(b.entries, name) }

// TestRefusedSendKeepsItsWaitWhenTheMarkerStays: a send that Teams refused with a wait (a 429's
// Retry-After) or that goes again (AtLeastOnce after a 504) keeps that wait when the journal
// does not take the marker's removal: the next reconcile waits instead of sending at once.
func TestRefusedSendKeepsItsWaitWhenTheMarkerStays(t *testing.T) {
	tests := map[string]struct {
		guarantee teamsv1alpha1.DeliveryGuarantee
		answer    error
		atLeast   time.Duration
	}{
		"429 with Retry-After": {teamsv1alpha1.AtMostOnce, &msapi.APIError{API: msapi.APIBotFramework,
			Operation: "sendActivity", Status: 429, RetryAfter: 30 * time.Second, HasRetryAfter: true}, 25 * time.Second},
		"504 under AtLeastOnce": {teamsv1alpha1.AtLeastOnce, &msapi.APIError{API: msapi.APIBotFramework,
			Operation: "sendActivity", Status: 504, RetryAfter: 30 * time.Second, HasRetryAfter: true}, 25 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			var mem ledger.Memory
			book := &clearRefusedBook{entries: map[string]ledger.Entry{}}
			msg := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", UID: "u1"}}
			msg.Spec.DeliveryGuarantee = tc.guarantee
			open := func() *ledger.Ledger {
				return mem.Open(msg, ledger.MessageKeys, ledger.Options{Guarantee: tc.guarantee, Book: book})
			}
			s := &messageScope{msg: msg, ledger: open()}
			_, err := s.ledger.Begin(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			msg.Status.Attempts++

			err = (&ProactiveMessageReconciler{}).recordOutcome(ctx, s, "", "", tc.answer)
			o, ok := outcome.As(err)
			g.Expect(ok).To(BeTrue())
			g.Expect(o.Reason).To(Equal(teamsv1alpha1.SendJournalUnavailableReason))
			s.ledger.Persisted(nil) // the reconcile's status write

			obs, err := open().Observe(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(obs.State).To(Equal(ledger.Waiting), "the next reconcile must not send before the wait")
			g.Expect(obs.Until).To(BeNumerically(">", tc.atLeast))
		})
	}
}
