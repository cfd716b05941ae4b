package botendpoint

import (
	"encoding/json"
	"strings"

	"github.com/teams-operator/teams-operator/internal/botframework"
)

// Activity types the endpoint knows (Bot Framework Activity schema; Teams "Conversation
// events" and "installationUpdate").
const (
	TypeMessage            = "message"
	TypeInvoke             = "invoke"
	TypeConversationUpdate = "conversationUpdate"
	TypeInstallationUpdate = "installationUpdate"
)

// Teams conversation types (Activity.Conversation.ConversationType).
const (
	ConversationPersonal  = "personal"
	ConversationGroupChat = "groupChat"
	ConversationChannel   = "channel"
)

// botIDPrefix starts a bot's channel account id in Teams: "28:{appId}".
const botIDPrefix = "28:"

// Activity is an inbound activity from the Bot Connector, with the fields the operator reads.
// Fields it does not read are ignored; none is ever echoed into a log.
type Activity struct {
	Type         string                      `json:"type"`
	ID           string                      `json:"id,omitempty"`
	Timestamp    string                      `json:"timestamp,omitempty"`
	ServiceURL   string                      `json:"serviceUrl"`
	ChannelID    string                      `json:"channelId"`
	From         botframework.ChannelAccount `json:"from"`
	Recipient    botframework.ChannelAccount `json:"recipient"`
	Conversation Conversation                `json:"conversation"`
	Text         string                      `json:"text,omitempty"`
	// Name is the invoke or event name, e.g. "adaptiveCard/action".
	Name string `json:"name,omitempty"`
	// Value is the invoke payload (for adaptiveCard/action: {"action":{"type":"Action.Execute",...}}).
	Value json.RawMessage `json:"value,omitempty"`
	// Action is installationUpdate's "add" or "remove" (also "add-upgrade", "remove-upgrade").
	Action         string                        `json:"action,omitempty"`
	MembersAdded   []botframework.ChannelAccount `json:"membersAdded,omitempty"`
	MembersRemoved []botframework.ChannelAccount `json:"membersRemoved,omitempty"`
	ReplyToID      string                        `json:"replyToId,omitempty"`
	ChannelData    *ChannelData                  `json:"channelData,omitempty"`
	Locale         string                        `json:"locale,omitempty"`
}

// Conversation is the activity's conversation.
type Conversation struct {
	ID               string `json:"id"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
	Name             string `json:"name,omitempty"`
}

// ChannelData is the Teams part of an inbound activity.
type ChannelData struct {
	Tenant    *botframework.TenantInfo  `json:"tenant,omitempty"`
	Team      *TeamInfo                 `json:"team,omitempty"`
	Channel   *botframework.ChannelInfo `json:"channel,omitempty"`
	EventType string                    `json:"eventType,omitempty"`
}

// TeamInfo names a team; AADGroupID is the team's Graph id.
type TeamInfo struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	AADGroupID string `json:"aadGroupId,omitempty"`
}

// BotAppID is the Entra app id of the bot the activity is for. The endpoint only passes on
// activities whose recipient is the bot the token was issued to (its audience).
func (a *Activity) BotAppID() string {
	id, ok := strings.CutPrefix(a.Recipient.ID, botIDPrefix)
	if !ok {
		return ""
	}
	return id
}

// TenantID is the Entra tenant of the activity: channelData.tenant.id, else conversation.tenantId.
func (a *Activity) TenantID() string {
	if a.ChannelData != nil && a.ChannelData.Tenant != nil && a.ChannelData.Tenant.ID != "" {
		return a.ChannelData.Tenant.ID
	}
	return a.Conversation.TenantID
}
