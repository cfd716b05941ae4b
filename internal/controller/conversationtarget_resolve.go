package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// Resolved conversation kinds, as status.kind.
const (
	targetKindPersonal  = "Personal"
	targetKindChannel   = "Channel"
	targetKindGroupChat = "GroupChat"
)

// targetPermissionRecheck is how often a target stalled on a missing Graph permission looks
// again: an admin grant changes nothing Kubernetes can watch.
const targetPermissionRecheck = 5 * time.Minute

// Graph application permissions, named in PermissionDenied messages, from the "Permissions"
// tables of https://learn.microsoft.com/en-us/graph/api/user-get,
// https://learn.microsoft.com/en-us/graph/api/team-get-primarychannel and the installedApps list pages.
const (
	targetPermUserRead    = "User.Read.All"
	targetPermChannelRead = "Channel.ReadBasic.All"
	// There is no "ReadSelfFor…" application permission: team-list-installedapps and
	// chat-list-installedapps list ReadFor{Team,Chat}.All, and ReadWriteSelfFor… (which sees
	// only the app whose webApplicationInfo.id is the caller).
	targetPermTeamInstallRead = "TeamsAppInstallation.ReadForTeam.All (or TeamsAppInstallation.ReadWriteSelfForTeam.All " +
		"when the app's manifest has webApplicationInfo.id = the bot's app id)"
	targetPermChatInstallRead = "TeamsAppInstallation.ReadForChat.All (or TeamsAppInstallation.ReadWriteSelfForChat.All " +
		"when the app's manifest has webApplicationInfo.id = the bot's app id)"
)

func (s *targetScope) ready(reason, kind, conversationID, serviceURL string) {
	st := &s.target.Status
	st.ConversationID, st.ServiceURL, st.TenantID, st.Kind = conversationID, serviceURL, s.tenantID, kind
	status.MarkReady(s.target, reason, fmt.Sprintf("Messages go to conversation %s", conversationID))
}

// notInstalled records a target whose bot is not installed where it points. It is progressing
// while a TeamsAppInstallation of the namespace is installing the app there (typically applied
// in the same sync), and Stalled otherwise: someone must install the app, and a GitOps waiter
// must stop and say so rather than hang until its timeout (docs/gitops.md). Either way the
// target looks again (the app may be installed outside the cluster, which no watch sees), and
// any TeamsAppInstallation change in the namespace wakes it.
func (r *ConversationTargetReconciler) notInstalled(ctx context.Context, s *targetScope, format string, args ...any) error {
	message := fmt.Sprintf(format, args...)
	pending, err := r.installing(ctx, s.target)
	if err != nil {
		return err
	}
	if pending != "" {
		return outcome.Wait(teamsv1alpha1.BotNotInstalledReason,
			fmt.Sprintf("%s; TeamsAppInstallation %s is installing it", message, pending), r.notInstalledRequeue())
	}
	status.MarkStalled(s.target, teamsv1alpha1.BotNotInstalledReason, message)
	return outcome.Requeue(r.notInstalledRequeue()) // keeps the conditions just set
}

// installing returns the name of a TeamsAppInstallation in the target's namespace that is still
// working (neither Ready nor Stalled) on an installation where the target points, or "".
func (r *ConversationTargetReconciler) installing(ctx context.Context, target *teamsv1alpha1.ConversationTarget) (string, error) {
	list := &teamsv1alpha1.TeamsAppInstallationList{}
	if err := r.List(ctx, list, client.InNamespace(target.Namespace)); err != nil {
		return "", fmt.Errorf("listing TeamsAppInstallations: %w", err)
	}
	for i := range list.Items {
		inst := &list.Items[i]
		if inst.DeletionTimestamp.IsZero() && !status.IsReady(inst) && !status.IsStalled(inst) &&
			installationCovers(&inst.Spec.Scope, &target.Spec) {
			return inst.Name, nil
		}
	}
	return "", nil
}

// installationCovers reports whether an installation in scope puts the bot where the target
// points. A user given by object id on one side and by UPN on the other cannot be compared
// without Graph, so it counts.
func installationCovers(scope *teamsv1alpha1.InstallationScope, spec *teamsv1alpha1.ConversationTargetSpec) bool {
	switch {
	case spec.Channel != nil:
		return scope.Team != nil && strings.EqualFold(scope.Team.ID, spec.Channel.TeamID)
	case spec.Chat != nil:
		return scope.Chat != nil && scope.Chat.ID == spec.Chat.ID
	case spec.User != nil && scope.User != nil:
		u, su := spec.User, scope.User
		switch {
		case u.ID != "" && su.ID != "":
			return strings.EqualFold(u.ID, su.ID)
		case u.UserPrincipalName != "" && su.UserPrincipalName != "":
			return strings.EqualFold(u.UserPrincipalName, su.UserPrincipalName)
		}
		return true
	}
	return false
}

