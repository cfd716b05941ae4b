package controller

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// Rechecks of a missing Graph permission. An admin grant shows only in a Graph token issued
// after it (the Graph client drops its token on every 403), and a grant can take minutes to
// reach Graph, so the first looks come soon and later ones less often.
const (
	permissionRecheckMin = 15 * time.Second
	permissionRecheckMax = 10 * time.Minute
)

// permissionGrantNote ends every PermissionDenied message.
const permissionGrantNote = "; an admin grant can take a few minutes to apply: the operator gets a new token and " +
	"looks again by itself, at growing intervals"

// externalRecheck is when a stall fixed outside the cluster is looked at again: fallback,
// except for a missing permission, which is looked at after as long as it has been missing
// (so the waits double), between permissionRecheckMin and permissionRecheckMax.
func externalRecheck(obj status.Object, err error, fallback time.Duration) time.Duration {
	o, ok := outcome.As(err)
	if !ok || o.Reason != teamsv1alpha1.PermissionDeniedReason {
		return fallback
	}
	ready := meta.FindStatusCondition(obj.GetConditions(), teamsv1alpha1.ReadyCondition)
	if ready == nil || ready.Reason != teamsv1alpha1.PermissionDeniedReason {
		return permissionRecheckMin
	}
	return min(max(time.Since(ready.LastTransitionTime.Time), permissionRecheckMin), permissionRecheckMax)
}
