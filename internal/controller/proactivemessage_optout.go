package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/optout"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// OptOutPolicy is what the ProactiveMessage controller needs of opt-outs (docs/bot-endpoint.md).
type OptOutPolicy struct {
	// Lookup says whether a person told the bot to stop (the record the bot endpoint keeps).
	Lookup optout.Lookup
	// Namespaces reads Namespace metadata, for Override.
	Namespaces client.Reader
	// Live, when set, reads a Namespace the cache does not show yet.
	Live client.Reader
	// Override selects the namespaces whose messages may set spec.ignoreOptOut
	// (--opt-out-override-namespace-selector); nil or Nothing: none.
	Override labels.Selector
}

// OptOutIgnoredEvent is the Normal event of a message sent to an opted-out person because it
// sets spec.ignoreOptOut in a namespace allowed to.
const OptOutIgnoredEvent = teamsv1alpha1.OptOutIgnoredReason

// checkOptOut ends, unsent, a message to a person who told the bot to stop. It runs just before
// the send, so an opt-out (or an opt-in) up to that moment counts. Only 1:1 targets whose
// person is known by Entra object id are checked (status.userId of the target).
func (r *ProactiveMessageReconciler) checkOptOut(ctx context.Context, s *messageScope) error {
	p := r.OptOut
	if p == nil || p.Lookup == nil || s.target.Status.Kind != targetKindPersonal || s.target.Status.UserID == "" {
		return nil
	}
	opted, err := p.Lookup.IsOptedOut(ctx, s.clients.AppID, s.tenantID, s.target.Status.UserID)
	if err != nil {
		return fmt.Errorf("reading the opt-out record: %w", err)
	}
	if !opted {
		return nil
	}
	note := ""
	if s.msg.Spec.IgnoreOptOut {
		allowed, err := p.overrideAllowed(ctx, s.msg.Namespace)
		if err != nil {
			return err
		}
		if allowed {
			r.Recorder.Eventf(s.msg, nil, corev1.EventTypeNormal, OptOutIgnoredEvent, "Send",
				"The recipient opted out of this bot; sent anyway (spec.ignoreOptOut, allowed in this namespace)")
			return nil
		}
		note = "; spec.ignoreOptOut has no effect in this namespace (the manager's --opt-out-override-namespace-selector does not select it)"
	}
	s.msg.Status.Phase = teamsv1alpha1.PhaseOptedOut
	status.MarkReady(s.msg, teamsv1alpha1.RecipientOptedOutReason, fmt.Sprintf(
		"Not sent: the recipient of ConversationTarget %q told the bot to stop sending notifications (they can "+
			"reply start to the bot)%s", s.target.Name, note))
	return outcome.Requeue(0)
}

// overrideAllowed reports whether namespace may send to opted-out people.
func (p *OptOutPolicy) overrideAllowed(ctx context.Context, namespace string) (bool, error) {
	switch {
	case p.Override == nil:
		return false, nil
	case p.Override.Empty(): // "*": every namespace
		return true, nil
	}
	set, found, err := namespaceLabels(ctx, p.Namespaces, p.Live, namespace)
	return found && p.Override.Matches(set), err
}
