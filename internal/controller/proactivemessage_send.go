package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// send persists the attempt marker (and the finalizer of deletionPolicy Delete) with an
// optimistic lock, then posts the message once. The lock matters: a reconcile working from a
// stale cache fails here instead of sending a message that was already sent.
func (r *ProactiveMessageReconciler) send(ctx context.Context, s *messageScope) error {
	msg := s.msg
	// A cache that has not seen an earlier send would make the locked write fail anyway;
	// looking first spares that request.
	if err := r.requeueIfStale(ctx, s); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// The manager is stopping: start no new send. This comes before the marker is set on
		// msg, or the deferred patch would persist a marker with no send behind it.
		return err
	}
	annotations, finalizers := msg.GetAnnotations(), slices.Clone(msg.GetFinalizers())
	marker := time.Now().UTC().Format(time.RFC3339Nano)
	s.annotate(func(ann map[string]string) { ann[teamsv1alpha1.SendAttemptAnnotation] = marker })
	if msg.Spec.DeletionPolicy == teamsv1alpha1.MessageDeletionPolicyDelete {
		controllerutil.AddFinalizer(msg, teamsv1alpha1.Finalizer)
	}
	// Once begun, the marker write is not abandoned when the manager stops: a write the API
	// server applied but whose answer we dropped would leave a marker with no send behind it,
	// and the next manager would report a message that was never sent as Unknown.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
	defer cancelMark()
	if err := s.patcher.PatchMetadataLocked(markCtx, msg); err != nil {
		// Not persisted: the deferred patch must not write the marker without a send.
		msg.SetAnnotations(annotations)
		msg.SetFinalizers(finalizers)
		return fmt.Errorf("persisting the send-attempt marker: %w", err)
	}
	msg.Status.Attempts++
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("sendAttempt", marker))
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	conversationID, activityID, err := r.post(sendCtx, s)
	return r.recordOutcome(ctx, s, conversationID, activityID, err)
}

// post sends the activity: a new thread for a channel target, else into the conversation
// (for a reply, the parent's thread). It returns where the message went and its id.
func (r *ProactiveMessageReconciler) post(ctx context.Context, s *messageScope) (string, string, error) {
	log := ctrl.LoggerFrom(ctx)
	bot := s.clients.Bot
	if s.channelID != "" {
		log.Info("Starting a channel thread", "channelId", s.channelID, "attempt", s.msg.Status.Attempts)
		res, err := bot.CreateConversation(ctx, s.serviceURL, botframework.ConversationParameters{
			IsGroup:  true,
			TenantID: s.tenantID,
			ChannelData: &botframework.ChannelData{
				Channel: &botframework.ChannelInfo{ID: s.channelID},
				Tenant:  &botframework.TenantInfo{ID: s.tenantID},
			},
			Activity: s.activity,
		})
		if err != nil {
			return "", "", err
		}
		activityID := res.ActivityID
		if _, root, ok := strings.Cut(res.ID, threadSeparator); ok && activityID == "" {
			activityID = root
		}
		return res.ID, activityID, nil
	}
	log.Info("Sending message", "conversationId", s.conversationID, "attempt", s.msg.Status.Attempts)
	id, err := bot.SendActivity(ctx, s.serviceURL, s.conversationID, s.activity)
	return s.conversationID, id, err
}

// recordOutcome turns the answer to a send into status, following the Teams retry table.
func (r *ProactiveMessageReconciler) recordOutcome(ctx context.Context, s *messageScope, conversationID, activityID string, err error) error {
	log := ctrl.LoggerFrom(ctx)
	if err == nil || errors.Is(err, botframework.ErrNoActivityID) {
		log.Info("Delivered message", "conversationId", conversationID, "activityId", activityID)
		s.sent = &unsavedDelivery{marker: s.msg.GetAnnotations()[teamsv1alpha1.SendAttemptAnnotation],
			conversationID: conversationID, activityID: activityID, noID: err != nil}
		return s.delivered(conversationID, activityID, err != nil)
	}
	if apiErr, ok := msapi.AsAPIError(err); ok {
		log = log.WithValues("requestId", apiErr.RequestID, "status", apiErr.Status)
	}
	c := msapi.Classify(err)
	s.msg.Status.LastError = err.Error()
	if msapi.IsOutcomeUnknown(err) || c.Reason == msapi.ReasonOutcomeUnknown {
		if s.msg.Spec.DeliveryGuarantee != teamsv1alpha1.AtLeastOnce {
			log.Info("Send got no answer; not sending again (deliveryGuarantee AtMostOnce)", "error", err.Error())
			return s.unknown()
		}
		log.Info("Send got no answer; sending again (deliveryGuarantee AtLeastOnce)", "error", err.Error())
		return s.retry(teamsv1alpha1.DeliveryUnknownReason, "A send got no answer; sending again (deliveryGuarantee AtLeastOnce)", c)
	}
	if c.Retry {
		log.Info("Send failed with a temporary error, retrying", "reason", c.Reason, "error", err.Error())
		if c.Reason == msapi.ReasonThrottled {
			return s.retry(teamsv1alpha1.ThrottledReason, "Teams is throttling messages (HTTP 429)", c)
		}
		return s.retry(teamsv1alpha1.ProgressingWithRetryReason, "Sending failed with a temporary error: "+err.Error(), c)
	}
	log.Info("Send failed", "reason", c.Reason, "error", err.Error())
	s.clearMarker()
	reason, fix := messageFailure(c.Reason, s.msg.Spec.TargetRef.Name)
	return s.fail(reason, fix+" ("+err.Error()+")")
}

