package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

const (
	// taiMaxExternalRetry bounds the wait before a stalled object whose cause lies outside the
	// cluster (a permission an admin may grant, an app that may be published) is checked again.
	taiMaxExternalRetry = 5 * time.Minute
)

// taiStallExternal is a stall a person fixes outside the cluster (a permission, the catalog,
// the tenant), so the installation is looked at again.
func taiStallExternal(reason, format string, args ...any) error {
	return outcome.StallExternal(reason, fmt.Sprintf(format, args...))
}

// handleError turns what the steps ended with into conditions and a result (classify).
func (r *TeamsAppInstallationReconciler) handleError(ctx context.Context, s *taiScope, err error) (ctrl.Result, error) {
	err = r.classify(ctx, s, err)
	return outcome.Apply(ctx, s.obj, externalRecheck(s.obj, err, taiExternalRetry(r.interval(s.obj))), err)
}

// classify turns a failure into an outcome (microsoftFailure). Graph's answers to an
// install that are sometimes transient (a 400) are retried until their budget runs out.
func (r *TeamsAppInstallationReconciler) classify(ctx context.Context, s *taiScope, err error) error {
	obj := s.obj
	if _, ok := outcome.As(err); !ok && err != nil {
		if c := msapi.Classify(err); c.MaxAttempts > 0 {
			n := r.installAttempts.inc(obj.UID)
			if n < c.MaxAttempts {
				return outcome.RetryErr(teamsv1alpha1.ProgressingWithRetryReason,
					fmt.Sprintf("Microsoft Graph refused the request (attempt %d of %d), retrying: %v", n, c.MaxAttempts, err), err)
			}
			r.installAttempts.reset(obj.UID)
			return outcome.Stallf(teamsv1alpha1.InvalidSpecReason, "Microsoft Graph refused the request %d times: "+
				"%v. Check spec.consentedPermissions against the app's manifest", n, err)
		}
	}
	return microsoftFailure(ctx, err, 0, failureWords{
		fixes:      taiFixes,
		fallback:   fix{reason: teamsv1alpha1.InternalErrorReason, text: "Microsoft Graph refused the request", external: true},
		permission: func(err error) string { return taiPermissionMessage(err, obj) },
		secret:     credentialsName(obj.Namespace, obj.Spec.CredentialsRef, r.DefaultCredentials),
	})
}

// taiFixes are the installation's words for Graph's terminal answers.
var taiFixes = map[string]fix{
	msapi.ReasonBadRequest: {reason: teamsv1alpha1.InvalidSpecReason,
		text: "Microsoft Graph refused the request: check spec.app, spec.scope and spec.consentedPermissions"},
	msapi.ReasonNotFound: {reason: teamsv1alpha1.ExternalNotFoundReason, text: "Microsoft Graph refused the request",
		external: true},
}

// taiPermissionMessage names the Graph application permission the refused call needs, as the
// permissions tables of the API pages list it (for example
// https://learn.microsoft.com/en-us/graph/api/team-post-installedapps, "Permissions").
func taiPermissionMessage(err error, obj *teamsv1alpha1.TeamsAppInstallation) string {
	op := ""
	if apiErr, ok := msapi.AsAPIError(err); ok {
		op = apiErr.Operation
	}
	perm := taiRequiredPermission(op, taiScopeKind(obj), len(obj.Spec.ConsentedPermissions) > 0)
	return fmt.Sprintf("Microsoft Graph refused %s: the bot's app registration needs the application permission %s, "+
		"granted with admin consent (Entra admin center, App registrations, API permissions)"+permissionGrantNote,
		taiOrUnknown(op), perm)
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
	// The Self variant reaches only an app whose manifest's webApplicationInfo.id is the bot's
	// app id; an app without webApplicationInfo needs the broader one (reference 1.4).
	variant := "ReadWrite"
	if consent {
		variant = "ReadWriteAndConsent"
	}
	return fmt.Sprintf("TeamsAppInstallation.%sSelfFor%s.All (when the app's manifest has webApplicationInfo.id = "+
		"the bot's app id; otherwise TeamsAppInstallation.%sFor%s.All)", variant, scope, variant, scope)
}

func taiOrUnknown(op string) string {
	if op == "" {
		return "the request"
	}
	return op
}

// taiExternalRetry is how soon a stall that a person may fix outside the cluster is checked again.
func taiExternalRetry(interval time.Duration) time.Duration {
	return min(interval, taiMaxExternalRetry)
}
