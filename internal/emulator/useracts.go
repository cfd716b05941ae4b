package emulator

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Users act: the emulator posts activities to a bot's messaging endpoint as Teams would when a
// person writes to the bot, installs or removes its app, or presses a card button. Activity
// shapes follow the Teams docs "Conversation events in your Teams bot" (conversationUpdate with
// membersAdded/membersRemoved, channelData.eventType teamMemberAdded/teamMemberRemoved),
// "installationUpdate" (action add/remove), and "Universal Actions for Adaptive Cards"
// (invoke adaptiveCard/action).

// BotEndpoint says where the bot's messaging endpoint is.
type BotEndpoint struct {
	// URL is the endpoint, e.g. https://127.0.0.1:3978/api/messages.
	URL string
	// RootCAs, when set, are the CAs that signed the endpoint's certificate (else the system's).
	RootCAs *x509.CertPool
	// ServiceURL is the serviceUrl the activities carry: the emulator's Connector,
	// {emulator URL}/teams/. The bot answers there.
	ServiceURL string
}

type botEndpointState struct {
	mu     sync.RWMutex
	cfg    BotEndpoint
	client *http.Client
}

// SetBotEndpoint sets where activities go (an empty URL stops them).
func (e *Emulator) SetBotEndpoint(b BotEndpoint) {
	c := &http.Client{Timeout: 20 * time.Second}
	if b.RootCAs != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = b.RootCAs
		c.Transport = tr
	}
	e.botEP.mu.Lock()
	defer e.botEP.mu.Unlock()
	e.botEP.cfg, e.botEP.client = b, c
}

func (e *Emulator) botEndpoint() (BotEndpoint, *http.Client) {
	e.botEP.mu.RLock()
	defer e.botEP.mu.RUnlock()
	return e.botEP.cfg, e.botEP.client
}

// User action kinds.
const (
	ActMessage   = "message"
	ActInvoke    = "invoke"
	ActInstall   = "install"
	ActUninstall = "uninstall"
)

// UserAction is something a person does in Teams that the bot hears about.
type UserAction struct {
	// Kind is message, invoke, install or uninstall.
	Kind string `json:"kind"`
	// User is who acts: an Entra object id or UPN.
	User string `json:"user"`
	// BotAppID is the bot (default DefaultBotAppID). For install and uninstall, TeamsAppID
	// names the app and its bot is the recipient.
	BotAppID   string `json:"botAppId,omitempty"`
	TeamsAppID string `json:"teamsAppId,omitempty"`
	// Scope is where: user (the 1:1 chat with the bot; default), team or chat; ScopeID is the
	// team or group chat id.
	Scope   Scope  `json:"scope,omitempty"`
	ScopeID string `json:"scopeId,omitempty"`
	// Text of a message.
	Text string `json:"text,omitempty"`
	// Name and Value of an invoke (e.g. adaptiveCard/action and {"action":{...}}); ReplyToID is
	// the activity id of the card whose button was pressed.
	Name      string          `json:"name,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	ReplyToID string          `json:"replyToId,omitempty"`
}

// BotAnswer is the bot endpoint's answer to one activity.
type BotAnswer struct {
	ActivityType string          `json:"activityType"`
	ActivityID   string          `json:"activityId"`
	Status       int             `json:"status"`
	Body         json.RawMessage `json:"body,omitempty"`
}

// Act makes a user act and posts the resulting activities (an install sends installationUpdate
// then conversationUpdate) to the bot endpoint, signed like the Bot Connector. Install and
// uninstall also change the installations the emulator's Graph reports.
func (e *Emulator) Act(ctx context.Context, a UserAction) ([]BotAnswer, error) {
	ep, client := e.botEndpoint()
	if ep.URL == "" || ep.ServiceURL == "" {
		return nil, errors.New("no bot endpoint is configured (SetBotEndpoint, or POST /_emulator/v1/bot/endpoint)")
	}
	acts, err := e.buildActivities(&a, ep.ServiceURL)
	if err != nil {
		return nil, err
	}
	answers := make([]BotAnswer, 0, len(acts))
	for _, act := range acts {
		if a.Kind == ActMessage {
			// The message is in the conversation before the bot hears of it, so the bot can reply to it.
			if err := e.storeInbound(act); err != nil {
				return nil, err
			}
		}
		ans, err := e.post(ctx, client, ep, act)
		if err != nil {
			return answers, err
		}
		answers = append(answers, ans)
	}
	return answers, nil
}

func (e *Emulator) post(ctx context.Context, client *http.Client, ep BotEndpoint, act map[string]any) (BotAnswer, error) {
	recipient, _ := act["recipient"].(map[string]any)
	botID, _ := recipient["id"].(string)
	tok, err := e.signForBot(strings.TrimPrefix(botID, "28:"), ep.ServiceURL)
	if err != nil {
		return BotAnswer{}, err
	}
	body, err := json.Marshal(act)
	if err != nil {
		return BotAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return BotAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return BotAnswer{}, fmt.Errorf("posting to the bot endpoint: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ans := BotAnswer{ActivityType: act["type"].(string), ActivityID: act["id"].(string), Status: resp.StatusCode}
	if json.Valid(b) && len(bytes.TrimSpace(b)) > 0 {
		ans.Body = b
	}
	return ans, nil
}

// OperationInbound is the StoredActivity.Operation of a message a user sent to the bot.
const OperationInbound = "inbound"

// storeInbound records a user's message in its conversation.
func (e *Emulator) storeInbound(act map[string]any) error {
	raw, err := json.Marshal(act)
	if err != nil {
		return err
	}
	conv, _ := act["conversation"].(map[string]any)
	from, _ := act["from"].(map[string]any)
	recipient, _ := act["recipient"].(map[string]any)
	meta := StoredActivity{AddressedTo: str(conv["id"]), ActivityID: str(act["id"]),
		ConversationType: str(conv["conversationType"]), TenantID: str(conv["tenantId"]),
		BotID: strings.TrimPrefix(str(recipient["id"]), "28:"), UserID: str(from["aadObjectId"]),
		Operation: OperationInbound, CreatedAt: e.now()}
	meta.ConversationID, _ = e.world().canonicalConversation(meta.AddressedTo)
	e.world().storeActivity(meta, raw)
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
