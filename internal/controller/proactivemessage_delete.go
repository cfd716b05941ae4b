package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// reconcileDelete deletes the Teams message of a message with deletionPolicy Delete (a 404
// means it is gone already), then lets the object go.
func (r *ProactiveMessageReconciler) reconcileDelete(ctx context.Context, s *messageScope) error {
	msg := s.msg
	if !controllerutil.ContainsFinalizer(msg, teamsv1alpha1.Finalizer) {
		return nil
	}
	conversationID, activityID := msg.Status.ConversationID, msg.Status.ActivityID
	if activityID == "" {
		var err error
		if conversationID, activityID, err = r.restoredIDs(ctx, s); err != nil {
			return err
		}
	}
	if activityID != "" {
		if err := r.deleteActivity(ctx, s, conversationID, activityID); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(msg, teamsv1alpha1.Finalizer)
	return nil
}

// restoredIDs are the ids of a message whose status has none (restored from a backup): only
// ids the operator recorded for this object count, from the annotations of an older version or
// from the send journal.
func (r *ProactiveMessageReconciler) restoredIDs(ctx context.Context, s *messageScope) (string, string, error) {
	msg := s.msg
	conversationID, activityID, proven := s.proof.provenIDs(msg)
	switch {
	case proven:
		return conversationID, activityID, nil
	case activityID != "":
		ctrl.LoggerFrom(ctx).Info("Not deleting a Teams message named by annotations without a valid delivery proof")
		r.Recorder.Eventf(msg, nil, corev1.EventTypeWarning, teamsv1alpha1.UntrustedAnnotationsReason, "Delete", untrustedIDsMessage)
		return "", "", nil
	}
	d, ok, err := s.ledger.Delivered(ctx)
	if err != nil {
		return "", "", journalFailure(err)
	}
	if !ok {
		return "", "", nil
	}
	return d.ConversationID, d.ActivityID, nil
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
	// Retries keep the conditions as they are: the object is going away.
	o, ok := outcome.As(microsoftFailure(ctx, err, 0, messageWords(s.msg.Spec.TargetRef.Name)))
	switch {
	case !ok:
		return err
	case o.Kind == outcome.Retry && o.After > 0:
		return outcome.Requeue(o.After)
	case o.Kind == outcome.Retry:
		return fmt.Errorf("deleting the message in Teams: %w", err)
	}
	return outcome.Stallf(teamsv1alpha1.DeletingReason, "Deleting the message in Teams failed: %v. "+
		"Remove the finalizer %s to delete the object and leave the message", err, teamsv1alpha1.Finalizer)
}