func (r *ConversationTargetReconciler) notInstalledRequeue() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return targetNotInstalledRecheck
}

// resolveUser creates (or gets back: Teams returns the existing one) the 1:1 conversation.
func (r *ConversationTargetReconciler) resolveUser(ctx context.Context, s *targetScope) error {
	log := ctrl.LoggerFrom(ctx)
	u := s.target.Spec.User
	member := u.ID
	if u.UserPrincipalName != "" {
		log.V(1).Info("Looking up user", "userPrincipalName", u.UserPrincipalName)
		user, err := s.clients.Graph.GetUser(ctx, u.UserPrincipalName)
		if msapi.IsNotFound(err) {
			return outcome.Stall(teamsv1alpha1.UserNotFoundReason, fmt.Sprintf(
				"user %s does not exist in tenant %s: fix spec.user.userPrincipalName", u.UserPrincipalName, s.clients.TenantID))
		}
		if err != nil {
			return r.apiFailure(ctx, s, fmt.Errorf("looking up user %s: %w", u.UserPrincipalName, err), targetPermUserRead)
		}
		member = user.ID
	}
	params := botframework.ConversationParameters{
		Bot:         &botframework.ChannelAccount{ID: "28:" + s.clients.AppID},
		Members:     []botframework.ChannelAccount{{ID: member}},
		TenantID:    s.tenantID,
		ChannelData: &botframework.ChannelData{Tenant: &botframework.TenantInfo{ID: s.tenantID}},
	}
	log.Info("Creating conversation", "userId", member)
	conv, err := s.clients.Bot.CreateConversation(ctx, s.serviceURL, params)
	if msapi.Classify(err).Reason == msapi.ReasonBotNotInstalledForUser {
		return r.notInstalled(ctx, s, "the bot is not installed for user %s: create a "+
			"TeamsAppInstallation with scope.user.id %s (or install the app for the user in Teams); this target "+
			"becomes Ready by itself once it is installed", targetUserName(u), member)
	}
	if err != nil {
		return r.apiFailure(ctx, s, fmt.Errorf("creating conversation with user %s: %w", targetUserName(u), err), "")
	}
	serviceURL := s.serviceURL
	if conv.ServiceURL != "" {
		// Keep the URL the Connector says the conversation lives at, if the policy allows it.
		if _, perr := s.clients.Policy.Check(conv.ServiceURL); perr == nil {
			serviceURL = conv.ServiceURL
		}
	}
	log.Info("Created conversation", "conversationId", conv.ID)
	s.target.Status.UserID = userObjectID(member) // the key of the person's opt-out
	s.ready(teamsv1alpha1.ConversationCreatedReason, targetKindPersonal, conv.ID, serviceURL)
	return nil
}

func targetUserName(u *teamsv1alpha1.UserTarget) string {
	if u.UserPrincipalName != "" {
		return u.UserPrincipalName
	}
	return u.ID
}

// cloudSupports refuses, before any call, a target whose check the configured cloud's Graph
// cannot make: a channel or chat target lists the installed apps of the team or chat.
func cloudSupports(s *targetScope, scope, what string) error {
	why := s.clients.Cloud.AppInstallationUnsupported(scope)
	if why == "" {
		return nil
	}
	return outcome.Stall(teamsv1alpha1.NotSupportedInCloudReason, fmt.Sprintf("%s (Microsoft Teams API implementation "+
		"differences in national clouds), so the operator cannot check that the bot is in the %s: install the app there "+
		"in Teams and use spec.conversation with the %s id instead", why, scope, what))
}

func targetTeamNotFound(teamID, tenantID string) string {
	return fmt.Sprintf("team %s does not exist in tenant %s: fix spec.channel.teamId", teamID, tenantID)
}

// resolveChat checks the bot is in the group chat; the chat id is the conversation id.
func (r *ConversationTargetReconciler) resolveChat(ctx context.Context, s *targetScope) error {
	if err := cloudSupports(s, "chat", "chat"); err != nil {
		return err
	}
	chatID := s.target.Spec.Chat.ID
	installed, err := r.botInstalled(ctx, s, graph.Scope{Kind: graph.ScopeChat, ID: chatID})
	if msapi.IsNotFound(err) {
		return outcome.Stall(teamsv1alpha1.ExternalNotFoundReason, fmt.Sprintf(
			"chat %s does not exist in tenant %s: fix spec.chat.id", chatID, s.clients.TenantID))
	}
	if err != nil {
		return r.apiFailure(ctx, s, fmt.Errorf("listing the apps installed in chat %s: %w", chatID, err), targetPermChatInstallRead)
	}
	if !installed {
		return r.notInstalled(ctx, s, "the bot is not installed in chat %s: create a "+
			"TeamsAppInstallation with scope.chat.id %s (or add the app to the chat in Teams); this target becomes "+
			"Ready by itself once it is installed", chatID, chatID)
	}
	s.ready(teamsv1alpha1.ResolvedReason, targetKindGroupChat, chatID, s.serviceURL)
	return nil
}

