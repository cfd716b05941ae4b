package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/policy"
)

// +kubebuilder:rbac:groups=teams.operator.dev,resources=reachpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// targetPlaces are where a target goes, as far as its spec says: one place, or for an
// audience its team, its group or each person listed (ok false: an installationRef whose
// installation does not exist yet).
func targetPlaces(ctx context.Context, c client.Reader, t *teamsv1alpha1.ConversationTarget) ([]policy.Place, bool, error) {
	if a := t.Spec.Audience; a != nil {
		switch {
		case a.Team != nil:
			return []policy.Place{{Kind: policy.KindTeam, ID: a.Team.ID}}, true, nil
		case a.Group != nil:
			return []policy.Place{{Kind: policy.KindGroup, ID: a.Group.ID}}, true, nil
		}
		places := make([]policy.Place, 0, len(a.Users))
		for _, u := range a.Users {
			places = append(places, policy.Place{Kind: policy.KindUser, ID: u.ID, UPN: u.UserPrincipalName})
		}
		return places, true, nil
	}
	p, ok, err := targetPlace(ctx, c, t)
	return []policy.Place{p}, ok, err
}

// targetPlace is where a one-conversation target goes; installationRef takes the scope of the
// installation it names (ok false: that installation does not exist yet).
func targetPlace(ctx context.Context, c client.Reader, t *teamsv1alpha1.ConversationTarget) (policy.Place, bool, error) {
	spec := &t.Spec
	switch {
	case spec.User != nil:
		return policy.Place{Kind: policy.KindUser, ID: spec.User.ID, UPN: spec.User.UserPrincipalName}, true, nil
	case spec.Channel != nil:
		return policy.Place{Kind: policy.KindChannel, ID: spec.Channel.ChannelID, Team: spec.Channel.TeamID}, true, nil
	case spec.Chat != nil:
		return policy.Place{Kind: policy.KindChat, ID: spec.Chat.ID}, true, nil
	case spec.Conversation != nil:
		return policy.Place{Kind: policy.KindConversation, ID: spec.Conversation.ID}, true, nil
	case spec.InstallationRef != nil:
		inst := &teamsv1alpha1.TeamsAppInstallation{}
		err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: spec.InstallationRef.Name}, inst)
		if apierrors.IsNotFound(err) {
			return policy.Place{}, false, nil
		}
		if err != nil {
			return policy.Place{}, false, fmt.Errorf("reading TeamsAppInstallation %s: %w", spec.InstallationRef.Name, err)
		}
		switch sc := inst.Spec.Scope; {
		case sc.User != nil:
			return policy.Place{Kind: policy.KindUser, ID: sc.User.ID, UPN: sc.User.UserPrincipalName}, true, nil
		case sc.Chat != nil:
			return policy.Place{Kind: policy.KindChat, ID: sc.Chat.ID}, true, nil
		case sc.Team != nil:
			return policy.Place{Kind: policy.KindTeam, ID: sc.Team.ID}, true, nil
		}
	}
	return policy.Place{}, false, nil
}

// reachRefusal is the refusal of the first ReachPolicy of the target's namespace that does not
// allow where the target goes; nil when every one does (or none applies).
func reachRefusal(ctx context.Context, c client.Reader, reach *policy.Reader, t *teamsv1alpha1.ConversationTarget) (*policy.Refusal, error) {
	if reach == nil {
		return nil, nil
	}
	policies, err := reach.For(ctx, t.Namespace)
	if err != nil || len(policies) == 0 {
		return nil, err
	}
	places, ok, err := targetPlaces(ctx, c, t)
	if err != nil || !ok {
		// An installationRef to nothing yet: resolving it waits for the installation anyway.
		return nil, err
	}
	for _, p := range places {
		if refusal := policies.CheckPlace(p); refusal != nil {
			return refusal, nil
		}
	}
	return nil, nil
}

// audienceCap is the largest audience a broadcast of namespace may read: the target's own
// limit, or a ReachPolicy's maxAudience when smaller (then policies is the namespace's).
func audienceCap(ctx context.Context, reach *policy.Reader, namespace string, targetLimit int) (int, policy.Policies, error) {
	if reach == nil {
		return targetLimit, nil, nil
	}
	policies, err := reach.For(ctx, namespace)
	if err != nil {
		return 0, nil, err
	}
	limit := targetLimit
	for _, p := range policies {
		if m := p.Spec.MaxAudience; m != nil && int(*m) < limit {
			limit = int(*m)
		}
	}
	return limit, policies, nil
}

// namespaceShare is the namespace's weight and cap at the limiters, from its policies.
func namespaceShare(ctx context.Context, reach *policy.Reader, namespace string) (weight, maxRPS float64) {
	if reach == nil {
		return 1, 0
	}
	policies, err := reach.For(ctx, namespace)
	if err != nil {
		return 1, 0 // the cache will answer next time; a share is not worth failing a send
	}
	return policies.Share()
}

// targetsOfAllNamespaces enqueues every ConversationTarget: a ReachPolicy changed, and a
// policy's selector may have matched namespaces before the change that it does not now.
// Policies change rarely; a Ready target that is still allowed costs a cache read.
func targetsOfAllNamespaces(c client.Client) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		return requestsFor(ctx, c, &teamsv1alpha1.ConversationTargetList{})
	}
}
