// Package ledger owns the send-attempt protocol of a send that Teams cannot deduplicate (a
// Connector POST that creates an activity has no idempotency key):
//
//  1. Observe what the last attempt left: nothing, a delivery (its ids), or a marker without
//     ids (the attempt's outcome is unknown), and when a refused attempt may go again.
//  2. Begin persists the send-attempt marker before the POST, with an optimistic lock, so a
//     crash after the POST always leaves evidence that it may have happened.
//  3. Record turns the POST's answer into a decision: delivered (the ids go to annotations,
//     which survive backup and restore), unknown, or refused.
//  4. Persisted learns whether the reconcile's writes landed: a delivery not yet written is
//     kept in memory, so an API server that is away does not turn it into an unknown outcome.
//
// What an unknown outcome means depends on the guarantee: AtMostOnce never sends it again
// (the message is Unknown), AtLeastOnce sends again (it may then be in Teams twice).
// docs/reliability.md describes what each crash point leaves under each guarantee.
//
// A ledger is one send of one object, named by Keys and the object's UID. A broadcast could keep
// one ledger per batch of recipients, with keys of its own per batch.
package ledger

import (
	"context"
	"errors"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// Keys are the annotations one ledger keeps its state in.
type Keys struct {
	Attempt, ActivityID, ConversationID string
}

// MessageKeys are a ProactiveMessage's.
var MessageKeys = Keys{
	Attempt:        teamsv1alpha1.SendAttemptAnnotation,
	ActivityID:     teamsv1alpha1.ActivityIDAnnotation,
	ConversationID: teamsv1alpha1.ConversationIDAnnotation,
}

// Delivery is a send Teams accepted.
type Delivery struct {
	Marker         string
	ConversationID string
	ActivityID     string
	// NoID: Teams accepted the send but returned no activity id.
	NoID bool
}

// State is what Observe found.
type State int

const (
	// Ready: nothing is in flight; a send may go now.
	Ready State = iota
	// Delivered: the last attempt was delivered (Delivery has the ids).
	Delivered
	// Unknown: the last attempt's outcome is unknown and the guarantee is AtMostOnce: never
	// send again.
	Unknown
	// Waiting: a refused attempt's wait has not passed (Until says how long).
	Waiting
)

// Observation is what the last attempt left.
type Observation struct {
	State    State
	Delivery Delivery
	// Until is how long Waiting lasts.
	Until time.Duration
	// Resent is set when an unknown outcome under AtLeastOnce was cleared to send again.
	Resent bool
}

// Ledger is one object's send protocol during one reconcile.
type Ledger struct {
	obj       client.Object
	keys      Keys
	guarantee teamsv1alpha1.DeliveryGuarantee
	mem       *Memory
	uid       types.UID

	sent    *Delivery
	retryAt time.Time
}

// Open starts the ledger of obj for this reconcile.
func (m *Memory) Open(obj client.Object, keys Keys, guarantee teamsv1alpha1.DeliveryGuarantee) *Ledger {
	return &Ledger{obj: obj, keys: keys, guarantee: guarantee, mem: m, uid: obj.GetUID()}
}

// Observe reads what the last attempt left, from the annotations and from this process's
// memory. An unknown outcome under AtLeastOnce clears the marker: the send goes again.
func (l *Ledger) Observe() Observation {
	ann := l.obj.GetAnnotations()
	marker, attempted := ann[l.keys.Attempt]
	if attempted {
		if activityID, ok := ann[l.keys.ActivityID]; ok {
			return Observation{State: Delivered, Delivery: Delivery{Marker: marker,
				ConversationID: ann[l.keys.ConversationID], ActivityID: activityID, NoID: activityID == ""}}
		}
		if d, ok := l.mem.unsaved.get(l.uid); ok && d.Marker == marker {
			l.RecordDelivery(d) // the ids the last write could not store
			return Observation{State: Delivered, Delivery: d}
		}
		if l.guarantee != teamsv1alpha1.AtLeastOnce {
			return Observation{State: Unknown}
		}
		l.clearMarker()
		return Observation{State: Ready, Resent: true}
	}
	if at, ok := l.mem.retries.get(l.uid); ok {
		if wait := time.Until(at); wait > 0 {
			return Observation{State: Waiting, Until: wait}
		}
		l.mem.retries.forget(l.uid)
	}
	return Observation{State: Ready}
}

// Begin persists the send-attempt marker with persist, which must fail on a concurrent change
// (an optimistic lock: a reconcile working from an outdated object must not send). When the
// write fails, the marker is taken back, so no later write persists it without a send.
func (l *Ledger) Begin(ctx context.Context, persist func(context.Context) error) (string, error) {
	before := l.obj.GetAnnotations()
	marker := time.Now().UTC().Format(time.RFC3339Nano)
	l.annotate(func(ann map[string]string) { ann[l.keys.Attempt] = marker })
	if err := persist(ctx); err != nil {
		l.obj.SetAnnotations(before)
		return "", err
	}
	return marker, nil
}

// Decision is what an attempt's answer means.
type Decision int

const (
	// Sent: Teams accepted the send; the ids are in the annotations.
	Sent Decision = iota
	// Unsure: the outcome is unknown and the guarantee is AtMostOnce; the marker stays.
	Unsure
	// Again: the outcome is unknown and the guarantee is AtLeastOnce; the marker goes.
	Again
	// Refused: Teams refused the send; the marker goes. The caller decides between
	// retrying (RetryAt) and failing, with the failure vocabulary.
	Refused
)

// Record decides what the answer to the POST means and records a delivery's ids.
func (l *Ledger) Record(conversationID, activityID string, err error) Decision {
	if err == nil || errors.Is(err, botframework.ErrNoActivityID) {
		d := Delivery{Marker: l.obj.GetAnnotations()[l.keys.Attempt], ConversationID: conversationID,
			ActivityID: activityID, NoID: err != nil}
		l.RecordDelivery(d)
		return Sent
	}
	if !MayHaveLanded(err) {
		l.clearMarker()
		return Refused
	}
	if l.guarantee == teamsv1alpha1.AtLeastOnce {
		l.clearMarker()
		return Again
	}
	return Unsure
}

// RecordDelivery writes a delivery's ids into the annotations (they survive backup and
// restore, status does not). The marker stays: with the activity id it reads "done".
func (l *Ledger) RecordDelivery(d Delivery) {
	l.annotate(func(ann map[string]string) {
		ann[l.keys.ActivityID] = d.ActivityID
		ann[l.keys.ConversationID] = d.ConversationID
	})
	l.sent = &d
}

// MayHaveLanded reports an answer after which Teams may hold the message: the request was
// written and no answer came, or a gateway answered 502 or 504, which can come after Teams
// stored the message (the gateway gave up waiting, or lost the answer). Teams' advice to retry
// these (the status table of https://learn.microsoft.com/en-us/microsoftteams/platform/bots/build-conversational-capability#status-codes-from-bot-conversational-apis,
// and https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit) suits
// at-least-once senders only.
func MayHaveLanded(err error) bool {
	switch msapi.Classify(err).Reason {
	case msapi.ReasonOutcomeUnknown, msapi.ReasonBadGateway, msapi.ReasonGatewayTimeout:
		return true
	}
	return msapi.IsOutcomeUnknown(err)
}

// RetryAt remembers when a refused or resent attempt may go again, so a reconcile that
// something else starts during the wait does not send early.
func (l *Ledger) RetryAt(at time.Time) { l.retryAt = at }

// Persisted learns whether the reconcile's writes landed (nil) or not. A delivery whose ids
// could not be written is kept in memory until a later write succeeds; it lives in this
// process only, so a crash still leaves the outcome unknown, as documented.
func (l *Ledger) Persisted(writeErr error) {
	switch {
	case writeErr == nil:
		l.mem.unsaved.forget(l.uid)
	case l.sent != nil:
		l.mem.unsaved.set(l.uid, *l.sent)
	}
	if !l.retryAt.IsZero() {
		l.mem.retries.set(l.uid, l.retryAt)
	}
}

func (l *Ledger) clearMarker() {
	l.annotate(func(ann map[string]string) { delete(ann, l.keys.Attempt) })
}

// annotate changes a copy of the annotations: a patcher's snapshot must not share the map.
func (l *Ledger) annotate(change func(map[string]string)) {
	ann := maps.Clone(l.obj.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	change(ann)
	l.obj.SetAnnotations(ann)
}