// botInstalled reports whether an app whose bot is our app is installed in the scope. It
// matches the definition's bot (expanded by the Graph client) against the credentials' client
// id. Not azureADAppId: that is the manifest's webApplicationInfo.id, null for most
// notification bots and possibly another Entra app
// (https://learn.microsoft.com/graph/api/resources/teamsappdefinition).
func (r *ConversationTargetReconciler) botInstalled(ctx context.Context, s *targetScope, scope graph.Scope) (bool, error) {
	app, err := installedBot(ctx, s, scope)
	return app != nil, err
}

// installedBot returns the installation of our bot's app in the scope, nil when there is none.
func installedBot(ctx context.Context, s *targetScope, scope graph.Scope) (*graph.Installation, error) {
	ctrl.LoggerFrom(ctx).V(1).Info("Listing installed apps", "scope", scope.Kind, "scopeId", scope.ID)
	apps, err := s.clients.Graph.ListInstalledApps(ctx, scope, "")
	if err != nil {
		return nil, err
	}
	for i := range apps {
		if strings.EqualFold(apps[i].Definition.BotID(), s.clients.AppID) {
			return &apps[i], nil
		}
	}
	return nil, nil
}

// resolveInstallationRef takes the chat of a Ready user- or chat-scope TeamsAppInstallation.
func (r *ConversationTargetReconciler) resolveInstallationRef(ctx context.Context, s *targetScope) error {
	name := s.target.Spec.InstallationRef.Name
	inst := &teamsv1alpha1.TeamsAppInstallation{}
	err := r.Get(ctx, client.ObjectKey{Namespace: s.target.Namespace, Name: name}, inst)
	if apierrors.IsNotFound(err) {
		// The TeamsAppInstallation watch wakes the target when it is created.
		return outcome.Wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
			"TeamsAppInstallation %s not found in namespace %s: create it, or fix spec.installationRef.name", name, s.target.Namespace), 0)
	}
	if err != nil {
		return fmt.Errorf("reading TeamsAppInstallation %s: %w", name, err)
	}
	if inst.Spec.Scope.Team != nil {
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, fmt.Sprintf("installationRef must name a user- or chat-scope "+
			"installation, and TeamsAppInstallation %s is in team scope: use spec.channel for a team", name))
	}
	if status.IsStalled(inst) {
		return outcome.Stall(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
			"TeamsAppInstallation %s is Stalled: see its conditions; this target becomes Ready by itself once it is", name))
	}
	if !status.IsReady(inst) || inst.Status.ChatID == "" {
		return outcome.Wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
			"TeamsAppInstallation %s is not Ready yet: see its conditions", name), 0)
	}
	kind := targetKindGroupChat
	if inst.Spec.Scope.User != nil {
		kind = targetKindPersonal
		s.target.Status.UserID = userObjectID(inst.Status.UserID)
	}
	s.ready(teamsv1alpha1.ResolvedReason, kind, inst.Status.ChatID, s.serviceURL)
	return nil
}

// apiFailure turns a failed Microsoft call into an outcome (microsoftFailure). permission is
// the Graph permission the call needs, named when it is denied.
func (r *ConversationTargetReconciler) apiFailure(ctx context.Context, s *targetScope, err error, permission string) error {
	return microsoftFailure(ctx, err, 0, failureWords{
		fixes: targetFixes,
		permission: func(error) string {
			return "Grant the bot's Entra app the Graph application permission " + permission + " (with admin consent)" +
				permissionGrantNote
		},
		secret: credentialsName(s.target.Namespace, s.target.Spec.CredentialsRef, r.DefaultCredentials),
	})
}

// targetFixes are the target's words for the Connector's and Graph's terminal answers.
var targetFixes = map[string]fix{
	msapi.ReasonBlockedByUser: {reason: teamsv1alpha1.BlockedByUserReason,
		text: "The user blocked the bot; only the user can unblock it in Teams"},
	msapi.ReasonBotDisabledByAdmin: {reason: teamsv1alpha1.BotDisabledReason,
		text: "A Teams admin disabled the bot; ask them to allow the app in the Teams admin center"},
	msapi.ReasonUnauthorized: {reason: teamsv1alpha1.AuthenticationFailedReason,
		text: "Check that the credentials belong to a registered Azure Bot"},
	msapi.ReasonBotNotRegistered: {reason: teamsv1alpha1.AuthenticationFailedReason,
		text: "Check that the credentials belong to a registered Azure Bot"},
	msapi.ReasonBadArgument: {reason: teamsv1alpha1.InvalidSpecReason,
		text: "Teams refused the conversation: check the user, the tenant and the service URL"},
}

// userObjectID returns id when it is an Entra object id (a GUID), lower case; "" for a 29: id.
func userObjectID(id string) string {
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return ""
	}
	return strings.ToLower(id)
}
