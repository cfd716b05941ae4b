package botendpoint

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"

	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/optout"
)

// Default keywords: a person replies one of them, alone, in their 1:1 chat with the bot.
var (
	DefaultOptOutKeywords = []string{"stop"}
	DefaultOptInKeywords  = []string{"start"}
)

// Confirmations the bot replies with.
const (
	optedOutReply = "You will no longer get notifications from this bot. Reply %q to get them again."
	optedInReply  = "Notifications from this bot are on again. Reply %q to stop them."
)

// Replier answers a person in the conversation of an activity, as the activity's bot.
type Replier interface {
	Reply(ctx context.Context, a *Activity, text string) error
}

// OptOuts acts on "stop" and "start" in 1:1 chats: it records the person's choice for the bot
// (optout.Store) and confirms it in the chat.
type OptOuts struct {
	Store   *optout.Store
	Replier Replier
	// OptOut and OptIn are the keywords, matched case-insensitively against the whole message
	// (trailing punctuation ignored).
	OptOut, OptIn []string
	Log           logr.Logger
}

// HandleActivity implements ActivityHandler for message activities.
func (h *OptOuts) HandleActivity(ctx context.Context, a *Activity) (bool, error) {
	if a.Conversation.ConversationType != ConversationPersonal || a.From.AADObjectID == "" {
		return false, nil
	}
	word := keyword(a.Text)
	var stop bool
	switch {
	case contains(h.OptOut, word):
		stop = true
	case contains(h.OptIn, word):
	default:
		return false, nil
	}
	if _, err := h.Store.Set(ctx, a.BotAppID(), a.TenantID(), a.From.AADObjectID, stop); err != nil {
		return false, err // the Connector delivers it again
	}
	text := fmt.Sprintf(optedInReply, first(h.OptOut))
	if stop {
		text = fmt.Sprintf(optedOutReply, first(h.OptIn))
	}
	if h.Replier != nil {
		if err := h.Replier.Reply(ctx, a, text); err != nil {
			// Recorded already; a failed confirmation is not worth a second delivery.
			h.Log.Error(err, "Confirming an opt-out choice in the chat failed", "optedOut", stop)
		}
	}
	return true, nil
}

// keyword is the message as one lower-case word: whitespace and trailing punctuation trimmed.
func keyword(text string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(text), ".!?"))
}

func contains(words []string, w string) bool {
	for _, k := range words {
		if strings.EqualFold(strings.TrimSpace(k), w) && w != "" {
			return true
		}
	}
	return false
}

func first(words []string) string {
	if len(words) == 0 {
		return ""
	}
	return words[0]
}

// ConnectorReplier replies through the Bot Framework client of credentials of the activity's
// bot in its tenant.
type ConnectorReplier struct {
	Directory *Directory
}

// Reply implements Replier.
func (r *ConnectorReplier) Reply(ctx context.Context, a *Activity, text string) error {
	c, err := r.Directory.ClientsFor(ctx, a.BotAppID(), a.TenantID())
	if err != nil {
		return err
	}
	reply := &botframework.Activity{Type: botframework.ActivityTypeMessage, Text: text, TextFormat: botframework.TextFormatPlain}
	_, err = c.Bot.ReplyToActivity(ctx, a.ServiceURL, a.Conversation.ID, a.ID, reply)
	return err
}
