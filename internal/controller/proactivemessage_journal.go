package controller

import (
	"errors"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// journalFailure turns a journal the API server did not read or write into a condition that
// names the ConfigMap and the answer (no send went: the reconcile retries with backoff). Other
// errors pass as they are.
func journalFailure(err error) error {
	var je *ledger.JournalError
	if !errors.As(err, &je) {
		return err
	}
	return outcome.RetryErr(teamsv1alpha1.SendJournalUnavailableReason,
		"Not sent yet: "+je.Error()+"; retrying (docs/troubleshooting.md#sendjournalunavailable)", err)
}

// messageProof is the ledger's Proof of one message: the delivery proof bound to its
// namespace, name and target.
type messageProof struct {
	p   *deliveryProof
	msg *teamsv1alpha1.ProactiveMessage
}

func (m messageProof) Sign(conversationID, activityID string) string {
	return m.p.sign(m.msg, conversationID, activityID)
}

func (m messageProof) Verify(conversationID, activityID, proof string) bool {
	return m.p.verify(m.msg, conversationID, activityID, proof)
}
