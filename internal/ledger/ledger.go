// Package ledger owns the send-attempt protocol of a send that Teams cannot deduplicate (a
// Connector POST that creates an activity has no idempotency key):
//
//  1. Observe what the last attempt left: nothing, a delivery (its ids), or a marker without
//     ids (the attempt's outcome is unknown), and when a refused attempt may go again.
//  2. Begin writes the send-attempt marker to the namespace's send journal (journal.go) before
//     the POST, so a crash after the POST always leaves evidence that it may have happened.
//  3. Record turns the POST's answer into a decision: delivered (the ids go to the journal,
//     which a backup of the namespace carries, where status does not survive most restores),
//     unknown, or refused.
//
// Messages sent by older versions kept the marker and ids in annotations: Observe reads those
// first, so they keep working unchanged.
//
// What an unknown outcome means depends on the guarantee: AtMostOnce never sends it again
// (the message is Unknown), AtLeastOnce sends again (it may then be in Teams twice).
// docs/reliability.md describes what each crash point leaves under each guarantee.
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
	// Ignored is set when the journal held ids without a valid proof for this object.
	Ignored bool
}

// Book is where a ledger keeps its marker and ids: the namespace's send journal (Journal).
type Book interface {
	Get(ctx context.Context, ns, name string) (Entry, bool, error)
	Refresh(ctx context.Context, ns string) error
	Put(ctx context.Context, ns, name string, e Entry) error
	Clear(ctx context.Context, ns, name string) error
	PutLater(ns, name string, e Entry)
	DeleteLater(ns, name string)
}

// Proof signs and checks a delivery's ids for the ledger's object (the controller's delivery
// proof, bound to its namespace, name and target with a key only the manager has): ids in the
// journal are trusted only with it, as anyone who may write ConfigMaps in the namespace may
// write them.
type Proof interface {
	Sign(conversationID, activityID string) string
	Verify(conversationID, activityID, proof string) bool
}

// Options are what a ledger needs besides the object.
type Options struct {
	Guarantee teamsv1alpha1.DeliveryGuarantee
	Book      Book
	Proof     Proof
	// Target is recorded with the marker (the message's ConversationTarget).
	Target string
	// MayBeRestored: the object never had an attempt (as after a restore, which brings no
	// status). Before it is sent for want of an entry, the journal checks that its copy is
	// current: the restore may have brought the entry back.
	MayBeRestored bool
	// Confirm, when set, runs before the journal's entry decides anything (a delivery, an
	// unknown outcome): it fails when the object read is not the latest, whose status may
	// already say so (a cache that has not seen the last status write).
	Confirm func(context.Context) error
}

// Ledger is one object's send protocol during one reconcile.
type Ledger struct {
	obj  client.Object
	keys Keys
	opts Options
	mem  *Memory
	uid  types.UID

	marker  string
	retryAt time.Time
}

// Open starts the ledger of obj for this reconcile. New sends go to the journal; the
// annotations of sends made by an older version are read, and only their marker is ever
// removed (AtLeastOnce).
func (m *Memory) Open(obj client.Object, keys Keys, opts Options) *Ledger {
	return &Ledger{obj: obj, keys: keys, opts: opts, mem: m, uid: obj.GetUID()}
}

// Observe reads what the last attempt left: first the annotations (messages an older version
// sent), then the namespace's journal, then this process's memory. An unknown outcome under
// AtLeastOnce clears the marker: the send goes again.
func (l *Ledger) Observe(ctx context.Context) (Observation, error) {
	if obs, ok := l.observeAnnotations(); ok {
		return obs, nil
	}
	e, found, err := l.opts.Book.Get(ctx, l.obj.GetNamespace(), l.obj.GetName())
	if err != nil {
		return Observation{}, err
	}
	if found {
		if obs, ok, err := l.observeEntry(ctx, e); ok || err != nil {
			return obs, err
		}
	}
	if l.opts.MayBeRestored {
		if e, found, err = l.refreshed(ctx); err != nil {
			return Observation{}, err
		}
		if found {
			if obs, ok, err := l.observeEntry(ctx, e); ok || err != nil {
				return obs, err
			}
		}
	}
	if at, ok := l.mem.retries.get(l.uid); ok {
		if wait := time.Until(at); wait > 0 {
			return Observation{State: Waiting, Until: wait}, nil
		}
		l.mem.retries.forget(l.uid)
	}
	return Observation{State: Ready, Ignored: found && e.HasIDs() && !l.proven(e)}, nil
}

// observeAnnotations reads a send an older version recorded in annotations.
func (l *Ledger) observeAnnotations() (Observation, bool) {
	ann := l.obj.GetAnnotations()
	marker, attempted := ann[l.keys.Attempt]
	if !attempted {
		return Observation{}, false
	}
	if activityID, ok := ann[l.keys.ActivityID]; ok {
		return Observation{State: Delivered, Delivery: Delivery{Marker: marker,
			ConversationID: ann[l.keys.ConversationID], ActivityID: activityID, NoID: activityID == ""}}, true
	}
	if l.opts.Guarantee != teamsv1alpha1.AtLeastOnce {
		return Observation{State: Unknown}, true
	}
	// Removed with the reconcile's write (a copy: a patcher's snapshot must not share the map).
	ann = maps.Clone(ann)
	delete(ann, l.keys.Attempt)
	l.obj.SetAnnotations(ann)
	return Observation{State: Ready, Resent: true}, true
}

