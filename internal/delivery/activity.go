// Package delivery holds the pure parts of sending a ProactiveMessage: turning its content
// into one Bot Framework activity, the checks the API server's CEL rules make (for servers
// without CEL), the size check, and the retry timing.
package delivery

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
)

// Teams' bot message size limit "is 100 KB ... an approximate limit because it includes the
// message itself (text, image links, etc.), @-mentions, and reactions encoded as UTF-16 ...
// doesn't include base64 encoded image", and "it's recommended to ensure that the size of the
// message itself is within 80 KB" (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages).
// Sizes here are TeamsSize: UTF-16 bytes, not UTF-8 bytes of the JSON.
const (
	// MaxActivityBytes is the largest activity the operator sends; 1 KiB below 100 KiB leaves
	// room for the conversation and tenant the send adds (Addressed).
	MaxActivityBytes = 100*1024 - 1024
	// WarnActivityBytes is the size above which delivery is not guaranteed (a Warning event).
	WarnActivityBytes = 80 * 1024
)

// dataImageRE matches a base64 image, which Teams leaves out of the size.
var dataImageRE = regexp.MustCompile(`data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=]*`)

// TeamsSize measures an activity as Teams does: its content (text, card, mentions, all of it as
// JSON without HTML escaping) encoded as UTF-16, base64 images left out. A CJK character counts
// 2 bytes (3 in UTF-8), an emoji 4, an ASCII character 2 (1 in UTF-8).
func TeamsSize(a *botframework.Activity) (int, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return 0, fmt.Errorf("encoding the activity: %w", err)
	}
	return UTF16Bytes(dataImageRE.ReplaceAllString(strings.TrimSpace(buf.String()), "")), nil
}

// UTF16Bytes is the length of s encoded as UTF-16.
func UTF16Bytes(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 4 // a surrogate pair
		} else {
			n += 2
		}
	}
	return n
}

// BuildActivity turns the content of spec into one activity, so Teams answers with one
// activity id: text (with its format) or an Adaptive Card as the only attachment, never
// both (Teams would split them and return no id).
func BuildActivity(spec *teamsv1alpha1.ProactiveMessageSpec) (*botframework.Activity, error) {
	a := &botframework.Activity{Type: botframework.ActivityTypeMessage, Summary: spec.Summary}
	if spec.AdaptiveCard != nil {
		content, err := cardContent(spec.AdaptiveCard, spec.Mentions)
		if err != nil {
			return nil, err
		}
		a.Attachments = []botframework.Attachment{{ContentType: botframework.ContentTypeAdaptiveCard, Content: content}}
	} else {
		a.Text = spec.Text
		a.TextFormat = string(spec.TextFormat)
		if a.TextFormat == "" {
			a.TextFormat = botframework.TextFormatMarkdown
		}
		a.Entities = mentionEntities(spec.Mentions)
	}
	if spec.Alert {
		a.ChannelData = &botframework.ChannelData{Notification: &botframework.NotificationInfo{Alert: true}}
	}
	return a, nil
}

func mentionEntities(mentions []teamsv1alpha1.Mention) []botframework.Entity {
	out := make([]botframework.Entity, 0, len(mentions))
	for _, m := range mentions {
		out = append(out, botframework.Entity{
			Type:      botframework.EntityTypeMention,
			Text:      "<at>" + m.Name + "</at>",
			Mentioned: &botframework.ChannelAccount{ID: m.ID, Name: m.Name},
		})
	}
	return out
}

// cardContent encodes the card. Mentions in a card go in content.msteams.entities
// (reference 3.4), next to whatever msteams options the card already has.
func cardContent(card *teamsv1alpha1.AdaptiveCard, mentions []teamsv1alpha1.Mention) (json.RawMessage, error) {
	raw, err := json.Marshal(card)
	if err != nil {
		return nil, fmt.Errorf("encoding the Adaptive Card: %w", err)
	}
	if len(mentions) == 0 {
		return raw, nil
	}
	var content map[string]any
	if err := json.Unmarshal(raw, &content); err != nil {
		return nil, fmt.Errorf("decoding the Adaptive Card: %w", err)
	}
	msteams, ok := content["msteams"].(map[string]any)
	if !ok {
		msteams = map[string]any{}
	}
	entities, _ := msteams["entities"].([]any)
	for _, e := range mentionEntities(mentions) {
		entities = append(entities, e)
	}
	msteams["entities"] = entities
	content["msteams"] = msteams
	out, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encoding the Adaptive Card: %w", err)
	}
	return out, nil
}

// Addressed returns a copy of a that names its conversation and tenant as the Bot Framework
// SDKs do on a proactive send: conversation.tenantId and channelData.tenant.id (botbuilder's
// createConversation "mixes in the tenant ID ... required for MS Teams", and continueConversation
// applies the stored conversation reference, tenantId included). conversationID may be empty
// (the root post of a new channel thread). a itself is left alone: its hash identifies the
// content, not the address.
func Addressed(a *botframework.Activity, conversationID, tenantID string) *botframework.Activity {
	if a == nil {
		return nil
	}
	out := *a
	cd := botframework.ChannelData{}
	if a.ChannelData != nil {
		cd = *a.ChannelData
	}
	if tenantID != "" {
		cd.Tenant = &botframework.TenantInfo{ID: tenantID}
	}
	out.ChannelData = &cd
	if conversationID != "" || tenantID != "" {
		out.Conversation = &botframework.ConversationAccount{ID: conversationID, TenantID: tenantID}
	}
	return &out
}

// Size is the encoded size of the activity in bytes, as the Connector receives it.
func Size(a *botframework.Activity) (int, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return 0, fmt.Errorf("encoding the activity: %w", err)
	}
	return len(b), nil
}

// Hash identifies an activity's content, to tell whether Teams holds the current content.
func Hash(a *botframework.Activity) string {
	b, err := json.Marshal(a)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
