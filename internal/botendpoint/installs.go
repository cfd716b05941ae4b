package botendpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
)

// The endpoint marks the objects an install or removal affects (an annotation), so whichever
// replica leads looks again at once, and records an event on each.
// +kubebuilder:rbac:groups=teams.operator.dev,resources=teamsappinstallations;conversationtargets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Installs acts on installationUpdate and conversationUpdate activities: when the bot was added
// to or removed from a personal chat, a team or a group chat, the TeamsAppInstallations and
// ConversationTargets of that place, with credentials of that bot in that tenant, look again at
// once (their controllers update status) and get an event.
type Installs struct {
	// Client reads the objects from the manager's cache and patches their annotations.
	Client    client.Client
	Directory *Directory
	Recorder  events.EventRecorder
}

// Scopes of an install, as TeamsAppInstallation names them.
const (
	scopeUser = "user"
	scopeTeam = "team"
	scopeChat = "chat"
)

// installChange is what an activity says happened.
type installChange struct {
	added bool
	scope string // user, team or chat
	// Identity of the place: the user's Entra object id and 29: id, the team's Graph id, the chat id.
	userObjectID, userBotID, teamID, chatID, conversationID string
}

// HandleActivity implements ActivityHandler.
func (h *Installs) HandleActivity(ctx context.Context, a *Activity) (bool, error) {
	ch, ok := changeOf(a)
	if !ok {
		return false, nil
	}
	appID, tenantID := a.BotAppID(), a.TenantID()
	mark := fmt.Sprintf("%s %s %s", a.Type, map[bool]string{true: "added", false: "removed"}[ch.added], a.ID)
	touched := 0
	var installs teamsv1alpha1.TeamsAppInstallationList
	if err := h.Client.List(ctx, &installs); err != nil {
		return false, fmt.Errorf("listing TeamsAppInstallations: %w", err)
	}
	for i := range installs.Items {
		o := &installs.Items[i]
		if ch.matchesInstallation(o) && h.Directory.Matches(ctx, o.Namespace, o.Spec.CredentialsRef, appID, tenantID) {
			if err := h.touch(ctx, o, ch, mark); err != nil {
				return false, err
			}
			touched++
		}
	}
	var targets teamsv1alpha1.ConversationTargetList
	if err := h.Client.List(ctx, &targets); err != nil {
		return false, fmt.Errorf("listing ConversationTargets: %w", err)
	}
	for i := range targets.Items {
		o := &targets.Items[i]
		if ch.matchesTarget(o) && h.Directory.Matches(ctx, o.Namespace, o.Spec.CredentialsRef, appID, tenantID) {
			if err := h.touch(ctx, o, ch, mark); err != nil {
				return false, err
			}
			touched++
		}
	}
	return touched > 0, nil
}

// changeOf reads an install or removal of the recipient bot from a, if it is one.
func changeOf(a *Activity) (installChange, bool) {
	ch := installChange{conversationID: a.Conversation.ID}
	switch a.Type {
	case TypeInstallationUpdate:
		switch {
		case strings.HasPrefix(a.Action, "add"):
			ch.added = true
		case strings.HasPrefix(a.Action, "remove"):
		default:
			return ch, false
		}
	case TypeConversationUpdate:
		bot := botIDPrefix + a.BotAppID()
		switch {
		case hasAccount(a.MembersAdded, bot):
			ch.added = true
		case hasAccount(a.MembersRemoved, bot):
		default:
			return ch, false // other members came or went
		}
	default:
		return ch, false
	}
	switch a.Conversation.ConversationType {
	case ConversationPersonal:
		ch.scope, ch.userObjectID, ch.userBotID = scopeUser, strings.ToLower(a.From.AADObjectID), a.From.ID
	case ConversationChannel:
		ch.scope = scopeTeam
		if a.ChannelData != nil && a.ChannelData.Team != nil {
			ch.teamID = strings.ToLower(a.ChannelData.Team.AADGroupID)
		}
	case ConversationGroupChat:
		ch.scope, ch.chatID = scopeChat, a.Conversation.ID
	default:
		return ch, false
	}
	return ch, true
}

func hasAccount(accounts []botframework.ChannelAccount, id string) bool {
	for _, m := range accounts {
		if strings.EqualFold(m.ID, id) {
			return true
		}
	}
	return false
}

func (ch installChange) matchesInstallation(o *teamsv1alpha1.TeamsAppInstallation) bool {
	s := o.Spec.Scope
	switch ch.scope {
	case scopeUser:
		if s.User == nil || ch.userObjectID == "" {
			return false
		}
		return same(s.User.ID, ch.userObjectID) || same(o.Status.UserID, ch.userObjectID) ||
			s.User.ID == "" && o.Status.UserID == "" // a UPN not resolved yet: let it look
	case scopeTeam:
		// Without the team's Graph id (Teams sends aadGroupId), every team installation looks again.
		return s.Team != nil && (ch.teamID == "" || strings.EqualFold(s.Team.ID, ch.teamID))
	case scopeChat:
		return s.Chat != nil && same(s.Chat.ID, ch.chatID)
	}
	return false
}

// same compares two ids, case-insensitively; an empty id matches nothing.
func same(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

func (ch installChange) matchesTarget(o *teamsv1alpha1.ConversationTarget) bool {
	s := o.Spec
	switch ch.scope {
	case scopeUser:
		if s.User == nil {
			return false
		}
		return same(s.User.ID, ch.userObjectID) || same(s.User.ID, ch.userBotID) ||
			same(o.Status.ConversationID, ch.conversationID) ||
			s.User.UserPrincipalName != "" && !ready(o.Status.Conditions) // a UPN target still waiting
	case scopeTeam:
		return s.Channel != nil && (ch.teamID == "" || strings.EqualFold(s.Channel.TeamID, ch.teamID))
	case scopeChat:
		return s.Chat != nil && same(s.Chat.ID, ch.chatID)
	}
	return false
}

// touch sets the annotation (the object's controller looks again) and records the event.
func (h *Installs) touch(ctx context.Context, o client.Object, ch installChange, mark string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{teamsv1alpha1.BotActivityAnnotation: mark}}})
	if err != nil {
		return err
	}
	if err := h.Client.Patch(ctx, o, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("marking %s/%s: %w", o.GetNamespace(), o.GetName(), err)
	}
	if h.Recorder != nil {
		reason, verb := teamsv1alpha1.AppInstalledInTeamsReason, "installed"
		if !ch.added {
			reason, verb = teamsv1alpha1.AppRemovedInTeamsReason, "removed"
		}
		h.Recorder.Eventf(o, nil, corev1.EventTypeNormal, reason, "BotActivity",
			"Teams reported the bot's app %s in %s scope; looking again now", verb, ch.scope)
	}
	return nil
}

func ready(conds []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conds, teamsv1alpha1.ReadyCondition)
}
