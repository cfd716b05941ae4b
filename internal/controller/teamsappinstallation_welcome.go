package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/graph"
)

// welcome sends spec.welcome once per object, the first time the app is seen installed
// (installed by this object, adopted, or installed by a person and seen live by the bot
// endpoint). At most once: the WelcomeSentAnnotation is persisted, under an optimistic lock,
// before the send, so neither a restart, a reinstall by drift repair, a resync nor a stale
// cache sends it twice. A failure is reported (event WelcomeFailed) and never retried, and never
// holds the installation back.
func (r *TeamsAppInstallationReconciler) welcome(ctx context.Context, s *taiScope) error {
	obj := s.obj
	if obj.Spec.Welcome == nil || obj.Status.Welcome != nil {
		return nil
	}
	if sent, ok := obj.Annotations[teamsv1alpha1.WelcomeSentAnnotation]; ok {
		// Sent (or attempted) before the status was written: record it, never send again.
		obj.Status.Welcome = &teamsv1alpha1.WelcomeStatus{InstallationID: sent, SentAt: metav1.Now()}
		return nil
	}
	activity, err := welcomeActivity(obj.Spec.Welcome)
	if err != nil {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, teamsv1alpha1.WelcomeFailedReason, "Welcome",
			"The welcome message cannot be sent: %v", err)
		return nil // spec errors wait for a spec change; the welcome stays unsent
	}
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[teamsv1alpha1.WelcomeSentAnnotation] = s.inst.ID
	if err := s.patcher.PatchMetadataLocked(ctx, obj); err != nil {
		return fmt.Errorf("recording the welcome message before sending it: %w", err)
	}
	activityID, err := r.sendWelcome(ctx, s, activity)
	obj.Status.Welcome = &teamsv1alpha1.WelcomeStatus{InstallationID: s.inst.ID,
		SentAt: metav1.NewTime(time.Now().Truncate(time.Second)), ActivityID: activityID}
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Sending the welcome message failed; it is not sent again")
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, teamsv1alpha1.WelcomeFailedReason, "Welcome",
			"The welcome message could not be sent, and is not tried again: %v", err)
		return nil
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, teamsv1alpha1.WelcomeSentReason, "Welcome",
		"Sent the welcome message to %s", taiScopeText(obj))
	return nil
}

// welcomeActivity builds the message with the rules of a ProactiveMessage's content.
func welcomeActivity(w *teamsv1alpha1.WelcomeMessage) (*botframework.Activity, error) {
	spec := &teamsv1alpha1.ProactiveMessageSpec{Text: w.Text, TextFormat: w.TextFormat, Summary: w.Summary,
		AdaptiveCard: w.AdaptiveCard}
	if err := delivery.Validate(spec); err != nil {
		return nil, err
	}
	if _, err := delivery.CheckSize(spec); err != nil {
		return nil, err
	}
	a, err := delivery.BuildActivity(spec)
	if err != nil {
		return nil, err
	}
	if err := cardcheck.Attachments(a); err != nil {
		return nil, fmt.Errorf("the Adaptive Card would not render in Teams, at %w", err)
	}
	return a, nil
}

// sendWelcome posts to the user's 1:1 chat, the group chat, or a new thread in the team's
// General channel.
func (r *TeamsAppInstallationReconciler) sendWelcome(ctx context.Context, s *taiScope, a *botframework.Activity) (string, error) {
	c := s.clients
	serviceURL := c.DefaultServiceURL
	switch s.target.Kind {
	case graph.ScopeTeam:
		general, err := c.Graph.GetPrimaryChannel(ctx, s.target.ID)
		if err != nil {
			return "", fmt.Errorf("finding the team's General channel: %w", err)
		}
		res, err := c.Bot.CreateConversation(ctx, serviceURL, botframework.ConversationParameters{
			IsGroup: true, TenantID: c.TenantID, Activity: delivery.Addressed(a, general.ID, c.TenantID),
			ChannelData: &botframework.ChannelData{Channel: &botframework.ChannelInfo{ID: general.ID},
				Tenant: &botframework.TenantInfo{ID: c.TenantID}},
		})
		return res.ActivityID, err
	case graph.ScopeChat:
		return c.Bot.SendActivity(ctx, serviceURL, s.target.ID, delivery.Addressed(a, s.target.ID, c.TenantID))
	default:
		chat := s.obj.Status.ChatID
		if chat == "" {
			return "", fmt.Errorf("the installation's chat is not known")
		}
		return c.Bot.SendActivity(ctx, serviceURL, chat, delivery.Addressed(a, chat, c.TenantID))
	}
}
