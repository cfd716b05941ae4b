package botframework

import (
	"fmt"
	"strings"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// segment escapes one id as one path segment, the way the Bot Framework SDKs do
// (encodeURIComponent in JavaScript, Uri.EscapeDataString in .NET): every byte
// but the RFC 3986 unreserved characters is percent-encoded. So
// "19:x@thread.tacv2;messageid=1" goes out as
// "19%3Ax%40thread.tacv2%3Bmessageid%3D1", the form Teams has always received
// from those SDKs. url.PathEscape would leave ':', '@' and '=' alone and encode
// only ';', which also works, but is not what Teams is known to see.
//
// Empty ids, "." and ".." are refused: no escaping stops a server from
// resolving a dot segment.
func segment(what, id string) (string, error) {
	switch id {
	case "":
		return "", fmt.Errorf("%s is empty: %w", what, msapi.ErrInvalidArgument)
	case ".", "..":
		return "", fmt.Errorf("%s %q is not a valid id: %w", what, id, msapi.ErrInvalidArgument)
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(id) * 3)
	for i := range len(id) {
		c := id[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String(), nil
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// activityPath is /v3/conversations/{conversationID}/activities/{activityID}.
func activityPath(conversationID, activityID string) (string, error) {
	conv, err := segment("conversation id", conversationID)
	if err != nil {
		return "", err
	}
	act, err := segment("activity id", activityID)
	if err != nil {
		return "", err
	}
	return "/v3/conversations/" + conv + "/activities/" + act, nil
}

// threadOf keys the conversation limiter. Teams limits per thread, where a
// thread is a 1:1 chat, a group chat or a channel, so a channel reply chain
// ("19:…@thread.tacv2;messageid=123") counts against its channel.
func threadOf(conversationID string) string {
	thread, _, _ := strings.Cut(conversationID, ";messageid=")
	return thread
}

// createThread keys the conversation limiter for a create: the channel a new
// thread goes to, or else the user a 1:1 chat is with.
func createThread(p ConversationParameters) string {
	if p.ChannelData != nil && p.ChannelData.Channel != nil && p.ChannelData.Channel.ID != "" {
		return threadOf(p.ChannelData.Channel.ID)
	}
	if len(p.Members) > 0 {
		return p.Members[0].ID
	}
	return ""
}