// retry schedules another send. The request was refused, or (AtLeastOnce) may be sent
// twice anyway, so the marker goes: the next attempt is not an unknown outcome.
func (s *messageScope) retry(reason, message string, c msapi.Classification) error {
	s.clearMarker()
	wait := delivery.Backoff(s.msg.Status.Attempts, delivery.Jitter())
	if c.After > 0 {
		wait = delivery.ClampWait(c.After)
	}
	s.msg.Status.Phase = teamsv1alpha1.PhaseSending
	s.retryAt = time.Now().Add(wait)
	return outcome.RetryIn(reason, fmt.Sprintf("%s; retrying in %s", message, wait.Round(time.Millisecond)), wait)
}

func (s *messageScope) clearMarker() {
	s.annotate(func(ann map[string]string) { delete(ann, teamsv1alpha1.SendAttemptAnnotation) })
}

// annotate changes a copy of the annotations: the patcher's snapshot must not share the map.
func (s *messageScope) annotate(change func(map[string]string)) {
	ann := maps.Clone(s.msg.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	change(ann)
	s.msg.SetAnnotations(ann)
}

// delivered records a delivery: in status, and the ids in annotations too, since status does
// not survive backup and restore. The marker stays: with the activity id it reads "done".
func (s *messageScope) delivered(conversationID, activityID string, noID bool) error {
	msg := s.msg
	s.annotate(func(ann map[string]string) {
		ann[teamsv1alpha1.ActivityIDAnnotation] = activityID
		ann[teamsv1alpha1.ConversationIDAnnotation] = conversationID
	})
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	msg.Status.Phase = teamsv1alpha1.PhaseDelivered
	msg.Status.ConversationID, msg.Status.ActivityID = conversationID, activityID
	msg.Status.DeliveredAt = &now
	msg.Status.LastError = ""
	if a, err := delivery.BuildActivity(&msg.Spec); err == nil {
		msg.Status.ContentHash = delivery.Hash(a)
	}
	text := fmt.Sprintf("Delivered to ConversationTarget %q", msg.Spec.TargetRef.Name)
	if noID {
		text += ", but Teams returned no activity id, so the message cannot be edited or deleted"
	}
	status.MarkReady(msg, teamsv1alpha1.DeliveredReason, text)
	return outcome.Requeue(0)
}

// messageFailure maps a terminal Connector failure to a condition reason and a sentence
// that names the fix.
func messageFailure(reason, target string) (string, string) {
	switch reason {
	case msapi.ReasonBlockedByUser:
		return teamsv1alpha1.BlockedByUserReason, "Not sent: the user has blocked the bot or removed the app " +
			"(HTTP 403); only the user can unblock it in Teams"
	case msapi.ReasonBotNotInRoster:
		return teamsv1alpha1.BotNotInRosterReason, "Not sent: the bot is not in the conversation's roster " +
			"(HTTP 403): install the app in that team or chat with a TeamsAppInstallation, then change or recreate this message"
	case msapi.ReasonBotNotInstalledForUser:
		return teamsv1alpha1.BotNotInstalledReason, "Not sent: the bot is not installed for the user (HTTP 403): " +
			"install the app in the user's personal scope with a TeamsAppInstallation, then change or recreate this message"
	case msapi.ReasonBotDisabledByAdmin:
		return teamsv1alpha1.BotDisabledReason, "Not sent: a Teams admin has blocked the app in this tenant " +
			"(HTTP 403): ask the admin to allow it in the Teams admin center"
	case msapi.ReasonMessageTooLarge:
		return teamsv1alpha1.MessageTooLargeReason, "Not sent: Teams refused the message as too large (HTTP 413): " +
			"shorten the text or the card"
	case msapi.ReasonConversationNotFound:
		return teamsv1alpha1.ConversationNotFound, fmt.Sprintf("Not sent: Teams does not know the conversation of "+
			"ConversationTarget %q (HTTP 404): check that the chat, channel or thread still exists", target)
	case msapi.ReasonBadArgument:
		return teamsv1alpha1.MessageRejectedReason, "Not sent: Teams refused the message as invalid (HTTP 400): " +
			"check the text format, the card and the mentions"
	case msapi.ReasonBotNotRegistered:
		return teamsv1alpha1.BotNotRegisteredReason, "Not sent: no bot is registered for the app (HTTP 401): " +
			"register the credentials' clientId as an Azure Bot with the Microsoft Teams channel"
	case msapi.ReasonUnauthorized:
		return teamsv1alpha1.AuthenticationFailedReason, "Not sent: the Connector refused the bot's token (HTTP 401): " +
			"check the credentials Secret (tenantId, clientId, botTokenTenant)"
	case msapi.ReasonServiceError:
		return teamsv1alpha1.ServiceErrorReason, "Not sent: Teams answered with an internal error (HTTP 500), " +
			"which Teams says not to retry: change or recreate this message to try again"
	case msapi.ReasonServiceURLRefused:
		return teamsv1alpha1.ServiceURLRefusedReason, fmt.Sprintf("Not sent: the service URL of ConversationTarget "+
			"%q is not an allowed Teams host: fix the target's serviceUrl", target)
	case msapi.ReasonNotEnoughPermissions, msapi.ReasonForbidden, msapi.ReasonInvalidBotAPIHost:
		return teamsv1alpha1.PermissionDeniedReason, "Not sent: Teams refused the bot (HTTP 403): check the app's " +
			"installation and the tenant's cloud (--cloud)"
	case msapi.ReasonInvalidArgument:
		return teamsv1alpha1.InvalidSpecReason, "Not sent: the message or its target is invalid: fix the spec"
	}
	return teamsv1alpha1.SendFailedReason, "Not sent: Teams refused the message; change or recreate it to try again"
}
