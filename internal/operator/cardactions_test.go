package operator

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/botendpoint"
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
