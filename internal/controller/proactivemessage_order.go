package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

// Messages to one conversation are delivered in creation order, one at a time: a message
// waits while an older one to the same target still has to go (creationTimestamp, then name,
// since timestamps have a one-second resolution). Replies go to their thread and are not
// queued; scheduled messages whose time has not come, invalid ones and finished ones do not
// hold the line. When a message leaves the line, the watch wakes the next one in line, so
// nothing polls.

const (
	// messageTargetIndex indexes ProactiveMessages by the ConversationTarget they go to.
	messageTargetIndex = ".spec.targetRef.name"
	// messageReplyToIndex indexes ProactiveMessages by the message they reply to.
	messageReplyToIndex = ".spec.replyTo.name"
)

func messageIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &teamsv1alpha1.ProactiveMessage{}, messageTargetIndex, func(o client.Object) []string {
		return []string{o.(*teamsv1alpha1.ProactiveMessage).Spec.TargetRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing ProactiveMessages by target: %w", err)
	}
	if err := indexer.IndexField(ctx, &teamsv1alpha1.ProactiveMessage{}, messageReplyToIndex, func(o client.Object) []string {
		if ref := o.(*teamsv1alpha1.ProactiveMessage).Spec.ReplyTo; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing ProactiveMessages by replyTo: %w", err)
	}
	return nil
}

// messageFinished reports a message that needs no more sending: delivered or expired, or
// failed or unknown for its current generation (a spec change tries again).
func messageFinished(m *teamsv1alpha1.ProactiveMessage) bool {
	switch m.Status.Phase {
	case teamsv1alpha1.PhaseDelivered, teamsv1alpha1.PhaseExpired, teamsv1alpha1.PhaseOptedOut:
		return true
	case teamsv1alpha1.PhaseFailed, teamsv1alpha1.PhaseUnknown:
		return m.Status.ObservedGeneration == m.Generation
	}
	return false
}

// messagePhaseFinal reports the phases a message ends in.
func messagePhaseFinal(p teamsv1alpha1.Phase) bool {
	switch p {
	case teamsv1alpha1.PhaseDelivered, teamsv1alpha1.PhaseExpired, teamsv1alpha1.PhaseFailed, teamsv1alpha1.PhaseUnknown,
		teamsv1alpha1.PhaseOptedOut:
		return true
	}
	return false
}

// holdsLine reports whether m is in the queue of its conversation at time now.
func holdsLine(m *teamsv1alpha1.ProactiveMessage, now time.Time) bool {
	spec := &m.Spec
	return m.DeletionTimestamp.IsZero() && spec.ReplyTo == nil && !messageFinished(m) &&
		(spec.SendAt == nil || !now.Before(spec.SendAt.Time)) &&
		(spec.ExpiresAt == nil || now.Before(spec.ExpiresAt.Time)) &&
		delivery.Validate(spec) == nil
}

// olderMessage orders messages by creation: creationTimestamp, then name.
func olderMessage(a, b *teamsv1alpha1.ProactiveMessage) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// queue lists the messages in line for target, oldest first.
func (r *ProactiveMessageReconciler) queue(ctx context.Context, namespace, target string) ([]*teamsv1alpha1.ProactiveMessage, error) {
	list := &teamsv1alpha1.ProactiveMessageList{}
	// The cache's own objects, not copies: a target's queue may hold many large messages, and a
	// deep copy of all of them on every reconcile let one namespace exhaust the manager's
	// memory. Nothing here writes to them.
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{messageTargetIndex: target},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing messages to ConversationTarget %s: %w", target, err)
	}
	now := time.Now()
	var line []*teamsv1alpha1.ProactiveMessage
	for i := range list.Items {
		if m := &list.Items[i]; holdsLine(m, now) {
			line = append(line, m)
		}
	}
	slices.SortFunc(line, func(a, b *teamsv1alpha1.ProactiveMessage) int {
		switch {
		case olderMessage(a, b):
			return -1
		case olderMessage(b, a):
			return 1
		}
		return 0
	})
	return line, nil
}

// waitForTurn holds the message while an older one to the same conversation has to go first.
func (r *ProactiveMessageReconciler) waitForTurn(ctx context.Context, s *messageScope) error {
	if s.msg.Spec.ReplyTo != nil {
		return nil
	}
	line, err := r.queue(ctx, s.msg.Namespace, s.msg.Spec.TargetRef.Name)
	if err != nil {
		return err
	}
	for _, m := range line {
		if m.Name != s.msg.Name && olderMessage(m, s.msg) {
			return s.wait(teamsv1alpha1.QueuedReason, fmt.Sprintf(
				"Waiting for ProactiveMessage %q, an older message to the same target, to be sent first", m.Name))
		}
	}
	return nil
}

// messageEvents wakes the messages that waited for another one: the next in line when a
// message leaves the line, and the replies when a message's phase changes (delivered,
// scheduled, or ended).
func (r *ProactiveMessageReconciler) messageEvents() handler.EventHandler {
	return handler.Funcs{
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			before, okOld := e.ObjectOld.(*teamsv1alpha1.ProactiveMessage)
			after, okNew := e.ObjectNew.(*teamsv1alpha1.ProactiveMessage)
			if !okOld || !okNew {
				return
			}
			now := time.Now()
			if holdsLine(before, now) && !holdsLine(after, now) {
				r.enqueueNext(ctx, after, q)
			}
			// Any phase change: a reply to a message that became Scheduled is Scheduled too.
			if before.Status.Phase != after.Status.Phase {
				r.enqueueReplies(ctx, after, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if m, ok := e.Object.(*teamsv1alpha1.ProactiveMessage); ok {
				r.enqueueNext(ctx, m, q)
				r.enqueueReplies(ctx, m, q)
			}
		},
	}
}

func (r *ProactiveMessageReconciler) enqueueNext(ctx context.Context, m *teamsv1alpha1.ProactiveMessage,
	q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	line, err := r.queue(ctx, m.Namespace, m.Spec.TargetRef.Name)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing messages to wake the next in line")
		return
	}
	for _, next := range line {
		if next.Name != m.Name {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(next)})
			return
		}
	}
}

func (r *ProactiveMessageReconciler) enqueueReplies(ctx context.Context, m *teamsv1alpha1.ProactiveMessage,
	q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	list := &teamsv1alpha1.ProactiveMessageList{}
	if err := r.List(ctx, list, client.InNamespace(m.Namespace), client.MatchingFields{messageReplyToIndex: m.Name},
		client.UnsafeDisableDeepCopy); err != nil { // read only, as in queue
		ctrl.LoggerFrom(ctx).Error(err, "Listing replies to wake")
		return
	}
	for i := range list.Items {
		if !messageFinished(&list.Items[i]) {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
}

// messagesOfTarget wakes the unfinished messages to a ConversationTarget that changed (it
// may have become Ready). Only the first in line sends; the others see their turn and wait.
func (r *ProactiveMessageReconciler) messagesOfTarget(ctx context.Context, target client.Object) []reconcile.Request {
	list := &teamsv1alpha1.ProactiveMessageList{}
	if err := r.List(ctx, list, client.InNamespace(target.GetNamespace()),
		client.MatchingFields{messageTargetIndex: target.GetName()}, client.UnsafeDisableDeepCopy); err != nil { // read only
		ctrl.LoggerFrom(ctx).Error(err, "Listing messages of a ConversationTarget")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if !messageFinished(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
