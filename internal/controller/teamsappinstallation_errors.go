package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

const (
	// taiMaxExternalRetry bounds the wait before a stalled object whose cause lies outside the
	// cluster (a permission an admin may grant, an app that may be published) is checked again.
	taiMaxExternalRetry = 5 * time.Minute
	// taiThrottleDelay is the wait after a 429 that carried no usable Retry-After.
	taiThrottleDelay = 5 * time.Second
)

// taiStallExternal is a stall a person fixes outside the cluster (a permission, the catalog,
// the tenant), so the installation is looked at again.
func taiStallExternal(reason, format string, args ...any) error {
	return outcome.StallExternal(reason, fmt.Sprintf(format, args...))
}

// handleError turns what the steps ended with into conditions and a result (classify).
func (r *TeamsAppInstallationReconciler) handleError(ctx context.Context, s *taiScope, err error) (ctrl.Result, error) {
	return outcome.Apply(ctx, s.obj, taiExternalRetry(r.interval(s.obj)), r.classify(ctx, s, err))
}

// classify turns a failure into an outcome: stalled for what needs a person, a wait for
// throttling, a retry with backoff for transient failures. Outcomes and API server
// conflicts pass through.
func (r *TeamsAppInstallationReconciler) classify(ctx context.Context, s *taiScope, err error) error {
	obj := s.obj
	if _, ok := outcome.As(err); ok || err == nil || apierrors.IsConflict(err) {
		return err
	}
	if ce, ok := AsCredentialsError(err); ok {
		// The Secret watch brings the object back when the Secret appears or changes.
		return outcome.Stall(ce.Reason, ce.Message)
	}
	if errors.Is(err, auth.ErrTokenRejected) {
		return taiStallExternal(teamsv1alpha1.AuthenticationFailedReason,
			"Microsoft Entra ID rejected the credentials of Secret %s: %v. Fix tenantId, clientId and clientSecret "+
				"(or the certificate) in the Secret", r.secretName(obj), err)
	}
	if apiErr, ok := msapi.AsAPIError(err); ok {
		ctrl.LoggerFrom(ctx).Info("Microsoft Graph call failed", "operation", apiErr.Operation,
			"status", apiErr.Status, "code", apiErr.Code, "requestId", apiErr.RequestID)
	}
	return r.classified(obj, msapi.Classify(err), err)
}

// classified maps a Microsoft API error through msapi.Classify.
func (r *TeamsAppInstallationReconciler) classified(obj *teamsv1alpha1.TeamsAppInstallation, c msapi.Classification,
	err error) error {
	switch {
	case c.Reason == msapi.ReasonThrottled || msapi.IsThrottled(err):
		return outcome.RetryIn(teamsv1alpha1.ThrottledReason,
			"Microsoft Graph is throttling the bot's requests; retrying after the delay it asked for", taiRetryAfter(c.After))
	case c.Reason == msapi.ReasonPermissionDenied:
		return outcome.StallExternal(teamsv1alpha1.PermissionDeniedReason, taiPermissionMessage(err, obj))
	case c.MaxAttempts > 0:
		n := r.installAttempts.inc(obj.UID)
		if n < c.MaxAttempts {
			return outcome.RetryErr(teamsv1alpha1.ProgressingWithRetryReason,
				fmt.Sprintf("Microsoft Graph refused the request (attempt %d of %d), retrying: %v", n, c.MaxAttempts, err), err)
		}
		r.installAttempts.reset(obj.UID)
		return outcome.Stallf(teamsv1alpha1.InvalidSpecReason, "Microsoft Graph refused the request %d times: "+
			"%v. Check spec.consentedPermissions against the app's manifest", n, err)
	case c.Terminal && c.Reason == msapi.ReasonBadRequest:
		return outcome.Stallf(teamsv1alpha1.InvalidSpecReason, "Microsoft Graph refused the request: %v. "+
			"Check spec.app, spec.scope and spec.consentedPermissions", err)
	case c.Terminal:
		reason := teamsv1alpha1.InternalErrorReason
		if c.Reason == msapi.ReasonNotFound {
			reason = teamsv1alpha1.ExternalNotFoundReason
		}
		return taiStallExternal(reason, "Microsoft Graph refused the request: %v", err)
	}
	return outcome.RetryErr(teamsv1alpha1.ProgressingWithRetryReason,
		fmt.Sprintf("Retrying after a transient error: %v", err), err)
}

// taiPermissionMessage names the Graph application permission the refused call needs (reference 1.4).
func taiPermissionMessage(err error, obj *teamsv1alpha1.TeamsAppInstallation) string {
	op := ""
	if apiErr, ok := msapi.AsAPIError(err); ok {
		op = apiErr.Operation
	}
	perm := taiRequiredPermission(op, taiScopeKind(obj), len(obj.Spec.ConsentedPermissions) > 0)
	return fmt.Sprintf("Microsoft Graph refused %s: the bot's app registration needs the application permission %s, "+
		"granted with admin consent (Entra admin center, App registrations, API permissions); the operator checks again "+
		"by itself", taiOrUnknown(op), perm)
}

// taiRequiredPermission is the least privileged Graph application permission for an operation.
func taiRequiredPermission(op string, kind graph.ScopeKind, consent bool) string {
	switch op {
	case "getCatalogApp", "listCatalogApps":
		return "AppCatalog.Read.All"
	case "getUser":
		return "User.Read.All"
	}
	scope := map[graph.ScopeKind]string{graph.ScopeTeam: "Team", graph.ScopeUser: "User", graph.ScopeChat: "Chat"}[kind]
	if consent {
		return "TeamsAppInstallation.ReadWriteAndConsentSelfFor" + scope + ".All"
	}
	return "TeamsAppInstallation.ReadWriteSelfFor" + scope + ".All"
}

func taiOrUnknown(op string) string {
	if op == "" {
		return "the request"
	}
	return op
}

// taiRetryAfter keeps a server's Retry-After within [1s, 1h].
func taiRetryAfter(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return taiThrottleDelay
	case d < time.Second:
		return time.Second
	case d > time.Hour:
		return time.Hour
	}
	return d
}

// taiExternalRetry is how soon a stall that a person may fix outside the cluster is checked again.
func taiExternalRetry(interval time.Duration) time.Duration {
	return min(interval, taiMaxExternalRetry)
}

func (r *TeamsAppInstallationReconciler) secretName(obj *teamsv1alpha1.TeamsAppInstallation) string {
	if obj.Spec.CredentialsRef != nil {
		return obj.Namespace + "/" + obj.Spec.CredentialsRef.Name
	}
	return r.DefaultCredentials.String()
}
