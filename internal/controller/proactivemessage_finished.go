package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// reconcileFinished keeps a finished message in line with its spec: a delivered message is
// edited when its content changed (onUpdate: Edit), and any finished message is deleted
// ttlAfterFinished after it finished.
func (r *ProactiveMessageReconciler) reconcileFinished(ctx context.Context, s *messageScope) error {
	msg := s.msg
	if msg.Status.Phase == teamsv1alpha1.PhaseDelivered {
		if err := r.edit(ctx, s); err != nil {
			return err
		}
	}
	if msg.Status.Phase == teamsv1alpha1.PhaseExpired {
		if c := status.ReadyCondition(msg); c != nil {
			status.MarkStalled(msg, c.Reason, c.Message) // describes this generation too
		}
	}
	if msg.Status.Phase == teamsv1alpha1.PhaseOptedOut {
		if c := status.ReadyCondition(msg); c != nil {
			status.MarkReady(msg, c.Reason, c.Message) // final: describes this generation too
		}
	}
	return r.collect(ctx, s)
}

// edit updates the Teams message in place when the content changed since it was sent.
func (r *ProactiveMessageReconciler) edit(ctx context.Context, s *messageScope) error {
	msg := s.msg
	activity, err := delivery.BuildActivity(&msg.Spec)
	if err == nil {
		err = cardDropped(msg)
	}
	if err == nil {
		_, err = delivery.CheckSize(&msg.Spec)
	}
	if err == nil {
		err = delivery.Validate(&msg.Spec)
	}
	var cardErr error
	if err == nil {
		cardErr = cardcheck.Attachments(activity)
	}
	ready := status.ReadyCondition(msg)
	switch {
	case err != nil:
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, "The new content cannot be sent: "+err.Error())
	case cardErr != nil:
		return outcome.Stall(teamsv1alpha1.InvalidCardReason, "The new content cannot be sent: Teams would not "+
			"render the Adaptive Card at "+cardErr.Error())
	case delivery.Hash(activity) == msg.Status.ContentHash || msg.Spec.OnUpdate == teamsv1alpha1.OnUpdateIgnore:
		if ready != nil && ready.Status == metav1.ConditionTrue {
			status.MarkReady(msg, ready.Reason, ready.Message) // describes this generation too
		}
		return nil
	case msg.Status.ActivityID == "":
		status.MarkReady(msg, teamsv1alpha1.DeliveredReason, "Delivered, but Teams returned no activity id, so "+
			"the content change cannot be edited into the message")
		return nil
	}
	s.activity = activity
	if err := outcome.Run(ctx, s, r.resolveTarget, r.connect); err != nil {
		msg.Status.Phase = teamsv1alpha1.PhaseDelivered // waiting to edit: still delivered
		return err
	}
	log := ctrl.LoggerFrom(ctx).WithValues("conversationId", msg.Status.ConversationID, "activityId", msg.Status.ActivityID)
	log.Info("Editing message")
	_, err = s.clients.Bot.UpdateActivity(ctx, s.serviceURL, msg.Status.ConversationID, msg.Status.ActivityID,
		delivery.Addressed(activity, msg.Status.ConversationID, s.tenantID))
	if err != nil {
		return s.editFailed(ctx, err)
	}
	msg.Status.ContentHash = delivery.Hash(activity)
	msg.Status.LastError = ""
	status.MarkReady(msg, teamsv1alpha1.DeliveredReason, fmt.Sprintf(
		"Delivered to ConversationTarget %q and edited", msg.Spec.TargetRef.Name))
	r.Recorder.Eventf(msg, nil, corev1.EventTypeNormal, teamsv1alpha1.EditedReason, "Edit", "Edited the message in Teams")
	return nil
}

// editFailed follows the retry table for an edit; the message stays Delivered.
func (s *messageScope) editFailed(ctx context.Context, err error) error {
	s.msg.Status.LastError = err.Error()
	o, ok := outcome.As(microsoftFailure(ctx, err, 1, messageWords(s.msg.Spec.TargetRef.Name)))
	switch {
	case !ok:
		return err
	case o.Kind == outcome.Retry:
		return outcome.RetryIn(teamsv1alpha1.EditFailedReason, "Editing the message failed, retrying: "+o.Message, o.After)
	}
	return outcome.Stallf(teamsv1alpha1.EditFailedReason,
		"Editing the delivered message failed: %v. Teams still shows the earlier content", err)
}

// collect deletes a finished message ttlAfterFinished after it finished.
func (r *ProactiveMessageReconciler) collect(ctx context.Context, s *messageScope) error {
	ttl := s.msg.Spec.TTLAfterFinished
	if ttl == nil {
		return nil
	}
	if wait := time.Until(messageFinishedAt(s.msg).Add(ttl.Duration)); wait > 0 {
		return outcome.Requeue(wait)
	}
	ctrl.LoggerFrom(ctx).Info("Deleting finished message", "ttlAfterFinished", ttl.Duration.String())
	err := r.Delete(ctx, s.msg, client.Preconditions{UID: &s.msg.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the finished message: %w", err)
	}
	return nil
}

// messageFinishedAt is when the message was delivered, or else when its Ready (or Stalled)
// condition last changed.
func messageFinishedAt(m *teamsv1alpha1.ProactiveMessage) time.Time {
	if m.Status.DeliveredAt != nil {
		return m.Status.DeliveredAt.Time
	}
	var at time.Time
	for _, c := range m.Status.Conditions {
		if c.LastTransitionTime.After(at) {
			at = c.LastTransitionTime.Time
		}
	}
	return at
}
