package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1 "k8s.io/api/core/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// EditedReason is the event recorded when a delivered message is edited in place.
const EditedReason = "Edited"

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
			status.MarkNotReady(msg, c.Reason, c.Message) // describes this generation too
		}
	}
	return r.collect(ctx, s)
}

// edit updates the Teams message in place when the content changed since it was sent.
func (r *ProactiveMessageReconciler) edit(ctx context.Context, s *messageScope) error {
	msg := s.msg
	activity, err := delivery.BuildActivity(&msg.Spec)
	if err == nil {
		err = delivery.CheckSize(&msg.Spec)
	}
	if err == nil {
		err = delivery.Validate(&msg.Spec)
	}
	ready := status.ReadyCondition(msg)
	switch {
	case err != nil:
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, "The new content cannot be sent: "+err.Error())
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
	_, err = s.clients.Bot.UpdateActivity(ctx, s.serviceURL, msg.Status.ConversationID, msg.Status.ActivityID, activity)
	if err != nil {
		return s.editFailed(ctx, err)
	}
	msg.Status.ContentHash = delivery.Hash(activity)
	msg.Status.LastError = ""
	status.MarkReady(msg, teamsv1alpha1.DeliveredReason, fmt.Sprintf(
		"Delivered to ConversationTarget %q and edited", msg.Spec.TargetRef.Name))
	r.Recorder.Eventf(msg, nil, corev1.EventTypeNormal, EditedReason, "Edit", "Edited the message in Teams")
	return nil
}

// editFailed follows the retry table for an edit; the message stays Delivered.
func (s *messageScope) editFailed(ctx context.Context, err error) error {
	log := ctrl.LoggerFrom(ctx)
	if apiErr, ok := msapi.AsAPIError(err); ok {
		log = log.WithValues("requestId", apiErr.RequestID)
	}
	log.Info("Editing the message failed", "error", err.Error())
	s.msg.Status.LastError = err.Error()
	c := msapi.Classify(err)
	if c.Retry {
		wait := delivery.Backoff(1, delivery.Jitter())
		if c.After > 0 {
			wait = delivery.ClampWait(c.After)
		}
		return outcome.RetryIn(teamsv1alpha1.EditFailedReason, fmt.Sprintf(
			"Editing the message failed with a temporary error, retrying in %s: %v", wait.Round(time.Millisecond), err), wait)
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

// reconcileDelete deletes the Teams message of a message with deletionPolicy Delete (a 404
// means it is gone already), then lets the object go.
func (r *ProactiveMessageReconciler) reconcileDelete(ctx context.Context, s *messageScope) error {
	msg := s.msg
	if !controllerutil.ContainsFinalizer(msg, teamsv1alpha1.Finalizer) {
		return nil
	}
	conversationID, activityID := msg.Status.ConversationID, msg.Status.ActivityID
	if ann := msg.GetAnnotations(); activityID == "" {
		conversationID, activityID = ann[teamsv1alpha1.ConversationIDAnnotation], ann[teamsv1alpha1.ActivityIDAnnotation]
	}
	if activityID != "" {
		if err := r.deleteActivity(ctx, s, conversationID, activityID); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(msg, teamsv1alpha1.Finalizer)
	return nil
}

func (r *ProactiveMessageReconciler) deleteActivity(ctx context.Context, s *messageScope, conversationID, activityID string) error {
	log := ctrl.LoggerFrom(ctx).WithValues("conversationId", conversationID, "activityId", activityID)
	target := &teamsv1alpha1.ConversationTarget{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.msg.Namespace, Name: s.msg.Spec.TargetRef.Name}, target); err != nil {
		if apierrors.IsNotFound(err) {
			// Without its target (credentials, service URL) the message cannot be reached.
			log.Info("Not deleting the message in Teams: its ConversationTarget is gone")
			return nil
		}
		return fmt.Errorf("getting ConversationTarget %s: %w", s.msg.Spec.TargetRef.Name, err)
	}
	s.target = target
	if err := r.connect(ctx, s); err != nil {
		return err
	}
	log.Info("Deleting message in Teams")
	err := s.clients.Bot.DeleteActivity(ctx, s.serviceURL, conversationID, activityID)
	if err == nil || msapi.IsNotFound(err) {
		return nil
	}
	c := msapi.Classify(err)
	if c.Retry {
		if c.After > 0 {
			return outcome.Requeue(delivery.ClampWait(c.After))
		}
		return fmt.Errorf("deleting the message in Teams: %w", err)
	}
	return outcome.Stallf(teamsv1alpha1.DeletingReason, "Deleting the message in Teams failed: %v. "+
		"Remove the finalizer %s to delete the object and leave the message", err, teamsv1alpha1.Finalizer)
}