// observeEntry reads the journal's entry. Ids count with a valid proof only, whatever the UID
// (a restore gives new UIDs; the proof binds the ids to namespace, name and target, which a
// restore keeps); a marker counts for its own object only (another UID's marker is a message
// deleted and created again: the new one is sent). ok is false when the entry does not decide.
func (l *Ledger) observeEntry(ctx context.Context, e Entry) (Observation, bool, error) {
	delivered := e.HasIDs()
	switch {
	case delivered && !l.proven(e), !delivered && (e.UID != l.uid || e.Marker == ""):
		return Observation{}, false, nil
	case l.opts.Confirm != nil:
		if err := l.opts.Confirm(ctx); err != nil {
			return Observation{}, false, err
		}
	}
	if delivered {
		return Observation{State: Delivered, Delivery: Delivery{Marker: e.Marker,
			ConversationID: e.ConversationID, ActivityID: e.ActivityID, NoID: e.NoID}}, true, nil
	}
	if l.opts.Guarantee != teamsv1alpha1.AtLeastOnce {
		return Observation{State: Unknown}, true, nil
	}
	if err := l.clear(ctx); err != nil {
		return Observation{}, false, err
	}
	return Observation{State: Ready, Resent: true}, true, nil
}

// refreshed reads the entry again after the journal made sure its copy is current.
func (l *Ledger) refreshed(ctx context.Context) (Entry, bool, error) {
	if err := l.opts.Book.Refresh(ctx, l.obj.GetNamespace()); err != nil {
		return Entry{}, false, err
	}
	return l.opts.Book.Get(ctx, l.obj.GetNamespace(), l.obj.GetName())
}

func (l *Ledger) proven(e Entry) bool {
	return l.opts.Proof != nil && l.opts.Proof.Verify(e.ConversationID, e.ActivityID, e.Proof)
}

// Delivered returns the journal's proven delivery of this object, if any: the ids a delete
// uses when status has none.
func (l *Ledger) Delivered(ctx context.Context) (Delivery, bool, error) {
	e, found, err := l.opts.Book.Get(ctx, l.obj.GetNamespace(), l.obj.GetName())
	if err != nil || !found || !e.HasIDs() || !l.proven(e) {
		return Delivery{}, false, err
	}
	return Delivery{Marker: e.Marker, ConversationID: e.ConversationID, ActivityID: e.ActivityID, NoID: e.NoID}, true, nil
}

// Begin writes the send-attempt marker to the journal and returns once it is written (with
// the other sends of the namespace that came meanwhile), so a crash after the POST always
// leaves evidence that it may have happened. On an error nothing may be sent.
func (l *Ledger) Begin(ctx context.Context) (string, error) {
	marker := time.Now().UTC().Format(time.RFC3339Nano)
	e := Entry{UID: l.uid, Target: l.opts.Target, Marker: marker}
	if err := l.opts.Book.Put(ctx, l.obj.GetNamespace(), l.obj.GetName(), e); err != nil {
		return "", err
	}
	l.marker = marker
	return marker, nil
}

// Decision is what an attempt's answer means.
type Decision int

const (
	// Sent: Teams accepted the send; the ids go to the journal.
	Sent Decision = iota
	// Unsure: the outcome is unknown and the guarantee is AtMostOnce; the marker stays.
	Unsure
	// Again: the outcome is unknown and the guarantee is AtLeastOnce; the marker goes.
	Again
	// Refused: Teams refused the send; the marker goes. The caller decides between
	// retrying (RetryAt) and failing, with the failure vocabulary.
	Refused
)

// Record decides what the answer to the POST means. A delivery's ids go to the journal with
// the next group (status holds them too); a marker that no longer stands is removed before
// Record returns, or a crash would turn a refusal into an unknown outcome. The error is a
// removal the API server did not take: the caller must not say "sending again" then.
func (l *Ledger) Record(ctx context.Context, conversationID, activityID string, err error) (Decision, error) {
	if err == nil || errors.Is(err, botframework.ErrNoActivityID) {
		e := Entry{UID: l.uid, Target: l.opts.Target, Marker: l.marker, ConversationID: conversationID,
			ActivityID: activityID, NoID: err != nil}
		if l.opts.Proof != nil {
			e.Proof = l.opts.Proof.Sign(conversationID, activityID)
		}
		l.opts.Book.PutLater(l.obj.GetNamespace(), l.obj.GetName(), e)
		return Sent, nil
	}
	if !MayHaveLanded(err) {
		return Refused, l.clear(ctx)
	}
	if l.opts.Guarantee == teamsv1alpha1.AtLeastOnce {
		return Again, l.clear(ctx)
	}
	return Unsure, nil
}

// clear removes the marker from the journal. When the write fails, this process forgets the
// marker anyway and writes its removal later: it knows no send stands behind it.
func (l *Ledger) clear(ctx context.Context) error {
	ns, name := l.obj.GetNamespace(), l.obj.GetName()
	if err := l.opts.Book.Clear(ctx, ns, name); err != nil {
		l.opts.Book.DeleteLater(ns, name)
		return err
	}
	return nil
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

// Persisted learns whether the reconcile's status write landed; the wait of a refused attempt
// is remembered either way (it lives in this process only).
func (l *Ledger) Persisted(error) {
	if !l.retryAt.IsZero() {
		l.mem.retries.set(l.uid, l.retryAt)
	}
}
