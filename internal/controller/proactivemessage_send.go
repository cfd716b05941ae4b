package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/status"
)

// send writes the finalizer of deletionPolicy Delete (with an optimistic lock: a reconcile
// working from a stale cache fails here) and the attempt marker (to the send journal), then
// posts the message once.
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
	// Once begun, the writes are not abandoned when the manager stops: a marker the API server
	// applied but whose answer we dropped would leave a marker with no send behind it, and the
	// next manager would report a message that was never sent as Unknown.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
	defer cancelMark()
	if err := s.addFinalizer(markCtx); err != nil {
		return err
	}
	marker, err := s.ledger.Begin(markCtx)
	if err != nil {
		return journalFailure(fmt.Errorf("writing the send-attempt marker: %w", err))
	}
	msg.Status.Attempts++
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("sendAttempt", marker))
	// The app limiter takes requests in the order of their Turn: priority, then a fair share
	// between namespaces.
	sendCtx, cancel := context.WithTimeout(ratelimit.WithTurn(context.WithoutCancel(ctx), r.messageTurn(ctx, msg)), sendTimeout)
	defer cancel()
	conversationID, activityID, err := r.post(sendCtx, s)
	return r.recordOutcome(ctx, s, conversationID, activityID, err)
}

// addFinalizer writes the finalizer of deletionPolicy Delete before the first send (a locked
// metadata patch: those messages cost one write more).
func (s *messageScope) addFinalizer(ctx context.Context) error {
	msg := s.msg
	if msg.Spec.DeletionPolicy != teamsv1alpha1.MessageDeletionPolicyDelete ||
		controllerutil.ContainsFinalizer(msg, teamsv1alpha1.Finalizer) {
		return nil
	}
	finalizers := slices.Clone(msg.GetFinalizers())
	controllerutil.AddFinalizer(msg, teamsv1alpha1.Finalizer)
	if err := s.patcher.PatchMetadataLocked(ctx, msg); err != nil {
		// Not persisted: the deferred patch must not write the finalizer without a send.
		msg.SetFinalizers(finalizers)
		return fmt.Errorf("writing the finalizer: %w", err)
	}
	return nil
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
			Activity: delivery.Addressed(s.activity, "", s.tenantID),
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
	id, err := bot.SendActivity(ctx, s.serviceURL, s.conversationID, delivery.Addressed(s.activity, s.conversationID, s.tenantID))
	return s.conversationID, id, err
}

// recordOutcome turns the answer to a send into status: the ledger says what it means, the
// failure vocabulary what a refusal asks for.
func (r *ProactiveMessageReconciler) recordOutcome(ctx context.Context, s *messageScope, conversationID, activityID string, err error) error {
	log := ctrl.LoggerFrom(ctx)
	decision, clearErr := s.ledger.Record(ctx, conversationID, activityID, err)
	switch decision {
	case ledger.Sent:
		log.Info("Delivered message", "conversationId", conversationID, "activityId", activityID)
		return s.delivered(conversationID, activityID, err != nil)
	case ledger.Unsure:
		s.msg.Status.LastError = err.Error()
		log.Info("Send has an unknown outcome; not sending again (deliveryGuarantee AtMostOnce)", "error", err.Error())
		return s.unknown()
	}
	s.msg.Status.LastError = err.Error()
	o := r.notSent(ctx, s, decision, err)
	if clearErr != nil {
		// The marker of a send that did not land is not gone from the journal yet: saying
		// "sending again" now would let a crash turn it into an unknown outcome. The wait the
		// answer asked for (Retry-After, the backoff) holds all the same: the next reconcile
		// must not send before it.
		if r, ok := outcome.As(o); ok && r.Kind == outcome.Retry {
			s.ledger.RetryAt(time.Now().Add(r.After))
		}
		return journalFailure(fmt.Errorf("removing the send-attempt marker: %w", clearErr))
	}
	if r, ok := outcome.As(o); ok && r.Kind == outcome.Retry {
		return s.retry(r)
	}
	s.msg.Status.Phase = teamsv1alpha1.PhaseFailed
	return o
}

// notSent is what a send that goes again (Again) or was refused (Refused) asks for: a retry
// after a wait, or a failure.
func (r *ProactiveMessageReconciler) notSent(ctx context.Context, s *messageScope, decision ledger.Decision, err error) error {
	if decision == ledger.Again {
		ctrl.LoggerFrom(ctx).Info("Send has an unknown outcome; sending again (deliveryGuarantee AtLeastOnce)",
			"error", err.Error())
		wait := outcome.RetryWait(msapi.Classify(err).After, s.msg.Status.Attempts)
		return outcome.RetryIn(teamsv1alpha1.DeliveryUnknownReason, fmt.Sprintf(
			"A send has an unknown outcome; sending again in %s (deliveryGuarantee AtLeastOnce)", wait.Round(time.Millisecond)), wait)
	}
	return microsoftFailure(ctx, err, s.msg.Status.Attempts, s.sendWords())
}

