package operator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/graph"
)

// InvokeAdaptiveCardAction is the invoke Teams sends when someone presses an Action.Execute
// button (Universal Actions for Adaptive Cards).
const InvokeAdaptiveCardAction = "adaptiveCard/action"

// Content types of an adaptiveCard/action answer (Microsoft's AdaptiveCardInvokeResponse).
const (
	invokeCardType    = "application/vnd.microsoft.card.adaptive"
	invokeMessageType = "application/vnd.microsoft.activity.message"
)

// setupCardActions registers the handler of the operator's card buttons (today the Alertmanager
// card's) with the bot endpoint.
func setupCardActions(mgr ctrl.Manager, opts Options, factory *controller.SecretClientFactory, registry *botendpoint.Registry) {
	if !opts.BotEndpoint.Enabled() {
		return
	}
	actions := alertmanager.NewActions(alertmanager.ActionOptions{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Metadata: mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("alertmanager-actions"),
		APISecret: opts.AlertmanagerAPISecret,
		Bots:      &botendpoint.Directory{Reader: mgr.GetClient(), Clients: factory},
		Groups:    graphGroups{clients: factory},
	})
	registry.HandleInvoke(InvokeAdaptiveCardAction, cardActionHandler(actions))
}

// cardActionHandler turns an adaptiveCard/action invoke into a press of the card's button and
// its result into the invoke's answer: HTTP 200 with an AdaptiveCardInvokeResponse whose
// statusCode says how it went and whose value is the card to show (or a message).
func cardActionHandler(actions *alertmanager.Actions) botendpoint.InvokeHandler {
	return botendpoint.InvokeHandlerFunc(func(ctx context.Context, a *botendpoint.Activity) botendpoint.InvokeResponse {
		var v struct {
			Action struct {
				Type string          `json:"type"`
				Verb string          `json:"verb"`
				Data json.RawMessage `json:"data"`
			} `json:"action"`
		}
		if err := json.Unmarshal(a.Value, &v); err != nil || v.Action.Type != "Action.Execute" {
			return invokeAnswer(alertmanager.InvokeResult{StatusCode: http.StatusBadRequest,
				Message: "The button is not an Action.Execute."})
		}
		res := actions.Handle(ctx, alertmanager.Invoke{
			BotAppID: a.BotAppID(), ConversationID: a.Conversation.ID, TenantID: a.TenantID(), ReplyToID: a.ReplyToID,
			UserName: a.From.Name, UserAADObjectID: a.From.AADObjectID, Verb: v.Action.Verb, Data: v.Action.Data,
		})
		return invokeAnswer(res)
	})
}

func invokeAnswer(res alertmanager.InvokeResult) botendpoint.InvokeResponse {
	body := map[string]any{"statusCode": res.StatusCode, "type": invokeMessageType, "value": res.Message}
	if res.Card != nil {
		body["type"], body["value"] = invokeCardType, res.Card
	}
	return botendpoint.InvokeResponse{Status: http.StatusOK, Body: body}
}

// graphGroups checks a target's allowedGroups with Graph's checkMemberGroups, using the
// credentials of the target's bot (application permissions User.Read.All and GroupMember.Read.All).
type graphGroups struct{ clients controller.ClientFactory }

func (g graphGroups) IsMemberOfAny(ctx context.Context, target *teamsv1alpha1.ConversationTarget, userID string, groups []string) (bool, error) {
	c, err := g.clients.For(ctx, target.Namespace, target.Spec.CredentialsRef)
	if err != nil {
		return false, err
	}
	mc, ok := c.Graph.(graph.MemberChecker)
	if !ok {
		return false, errors.New("the Graph client cannot check group membership")
	}
	got, err := mc.CheckMemberGroups(ctx, userID, groups)
	return len(got) > 0, err
}
