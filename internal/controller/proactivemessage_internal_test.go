package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

func TestMessageFailureNamesTheFix(t *testing.T) {
	tests := map[string]struct {
		reason     string
		wantReason string
		wantText   string
	}{
		"blocked user":          {msapi.ReasonBlockedByUser, teamsv1alpha1.BlockedByUserReason, "has blocked the bot"},
		"not in roster":         {msapi.ReasonBotNotInRoster, teamsv1alpha1.BotNotInRosterReason, "TeamsAppInstallation"},
		"not installed for him": {msapi.ReasonBotNotInstalledForUser, teamsv1alpha1.BotNotInstalledReason, "personal scope"},
		"disabled by admin":     {msapi.ReasonBotDisabledByAdmin, teamsv1alpha1.BotDisabledReason, "admin"},
		"too large":             {msapi.ReasonMessageTooLarge, teamsv1alpha1.MessageTooLargeReason, "shorten"},
		"conversation gone":     {msapi.ReasonConversationNotFound, teamsv1alpha1.ConversationNotFound, `"alerts"`},
		"bad argument":          {msapi.ReasonBadArgument, teamsv1alpha1.MessageRejectedReason, "HTTP 400"},
		"bot not registered":    {msapi.ReasonBotNotRegistered, teamsv1alpha1.BotNotRegisteredReason, "Azure Bot"},
		"token refused":         {msapi.ReasonUnauthorized, teamsv1alpha1.AuthenticationFailedReason, "credentials Secret"},
		"500 is not retried":    {msapi.ReasonServiceError, teamsv1alpha1.ServiceErrorReason, "HTTP 500"},
		"service URL refused":   {msapi.ReasonServiceURLRefused, teamsv1alpha1.ServiceURLRefusedReason, "serviceUrl"},
		"other 403":             {msapi.ReasonForbidden, teamsv1alpha1.PermissionDeniedReason, "HTTP 403"},
		"unlisted status":       {msapi.ReasonUnexpectedStatus, teamsv1alpha1.SendFailedReason, "recreate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, ok := messageWords("alerts").fixes[tc.reason]
			if !ok {
				f = messageWords("alerts").fallback
			}
			g.Expect(f.reason).To(Equal(tc.wantReason))
			g.Expect(f.text).To(ContainSubstring(tc.wantText))
		})
	}
}

func message(name string, created time.Time, mutate func(*teamsv1alpha1.ProactiveMessage)) *teamsv1alpha1.ProactiveMessage {
	m := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{
		Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(created)}}
	m.Spec.Text = "x"
	if mutate != nil {
		mutate(m)
	}
	return m
}

func TestHoldsLine(t *testing.T) {
	now := time.Now()
	future, past := metav1.NewTime(now.Add(time.Hour)), metav1.NewTime(now.Add(-time.Hour))
	tests := map[string]struct {
		mutate func(*teamsv1alpha1.ProactiveMessage)
		want   bool
	}{
		"new message":             {want: true},
		"throttled, still to go":  {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Status.Phase = teamsv1alpha1.PhaseSending }, want: true},
		"delivered":               {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Status.Phase = teamsv1alpha1.PhaseDelivered }},
		"scheduled for later":     {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.SendAt = &future }},
		"scheduled time has come": {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.SendAt = &past }, want: true},
		"expired by time":         {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.ExpiresAt = &past }},
		"a reply goes to a thread": {mutate: func(m *teamsv1alpha1.ProactiveMessage) {
			m.Spec.ReplyTo = &teamsv1alpha1.LocalObjectReference{Name: "root"}
		}},
		"invalid never goes": {mutate: func(m *teamsv1alpha1.ProactiveMessage) { m.Spec.Text = "" }},
		"being deleted": {mutate: func(m *teamsv1alpha1.ProactiveMessage) {
			m.DeletionTimestamp = &past
		}},
		"failed for this generation": {mutate: func(m *teamsv1alpha1.ProactiveMessage) {
			m.Status.Phase, m.Status.ObservedGeneration = teamsv1alpha1.PhaseFailed, 1
		}},
		"failed, then the spec changed": {mutate: func(m *teamsv1alpha1.ProactiveMessage) {
			m.Status.Phase, m.Status.ObservedGeneration, m.Generation = teamsv1alpha1.PhaseFailed, 1, 2
		}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(holdsLine(message("m", now, tc.mutate), now)).To(Equal(tc.want))
		})
	}
}

func TestOlderMessage(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Now().Truncate(time.Second)
	a, b := message("b", t0, nil), message("a", t0.Add(time.Second), nil)
	g.Expect(olderMessage(a, b)).To(BeTrue(), "the earlier timestamp wins over the name")
	c, d := message("m-01", t0, nil), message("m-02", t0, nil)
	g.Expect(olderMessage(c, d)).To(BeTrue(), "same second: by name")
	g.Expect(olderMessage(d, c)).To(BeFalse())
}
