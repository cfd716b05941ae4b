// Package policy applies the platform team's ReachPolicies: where the targets of a namespace
// may reach, how large its broadcasts may be, and its share of the bot's rate (docs/policy.md).
// ReachPolicies are cluster-scoped, so nothing a namespace can write changes which apply to
// it or what they say: the manager reads them and the namespaces' labels from its cache.
package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Refusal says which policy refused what. Reason is a condition reason.
type Refusal struct {
	Policy  string
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Reader finds the policies of a namespace in the manager's cache.
type Reader struct {
	// Client reads ReachPolicies and Namespace metadata (the manager's cache).
	Client client.Reader
}

// Policies are the ReachPolicies that select one namespace, in name order.
type Policies []*teamsv1alpha1.ReachPolicy

// For returns the policies that select namespace. A namespace that is gone has none (its
// objects are going too).
func (r *Reader) For(ctx context.Context, namespace string) (Policies, error) {
	if r == nil || r.Client == nil {
		return nil, nil
	}
	list := &teamsv1alpha1.ReachPolicyList{}
	// Read only: the cache's own objects, not copies (this runs for every message enqueued).
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing ReachPolicies: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Client.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	var out Policies
	for i := range list.Items {
		p := &list.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector)
		if err != nil {
			// A selector the API server accepted but we cannot parse: apply the policy, so that
			// a mistake restricts rather than opens.
			out = append(out, p)
			continue
		}
		if sel.Matches(labels.Set(ns.Labels)) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *teamsv1alpha1.ReachPolicy) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Kinds of Place.
const (
	KindUser         = "user"
	KindChannel      = "channel"
	KindChat         = "chat"
	KindConversation = "conversation"
	KindTeam         = "team"  // a team audience: the team's roster
	KindGroup        = "group" // a group audience
)

// Place is what a target reaches, as far as the spec says.
type Place struct {
	// Kind is user, channel, chat or conversation; for an audience, team, group (or user for
	// each person of a list).
	Kind string
	// ID is the user's object id or 29: id, the channel id, the chat id or the conversation id.
	ID string
	// UPN is the user's principal name when the spec gives one instead of an id.
	UPN string
	// Team is a channel's team.
	Team string
}

// Describe names the place for a refusal.
func (p Place) Describe() string {
	switch {
	case p.Kind == KindUser && p.UPN != "":
		return fmt.Sprintf("user %s", p.UPN)
	case p.Kind == KindChannel && p.ID == "":
		return fmt.Sprintf("the General channel of team %s", p.Team)
	case p.Kind == KindChannel:
		return fmt.Sprintf("channel %s of team %s", p.ID, p.Team)
	}
	return fmt.Sprintf("%s %s", p.Kind, p.ID)
}

// CheckPlace refuses a place one of the policies does not allow.
func (ps Policies) CheckPlace(p Place) *Refusal {
	for _, pol := range ps {
		if ok, why := allows(&pol.Spec, p); !ok {
			return &Refusal{Policy: pol.Name, Reason: teamsv1alpha1.ReachRefusedReason, Message: fmt.Sprintf(
				"ReachPolicy %q does not allow %s (%s): ask the platform team to allow it, or use another target",
				pol.Name, p.Describe(), why)}
		}
	}
	return nil
}

// restricts reports whether a policy is an allow-list of places.
func restricts(s *teamsv1alpha1.ReachPolicySpec) bool {
	return s.Teams != nil || s.Channels != nil || s.Chats != nil || s.People != nil || s.Groups != nil ||
		s.Conversations != nil
}

func allows(s *teamsv1alpha1.ReachPolicySpec, p Place) (bool, string) {
	if !restricts(s) {
		return true, ""
	}
	switch p.Kind {
	case KindUser:
		return allowsPerson(s.People, p)
	case KindChannel:
		if listed(s.Teams, p.Team) || (p.ID != "" && listed(s.Channels, p.ID)) {
			return true, ""
		}
		return false, "neither the team nor the channel is listed"
	case KindChat:
		return listed(s.Chats, p.ID), "the chat is not listed"
	case KindConversation:
		return listed(s.Conversations, p.ID), "the conversation is not listed"
	case KindTeam: // a team audience: the team's roster
		return listed(s.Teams, p.ID), "the team is not listed"
	case KindGroup: // a group audience
		return listed(s.Groups, p.ID), "the group is not listed"
	}
	return false, "unknown kind of target"
}

func allowsPerson(people *teamsv1alpha1.PeopleReach, p Place) (bool, string) {
	if people == nil {
		return false, "the policy allows no people"
	}
	if p.UPN != "" {
		upn := strings.ToLower(p.UPN)
		for _, u := range people.UserPrincipalNames {
			if strings.ToLower(u) == upn {
				return true, ""
			}
		}
		_, domain, _ := strings.Cut(upn, "@")
		for _, d := range people.Domains {
			if strings.ToLower(strings.TrimPrefix(d, "@")) == domain {
				return true, ""
			}
		}
		return false, "neither the user principal name nor its domain is listed"
	}
	if strings.HasPrefix(p.ID, "29:") {
		return false, "a Teams user id (29:...) cannot be checked against the policy: name the user by object id or user principal name"
	}
	for _, id := range people.IDs {
		if strings.EqualFold(id, p.ID) {
			return true, ""
		}
	}
	return false, "the object id is not listed"
}

func listed(l *teamsv1alpha1.ReachList, id string) bool {
	return l != nil && slices.ContainsFunc(l.IDs, func(s string) bool { return strings.EqualFold(s, id) })
}

// CheckAudience refuses an audience larger than a policy's maxAudience.
func (ps Policies) CheckAudience(size int) *Refusal {
	for _, pol := range ps {
		if m := pol.Spec.MaxAudience; m != nil && size > int(*m) {
			return &Refusal{Policy: pol.Name, Reason: teamsv1alpha1.AudienceRefusedReason, Message: fmt.Sprintf(
				"ReachPolicy %q allows audiences of at most %d people; this one has %d: narrow the audience, or ask the "+
					"platform team", pol.Name, *m, size)}
		}
	}
	return nil
}

// Share is the namespace's weight at the limiters and its cap in requests per second (0: none):
// the smallest of the policies' weights and caps, so that adding a policy never widens a share.
func (ps Policies) Share() (weight float64, maxRPS float64) {
	weight = 1
	first := true
	for _, pol := range ps {
		if w := pol.Spec.Weight; w != nil {
			if first || float64(*w) < weight {
				weight = float64(*w)
			}
			first = false
		}
		if c := pol.Spec.MaxSendsPerMinute; c != nil {
			rps := float64(*c) / 60
			if maxRPS == 0 || rps < maxRPS {
				maxRPS = rps
			}
		}
	}
	return weight, maxRPS
}
