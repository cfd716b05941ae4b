package operator

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/graph"
)

// TestCardActionAnswers: the invoke's answer is an AdaptiveCardInvokeResponse, and a value
// that is not an Action.Execute is answered without reaching the buttons.
func TestCardActionAnswers(t *testing.T) {
	g := NewWithT(t)
	h := cardActionHandler(alertmanager.NewActions(alertmanager.ActionOptions{}))
	resp := h.Invoke(context.Background(), &botendpoint.Activity{Value: json.RawMessage(`{"action":{"type":"Action.Submit"}}`)})
	g.Expect(resp.Status).To(Equal(http.StatusOK))
	g.Expect(resp.Body).To(Equal(map[string]any{"statusCode": http.StatusBadRequest, "type": invokeMessageType,
		"value": "The button is not an Action.Execute."}))

	// An unknown verb is answered by the buttons' handler before any read.
	resp = h.Invoke(context.Background(), &botendpoint.Activity{
		Value: json.RawMessage(`{"action":{"type":"Action.Execute","verb":"other.verb","data":{}}}`)})
	body := resp.Body.(map[string]any)
	g.Expect(body["statusCode"]).To(Equal(http.StatusBadRequest))
	g.Expect(body["value"]).To(ContainSubstring("the action is unknown"))

	card := invokeAnswer(alertmanager.InvokeResult{StatusCode: http.StatusOK, Card: nil, Message: "x"})
	g.Expect(card.Body.(map[string]any)["type"]).To(Equal(invokeMessageType))
}

type memberFake struct {
	*graph.Fake
	members map[string]bool
}

func (m memberFake) CheckMemberGroups(_ context.Context, user string, groups []string) ([]string, error) {
	if m.members[user] {
		return groups[:1], nil
	}
	return nil, nil
}

type oneClient struct{ c *controller.Clients }

func (o oneClient) For(context.Context, string, *teamsv1alpha1.LocalObjectReference) (*controller.Clients, error) {
	return o.c, nil
}

func TestGraphGroups(t *testing.T) {
	g := NewWithT(t)
	target := &teamsv1alpha1.ConversationTarget{}
	ok, err := graphGroups{clients: oneClient{&controller.Clients{Graph: memberFake{Fake: &graph.Fake{}, members: map[string]bool{"ada": true}}}}}.
		IsMemberOfAny(context.Background(), target, "ada", []string{"g1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	ok, err = graphGroups{clients: oneClient{&controller.Clients{Graph: memberFake{Fake: &graph.Fake{}}}}}.
		IsMemberOfAny(context.Background(), target, "bob", []string{"g1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse())
	_, err = graphGroups{clients: oneClient{&controller.Clients{Graph: &graph.Fake{}}}}.
		IsMemberOfAny(context.Background(), target, "bob", []string{"g1"})
	g.Expect(err).To(MatchError(ContainSubstring("cannot check group membership")))
}
