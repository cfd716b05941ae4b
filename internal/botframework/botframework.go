// Package botframework is the Bot Framework Connector (REST v3) client for
// Microsoft Teams: create a conversation, send, reply to, update and delete
// activities, against the service URL stored for each conversation.
//
// Every call first checks the service URL against the ServiceURLPolicy, then
// waits for the client-side rate limiters, and only then asks for a token: a URL
// the policy refuses never sees one. The client never retries, and never
// follows a redirect. Errors are *msapi.APIError (non-2xx), *msapi.RequestError
// (no answer), *ServiceURLError, or ErrNoActivityID (delivered, but Teams
// returned no id); msapi.Classify sorts them all.
package botframework

import (
	"context"
	"encoding/json"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// Interface is the Connector surface the controllers use: one method per call.
type Interface interface {
	// CreateConversation creates a 1:1 conversation (returns the existing one
	// if there is one) or, with isGroup and channelData.channel, a new thread
	// in a channel, whose first post is p.Activity.
	CreateConversation(ctx context.Context, serviceURL string, p ConversationParameters) (ConversationResource, error)
	// SendActivity posts a to the conversation and returns its activity id.
	// When Teams answers 2xx without an id (text and attachment in one activity
	// are split into two messages), the error is ErrNoActivityID: the message
	// was delivered, but cannot be edited or deleted.
	SendActivity(ctx context.Context, serviceURL, conversationID string, a *Activity) (string, error)
	// ReplyToActivity posts a as a reply to replyToID. In a channel the reply
	// lands in the thread; in chats Teams shows it as a new message. The id
	// rules are those of SendActivity.
	ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a *Activity) (string, error)
	// UpdateActivity replaces the content of an activity the bot sent.
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (string, error)
	// DeleteActivity deletes an activity the bot sent.
	DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error
}

// Activity types, text formats and content types the operator sends.
const (
	ActivityTypeMessage = "message"

	TextFormatMarkdown = "markdown"
	TextFormatPlain    = "plain"
	TextFormatXML      = "xml"

	ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

	EntityTypeMention = "mention"
)

// Activity is an outbound message (reference 3.4).
type Activity struct {
	// Type defaults to "message" when empty.
	Type string `json:"type"`
	// ID is set by UpdateActivity; leave it empty otherwise.
	ID string `json:"id,omitempty"`
	// Text, in TextFormat (markdown by default in Teams). A mention's text
	// (<at>Name</at>) must appear in it.
	Text       string `json:"text,omitempty"`
	TextFormat string `json:"textFormat,omitempty"`
	// Summary is the text shown in the activity feed and notifications.
	Summary     string       `json:"summary,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Entities    []Entity     `json:"entities,omitempty"`
	ChannelData *ChannelData `json:"channelData,omitempty"`
	// Conversation names the conversation and its tenant. The Bot Framework SDKs set it on
	// every proactive send (continueConversation applies the stored reference, whose
	// conversation carries tenantId), next to channelData.tenant.id.
	Conversation *ConversationAccount `json:"conversation,omitempty"`
	// ReplyToID is set by ReplyToActivity.
	ReplyToID string `json:"replyToId,omitempty"`
	// Importance is low, normal or high; Teams' handling is undocumented.
	Importance string `json:"importance,omitempty"`
}

// Attachment is a card or file. Content is passed through as is (an Adaptive
// Card up to schema 1.5 for Teams).
type Attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content,omitempty"`
	ContentURL  string          `json:"contentUrl,omitempty"`
	Name        string          `json:"name,omitempty"`
}

// Entity is an activity entity; the operator sends mentions.
type Entity struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Mentioned *ChannelAccount `json:"mentioned,omitempty"`
}

// ChannelAccount is a user or bot: a 29: user id, a 28: bot id, or an Entra
// object id where Teams accepts one.
type ChannelAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

// ConversationAccount names a conversation (and, for Teams, its Entra tenant).
type ConversationAccount struct {
	ID       string `json:"id,omitempty"`
	TenantID string `json:"tenantId,omitempty"`
}

// ChannelData is the Teams-specific part of an activity or of a create request.
type ChannelData struct {
	Tenant       *TenantInfo       `json:"tenant,omitempty"`
	Channel      *ChannelInfo      `json:"channel,omitempty"`
	Team         *TeamInfo         `json:"team,omitempty"`
	Notification *NotificationInfo `json:"notification,omitempty"`
}

// TenantInfo names the Entra tenant.
type TenantInfo struct {
	ID string `json:"id"`
}

// ChannelInfo names a channel (19:…@thread.tacv2 or @thread.skype).
type ChannelInfo struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TeamInfo names a team.
type TeamInfo struct {
	ID string `json:"id"`
}

// NotificationInfo asks Teams to raise an activity-feed notification.
type NotificationInfo struct {
	Alert          bool `json:"alert"`
	AlertInMeeting bool `json:"alertInMeeting,omitempty"`
}

// ConversationParameters is the create-conversation body (reference 3.3).
//
// A 1:1 conversation: Bot, Members (one user), TenantID and/or
// ChannelData.Tenant, IsGroup false. A new channel thread: IsGroup true,
// ChannelData.Channel, and Activity as the root post.
type ConversationParameters struct {
	IsGroup     bool             `json:"isGroup"`
	Bot         *ChannelAccount  `json:"bot,omitempty"`
	Members     []ChannelAccount `json:"members,omitempty"`
	TopicName   string           `json:"topicName,omitempty"`
	TenantID    string           `json:"tenantId,omitempty"`
	Activity    *Activity        `json:"activity,omitempty"`
	ChannelData *ChannelData     `json:"channelData,omitempty"`
}

// ConversationResource is the create-conversation answer. For a channel thread
// ID is the thread's conversation id and ActivityID the root post's id.
type ConversationResource struct {
	ID         string `json:"id"`
	ActivityID string `json:"activityId,omitempty"`
	ServiceURL string `json:"serviceUrl,omitempty"`
}

// noActivityIDError is the type of ErrNoActivityID.
type noActivityIDError struct{}

func (noActivityIDError) Error() string {
	return "message delivered, but Teams returned no activity id (an activity with both text and attachments is split in two)"
}

// Classification is neither retry nor terminal: the message is in Teams, so it
// must not be sent again, and it is not a failure either.
func (noActivityIDError) Classification() msapi.Classification {
	return msapi.Classification{Reason: msapi.ReasonNoActivityID}
}

// ErrNoActivityID reports a send or reply that Teams accepted without
// returning an activity id. Test for it with errors.Is before anything else:
// the message WAS delivered.
var ErrNoActivityID error = noActivityIDError{}

type noConversationIDError struct{}

func (noConversationIDError) Error() string {
	return "conversation created, but the answer has no conversation id"
}

// Classification: a channel thread's root post exists now, so creating again
// would post twice; a 1:1 create is safe to repeat, which the caller knows.
func (noConversationIDError) Classification() msapi.Classification {
	return msapi.Classification{Reason: msapi.ReasonOutcomeUnknown}
}

// ErrNoConversationID reports a 2xx create-conversation answer without an id.
var ErrNoConversationID error = noConversationIDError{}
