package controller

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// The send journal's entries (and, for messages sent by older versions, the activity-id and
// conversation-id annotations) survive backup and restore, where status does not, so the
// operator trusts them when status has no ids. But anyone who may edit a ProactiveMessage or a
// ConfigMap of its namespace may write them, and the ids of any message of a shared bot are in
// its "copy link to message": trusted as they are, they let a namespace edit or delete other
// namespaces' messages. So the operator writes, next to them, an HMAC of the ids bound to this
// object (namespace, name, target), with a key only the manager has, and trusts restored ids
// only when the proof matches. Restore keeps namespace, name and target, so a restored object
// proves its ids; a copy in another object or namespace, or ids typed by hand, do not.

// deliveryProof signs and checks the ids recorded for a message.
type deliveryProof struct {
	once sync.Once
	key  []byte
}

// newDeliveryProof uses key; without one, a random key for this process: restored objects
// are then trusted only until the manager restarts (--annotation-key-file keeps it).
func newDeliveryProof(key []byte) *deliveryProof {
	return &deliveryProof{key: key}
}

func (p *deliveryProof) mac(msg *teamsv1alpha1.ProactiveMessage, conversationID, activityID string) []byte {
	p.once.Do(func() {
		if len(p.key) == 0 {
			p.key = make([]byte, 32)
			_, _ = rand.Read(p.key) // crypto/rand.Read never fails (Go 1.24+)
		}
	})
	h := hmac.New(sha256.New, p.key)
	for _, part := range []string{"teams-operator/delivery/v1", msg.Namespace, msg.Name, msg.Spec.TargetRef.Name, conversationID, activityID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// sign is the DeliveryProofAnnotation value for these ids on msg.
func (p *deliveryProof) sign(msg *teamsv1alpha1.ProactiveMessage, conversationID, activityID string) string {
	return base64.RawURLEncoding.EncodeToString(p.mac(msg, conversationID, activityID))
}

// verify reports whether proof was made by this operator for these ids on this object.
func (p *deliveryProof) verify(msg *teamsv1alpha1.ProactiveMessage, conversationID, activityID, proof string) bool {
	got, err := base64.RawURLEncoding.DecodeString(proof)
	return err == nil && hmac.Equal(got, p.mac(msg, conversationID, activityID))
}

// provenIDs returns the ids in msg's annotations if the operator recorded them for msg.
func (p *deliveryProof) provenIDs(msg *teamsv1alpha1.ProactiveMessage) (conversationID, activityID string, ok bool) {
	ann := msg.GetAnnotations()
	conversationID, activityID = ann[teamsv1alpha1.ConversationIDAnnotation], ann[teamsv1alpha1.ActivityIDAnnotation]
	return conversationID, activityID, p.verify(msg, conversationID, activityID, ann[teamsv1alpha1.DeliveryProofAnnotation])
}

// untrustedIDsMessage says why restored ids were ignored and what to do.
const untrustedIDsMessage = "The annotations " + teamsv1alpha1.ActivityIDAnnotation + " and " +
	teamsv1alpha1.ConversationIDAnnotation + " were not recorded by the operator for this object (no valid " +
	teamsv1alpha1.DeliveryProofAnnotation + "), so the operator does not edit or delete that Teams message; remove " +
	"the annotations (and " + teamsv1alpha1.SendAttemptAnnotation + ") to send this message as a new one"

// checkRestoredIDs fails a message whose annotations say delivered (what the ledger would
// take over) without the operator's proof for this object: they may be anyone's message.
func (s *messageScope) checkRestoredIDs(ctx context.Context) error {
	ann := s.msg.GetAnnotations()
	_, attempted := ann[teamsv1alpha1.SendAttemptAnnotation]
	_, hasID := ann[teamsv1alpha1.ActivityIDAnnotation]
	if !attempted || !hasID {
		return nil
	}
	if _, _, proven := s.proof.provenIDs(s.msg); proven {
		return nil
	}
	ctrl.LoggerFrom(ctx).Info("Ignoring activity and conversation ids without a valid delivery proof")
	return s.fail(teamsv1alpha1.UntrustedAnnotationsReason, untrustedIDsMessage)
}

// SignDeliveryProof is the DeliveryProofAnnotation value a manager started with key
// (--annotation-key-file, trimmed) records for these ids on msg. The scale benchmark restores
// delivered messages with it, as a backup brings them back.
func SignDeliveryProof(key []byte, msg *teamsv1alpha1.ProactiveMessage, conversationID, activityID string) string {
	return newDeliveryProof(key).sign(msg, conversationID, activityID)
}
