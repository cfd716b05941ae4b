package controller

import (
	"context"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// resolveChannel takes the channel id (the General channel's when none is given) as the
// conversation: every message starts a new thread there. The bot must be in the team, and in a
// private or shared channel its app must also have been added to the channel.
func (r *ConversationTargetReconciler) resolveChannel(ctx context.Context, s *targetScope) error {
	if err := cloudSupports(s, "team", "channel"); err != nil {
		return err
	}
	teamID := s.target.Spec.Channel.TeamID
	ch, err := r.lookupChannel(ctx, s)
	if err != nil {
		return err
	}
	app, err := installedBot(ctx, s, graph.Scope{Kind: graph.ScopeTeam, ID: teamID})
	if msapi.IsNotFound(err) {
		return outcome.Stall(teamsv1alpha1.ExternalNotFoundReason, targetTeamNotFound(teamID, s.clients.TenantID))
	}
	if err != nil {
		return r.apiFailure(ctx, s, fmt.Errorf("listing the apps installed in team %s: %w", teamID, err), targetPermTeamInstallRead)
	}
	if app == nil {
		return r.notInstalled(ctx, s, "the bot is not installed in team %s: create a "+
			"TeamsAppInstallation with scope.team.id %s (or add the app to the team in Teams); this target becomes "+
			"Ready by itself once it is installed", teamID, teamID)
	}
	s.target.Status.ChannelType = ch.MembershipType
	note, err := r.channelAdmits(ctx, s, ch, app.TeamsApp.ID)
	if err != nil {
		return err
	}
	s.ready(teamsv1alpha1.ResolvedReason, targetKindChannel, ch.ID, s.serviceURL)
	if note != "" {
		status.MarkReady(s.target, teamsv1alpha1.ResolvedReason, fmt.Sprintf("Messages go to conversation %s; %s", ch.ID, note))
	}
	return nil
}

// lookupChannel reads the target's channel: the General channel when none is named. A channel
// that cannot be read for lack of permission keeps an empty membership type: before private and
// shared channels were checked no channel read was needed, and Teams still decides at send time.
func (r *ConversationTargetReconciler) lookupChannel(ctx context.Context, s *targetScope) (graph.Channel, error) {
	spec := s.target.Spec.Channel
	if spec.ChannelID == "" {
		ctrl.LoggerFrom(ctx).V(1).Info("Looking up the General channel", "teamId", spec.TeamID)
		primary, err := s.clients.Graph.GetPrimaryChannel(ctx, spec.TeamID)
		if msapi.IsNotFound(err) {
			return graph.Channel{}, outcome.Stall(teamsv1alpha1.ExternalNotFoundReason, targetTeamNotFound(spec.TeamID, s.clients.TenantID))
		}
		if err != nil {
			return graph.Channel{}, r.apiFailure(ctx, s, fmt.Errorf("looking up the General channel of team %s: %w", spec.TeamID, err), targetPermChannelRead)
		}
		return primary, nil
	}
	ch, err := s.clients.Graph.GetChannel(ctx, spec.TeamID, spec.ChannelID)
	switch {
	case msapi.IsNotFound(err):
		return graph.Channel{}, outcome.Stall(teamsv1alpha1.ExternalNotFoundReason, fmt.Sprintf("channel %s was not found "+
			"in team %s of tenant %s: fix spec.channel.channelId or spec.channel.teamId", spec.ChannelID, spec.TeamID, s.clients.TenantID))
	case msapi.IsForbidden(err):
		ctrl.LoggerFrom(ctx).Info("Cannot read the channel; its type stays unknown", "error", err.Error())
		return graph.Channel{ID: spec.ChannelID}, nil
	case err != nil:
		return graph.Channel{}, r.apiFailure(ctx, s, fmt.Errorf("reading channel %s of team %s: %w", spec.ChannelID, spec.TeamID, err), targetPermChannelRead)
	}
	return graph.Channel{ID: spec.ChannelID, MembershipType: strings.ToLower(ch.MembershipType)}, nil
}

// channelAdmits checks that the bot's app (teamsAppID) was added to a private or shared
// channel: Teams takes a bot there only if so ("Apps for shared and private channels",
// https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels;
// https://learn.microsoft.com/graph/api/channel-list-enabledapps). Microsoft's bot page says
// bots cannot post in private channels at all
// (https://learn.microsoft.com/microsoftteams/platform/concepts/bots/bot-conversations/bots-conv-channel),
// so where the operator cannot tell, it lets Teams decide and says so in the returned note.
func (r *ConversationTargetReconciler) channelAdmits(ctx context.Context, s *targetScope, ch graph.Channel, teamsAppID string) (string, error) {
	kind := ch.MembershipType
	switch kind {
	case graph.ChannelPrivate, graph.ChannelShared:
	case "":
		return "the channel's type could not be read (grant " + targetPermChannelRead + " to check private and shared " +
			"channels)", nil
	default:
		return "", nil
	}
	if n := s.clients.Cloud.Name; n != "" && n != cloud.Public && n != cloud.USGovGCC {
		// "List apps in a channel" (v1.0) is available in the global service only.
		return fmt.Sprintf("this is a %s channel: Teams delivers only if the app was added to it, which %s's Graph "+
			"cannot list", kind, n), nil
	}
	apps, err := s.clients.Graph.ListChannelApps(ctx, s.target.Spec.Channel.TeamID, ch.ID)
	if err != nil {
		if c := msapi.Classify(err); c.Retry || msapi.IsThrottled(err) {
			return "", r.apiFailure(ctx, s, fmt.Errorf("listing the apps of %s channel %s: %w", kind, ch.ID, err), permChannelApps)
		}
		ctrl.LoggerFrom(ctx).Info("Cannot list the channel's apps", "channelType", kind, "error", err.Error())
		return fmt.Sprintf("this is a %s channel: Teams delivers only if the app was added to it, and the operator could "+
			"not check (%s needs %s)", kind, "listing a channel's apps", permChannelApps), nil
	}
	for _, a := range apps {
		if strings.EqualFold(a.ID, teamsAppID) {
			return fmt.Sprintf("a %s channel the app was added to", kind), nil
		}
	}
	status.MarkStalled(s.target, teamsv1alpha1.AppNotInChannelReason, fmt.Sprintf("channel %s is a %s channel and the "+
		"app is not added to it: Teams takes a bot in a private or shared channel only where its app was added to the "+
		"channel (and its manifest lists the channel type in supportedChannelTypes); add the app to the channel in "+
		"Teams, and this target becomes Ready by itself", ch.ID, kind))
	return "", outcome.Requeue(r.notInstalledRequeue()) // keeps the conditions just set
}

// permChannelApps is the least privileged application permission of "List apps in a channel"
// the operator can hold (the "Self" installation permissions are not in its table).
const permChannelApps = "TeamsAppInstallation.ReadForTeam.All"

// sendWords are messageWords, with the fix for a private or shared channel's roster refusal:
// there the app must also have been added to the channel itself.
func (s *messageScope) sendWords() failureWords {
	w := messageWords(s.msg.Spec.TargetRef.Name)
	if t := s.target; t != nil && (t.Status.ChannelType == graph.ChannelPrivate || t.Status.ChannelType == graph.ChannelShared) {
		w.fixes[msapi.ReasonBotNotInRoster] = fix{reason: teamsv1alpha1.BotNotInRosterReason, text: fmt.Sprintf("Not sent: "+
			"Teams did not take the bot in this %s channel (HTTP 403): the app must be installed in the team and added "+
			"to the channel, with the channel type in its manifest's supportedChannelTypes (Microsoft's bot pages also "+
			"say bots cannot post in private channels); then change or recreate this message", t.Status.ChannelType)}
	}
	return w
}
