package controller

import (
	"context"
	"errors"
	"fmt"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/status"
)

// targetKindAudience is status.kind of a target that names many people (docs/broadcast.md).
const targetKindAudience = "Audience"

// maxAudienceUsers mirrors the CRD's bound on audience.users.
const maxAudienceUsers = 1000

// resolveAudience makes an audience target Ready without reading the audience: it is read
// when a message to it starts (a roster of 100,000 people is not read on every resync), by the
// ProactiveMessage controller, which records the size in status.audience.
func (r *ConversationTargetReconciler) resolveAudience(_ context.Context, s *targetScope) error {
	a := s.target.Spec.Audience
	st := &s.target.Status
	st.ServiceURL, st.TenantID, st.Kind = s.serviceURL, s.tenantID, targetKindAudience
	status.MarkReady(s.target, teamsv1alpha1.ResolvedReason, "Messages go to each person of "+audienceWords(a)+
		", one 1:1 message each; the audience is read when a message starts")
	return nil
}

// audienceWords names an audience in a sentence.
func audienceWords(a *teamsv1alpha1.AudienceTarget) string {
	switch {
	case a.Team != nil && a.Team.IncludeGuests:
		return fmt.Sprintf("team %s (members and guests)", a.Team.ID)
	case a.Team != nil:
		return fmt.Sprintf("team %s (members, not guests)", a.Team.ID)
	case a.Group != nil:
		return fmt.Sprintf("Entra group %s (transitive members)", a.Group.ID)
	}
	return fmt.Sprintf("a list of %d users", len(a.Users))
}

// validateAudience mirrors the CRD's rules for audiences.
func validateAudience(a *teamsv1alpha1.AudienceTarget) error {
	if a == nil {
		return nil
	}
	n := 0
	for _, has := range []bool{a.Team != nil, a.Group != nil, a.Users != nil} {
		if has {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("exactly one of audience.team, audience.group or audience.users must be set")
	case a.Team != nil && !targetGUID.MatchString(a.Team.ID):
		return errors.New("audience.team.id must be a GUID")
	case a.Group != nil && !targetGUID.MatchString(a.Group.ID):
		return errors.New("audience.group.id must be a GUID")
	case a.Users != nil && (len(a.Users) == 0 || len(a.Users) > maxAudienceUsers):
		return fmt.Errorf("audience.users must list 1 to %d users", maxAudienceUsers)
	case a.MaxSize != nil && (*a.MaxSize < 1 || *a.MaxSize > 1000000):
		return errors.New("audience.maxSize must be between 1 and 1000000")
	}
	for i := range a.Users {
		if err := validateTargetKind(&teamsv1alpha1.ConversationTargetSpec{User: &a.Users[i]}); err != nil {
			return fmt.Errorf("audience.users[%d]: %w", i, err)
		}
	}
	return nil
}

// audienceLimit is the audience's maxSize, or the default.
func audienceLimit(a *teamsv1alpha1.AudienceTarget) int {
	if a.MaxSize != nil {
		return int(*a.MaxSize)
	}
	return teamsv1alpha1.DefaultMaxAudience
}
