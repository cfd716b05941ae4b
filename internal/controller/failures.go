package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// The failure vocabulary: one mapping from a failed Microsoft call (classified by
// msapi.Classify) to an outcome, used by every kind. A kind only brings its words: a table of
// fix sentences per classified reason and the sentence that names a missing permission.

// fix is what a person reads about one classified failure: a declared condition reason and
// the sentence that names the fix. external: the fix happens outside the cluster, so the
// object is looked at again.
type fix struct {
	reason   string
	text     string
	external bool
}

// failureWords is what one kind says about failures.
type failureWords struct {
	// fixes are the kind's sentences per msapi reason; terminalReasons fills what it lacks.
	fixes map[string]fix
	// permission is the PermissionDenied sentence: it names the permission the call needs.
	permission func(err error) string
	// secret names the credentials Secret, for a rejected token.
	secret string
	// fallback is the fix of a terminal failure nothing else names (zero: InternalError).
	fallback fix
	// retryRejectedToken keeps retrying after Entra rejected the credentials, instead of
	// stalling: a message is never sent if it stalls, and its target's Secret may be fixed.
	retryRejectedToken bool
}

// say is the one shape of a failure message: the fix, then the error it is about.
func say(text string, err error) string {
	if text == "" {
		return err.Error()
	}
	return text + " (" + err.Error() + ")"
}

// terminalReasons gives every terminal classification a declared condition reason, for the
// kinds whose table has no sentence of their own for it. Nothing else reaches a condition.
var terminalReasons = map[string]fix{
	msapi.ReasonNotFound:               {reason: teamsv1alpha1.ExternalNotFoundReason, external: true},
	msapi.ReasonBadRequest:             {reason: teamsv1alpha1.InvalidSpecReason},
	msapi.ReasonInvalidArgument:        {reason: teamsv1alpha1.InvalidSpecReason},
	msapi.ReasonBadArgument:            {reason: teamsv1alpha1.MessageRejectedReason},
	msapi.ReasonBlockedByUser:          {reason: teamsv1alpha1.BlockedByUserReason},
	msapi.ReasonBotNotInRoster:         {reason: teamsv1alpha1.BotNotInRosterReason},
	msapi.ReasonBotNotInstalledForUser: {reason: teamsv1alpha1.BotNotInstalledReason},
	msapi.ReasonBotDisabledByAdmin:     {reason: teamsv1alpha1.BotDisabledReason},
	msapi.ReasonMessageTooLarge:        {reason: teamsv1alpha1.MessageTooLargeReason},
	msapi.ReasonConversationNotFound:   {reason: teamsv1alpha1.ConversationNotFound},
	msapi.ReasonBotNotRegistered:       {reason: teamsv1alpha1.AuthenticationFailedReason},
	msapi.ReasonUnauthorized:           {reason: teamsv1alpha1.AuthenticationFailedReason},
	msapi.ReasonServiceError:           {reason: teamsv1alpha1.ServiceErrorReason},
	msapi.ReasonServiceURLRefused:      {reason: teamsv1alpha1.ServiceURLRefusedReason},
	msapi.ReasonForbidden:              {reason: teamsv1alpha1.PermissionDeniedReason},
	msapi.ReasonNotEnoughPermissions:   {reason: teamsv1alpha1.PermissionDeniedReason},
	msapi.ReasonInvalidBotAPIHost:      {reason: teamsv1alpha1.PermissionDeniedReason},
}

// microsoftFailure turns a failed call into an outcome. attempt is the object's own count of
// tries (0 when it keeps none: a transient failure then goes to the workqueue's backoff).
// Outcomes, API server conflicts and credentials problems pass through or stall as such.
func microsoftFailure(ctx context.Context, err error, attempt int32, w failureWords) error {
	if _, ok := outcome.As(err); ok || err == nil || apierrors.IsConflict(err) {
		return err
	}
	if ce, ok := AsCredentialsError(err); ok {
		// The Secret watch brings the object back when the Secret appears or changes.
		return outcome.Stall(ce.Reason, ce.Message)
	}
	if errors.Is(err, auth.ErrTokenRejected) && !w.retryRejectedToken {
		return outcome.StallExternal(teamsv1alpha1.AuthenticationFailedReason, fmt.Sprintf(
			"Microsoft Entra ID rejected the credentials of Secret %s: %v. Fix tenantId, clientId and clientSecret "+
				"(or the certificate) in the credentials Secret", w.secret, err))
	}
	c := msapi.Classify(err)
	log := ctrl.LoggerFrom(ctx)
	if apiErr, ok := msapi.AsAPIError(err); ok {
		log = log.WithValues("operation", apiErr.Operation, "status", apiErr.Status, "code", apiErr.Code,
			"requestId", apiErr.RequestID)
	}
	log.Info("Microsoft call failed", "reason", c.Reason, "error", err.Error())
	switch {
	case c.Reason == msapi.ReasonThrottled || msapi.IsThrottled(err):
		wait := outcome.RetryWait(c.After, attempt)
		return outcome.RetryIn(teamsv1alpha1.ThrottledReason, say(fmt.Sprintf(
			"Microsoft is throttling the bot's requests (HTTP 429); retrying in %s", wait.Round(time.Millisecond)), err), wait)
	case c.Retry && (c.After > 0 || attempt > 0):
		wait := outcome.RetryWait(c.After, attempt)
		return outcome.RetryIn(teamsv1alpha1.ProgressingWithRetryReason,
			say(fmt.Sprintf("A temporary error; retrying in %s", wait.Round(time.Millisecond)), err), wait)
	case c.Retry, c.Reason == msapi.ReasonOutcomeUnknown:
		return outcome.RetryErr(teamsv1alpha1.ProgressingWithRetryReason, say("A temporary error; retrying", err), err)
	case c.Reason == msapi.ReasonPermissionDenied:
		return outcome.StallExternal(teamsv1alpha1.PermissionDeniedReason, say(w.permission(err), err))
	}
	f, ok := w.fixes[c.Reason]
	if !ok {
		f, ok = terminalReasons[c.Reason]
	}
	if !ok {
		f = w.fallback
	}
	if f.reason == "" {
		f = fix{reason: teamsv1alpha1.InternalErrorReason, external: true}
	}
	return &outcome.Outcome{Kind: outcome.Stalled, Reason: f.reason, Message: say(f.text, err), External: f.external}
}

// credentialsName names the Secret an object's credentials come from, for messages.
func credentialsName(namespace string, ref *teamsv1alpha1.LocalObjectReference, def types.NamespacedName) string {
	if ref != nil {
		return namespace + "/" + ref.Name
	}
	return def.String()
}