// retry schedules another send: the ledger remembers when, so that a reconcile something else
// starts during the wait does not send early.
func (s *messageScope) retry(o *outcome.Outcome) error {
	s.msg.Status.Phase = teamsv1alpha1.PhaseSending
	s.ledger.RetryAt(time.Now().Add(o.After))
	return o
}

// delivered records a delivery in status; the ledger keeps the ids in the send journal too,
// with the proof that this operator recorded them for this object (delivery_proof.go).
func (s *messageScope) delivered(conversationID, activityID string, noID bool) error {
	msg := s.msg
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

// messageWords are the message's words for the Connector's terminal answers; target names
// its ConversationTarget.
func messageWords(target string) failureWords {
	return failureWords{
		fixes: map[string]fix{
			msapi.ReasonBlockedByUser: {reason: teamsv1alpha1.BlockedByUserReason, text: "Not sent: the user has " +
				"blocked the bot or removed the app (HTTP 403); only the user can unblock it in Teams"},
			msapi.ReasonBotNotInRoster: {reason: teamsv1alpha1.BotNotInRosterReason, text: "Not sent: the bot is not " +
				"in the conversation's roster (HTTP 403): install the app in that team or chat with a " +
				"TeamsAppInstallation, then change or recreate this message"},
			msapi.ReasonBotNotInstalledForUser: {reason: teamsv1alpha1.BotNotInstalledReason, text: "Not sent: the " +
				"bot is not installed for the user (HTTP 403): install the app in the user's personal scope with a " +
				"TeamsAppInstallation, then change or recreate this message"},
			msapi.ReasonBotDisabledByAdmin: {reason: teamsv1alpha1.BotDisabledReason, text: "Not sent: a Teams admin " +
				"has blocked the app in this tenant (HTTP 403): ask the admin to allow it in the Teams admin center"},
			msapi.ReasonMessageTooLarge: {reason: teamsv1alpha1.MessageTooLargeReason, text: "Not sent: Teams " +
				"refused the message as too large (HTTP 413): shorten the text or the card"},
			msapi.ReasonConversationNotFound: {reason: teamsv1alpha1.ConversationNotFound, text: fmt.Sprintf("Not "+
				"sent: Teams does not know the conversation of ConversationTarget %q (HTTP 404): check that the "+
				"chat, channel or thread still exists", target)},
			msapi.ReasonBadArgument: {reason: teamsv1alpha1.MessageRejectedReason, text: "Not sent: Teams refused " +
				"the message as invalid (HTTP 400): check the text format, the card and the mentions"},
			msapi.ReasonBotNotRegistered: {reason: teamsv1alpha1.BotNotRegisteredReason, text: "Not sent: no bot is " +
				"registered for the app (HTTP 401): register the credentials' clientId as an Azure Bot with the " +
				"Microsoft Teams channel"},
			msapi.ReasonUnauthorized: {reason: teamsv1alpha1.AuthenticationFailedReason, text: "Not sent: the " +
				"Connector refused the bot's token (HTTP 401): check the credentials Secret (tenantId, clientId, " +
				"botTokenTenant)"},
			msapi.ReasonServiceError: {reason: teamsv1alpha1.ServiceErrorReason, text: "Not sent: Teams answered " +
				"with an internal error (HTTP 500), which Teams says not to retry: change or recreate this message " +
				"to try again"},
			msapi.ReasonServiceURLRefused: {reason: teamsv1alpha1.ServiceURLRefusedReason, text: fmt.Sprintf("Not "+
				"sent: the service URL of ConversationTarget %q is not an allowed Teams host: fix the target's "+
				"serviceUrl", target)},
			msapi.ReasonNotEnoughPermissions: messageForbidden, msapi.ReasonForbidden: messageForbidden,
			msapi.ReasonInvalidBotAPIHost: messageForbidden,
			msapi.ReasonInvalidArgument: {reason: teamsv1alpha1.InvalidSpecReason,
				text: "Not sent: the message or its target is invalid: fix the spec"},
		},
		fallback: fix{reason: teamsv1alpha1.SendFailedReason,
			text: "Not sent: Teams refused the message; change or recreate it to try again"},
		permission:         func(error) string { return messageForbidden.text },
		retryRejectedToken: true,
	}
}

var messageForbidden = fix{reason: teamsv1alpha1.PermissionDeniedReason, text: "Not sent: Teams refused the bot " +
	"(HTTP 403): check the app's installation and the tenant's cloud (--cloud)"}
