package controller

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// The patterns of the ConversationTarget CRD, mirrored for API servers without CEL.
var (
	targetGUID         = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	targetTeamsUserID  = regexp.MustCompile(`^29:[^/?#[:space:]]+$`)
	targetUPN          = regexp.MustCompile(`^[^\s@/?#]+@[^\s@/?#]+$`)
	targetChannelID    = regexp.MustCompile(`^19:[^\s/?#;]+@thread\.(tacv2|skype)$`)
	targetChatID       = regexp.MustCompile(`^19:[^\s/?#]+$`)
	targetConversation = regexp.MustCompile(`^[^\s/?#]+$`)
)

// validateConversationTargetSpec mirrors the CRD's validation (CEL rules and patterns), so
// an API server that does not enforce them still gets a Stalled/InvalidSpec target with the
// same message instead of a Microsoft call with bad input.
func validateConversationTargetSpec(spec *teamsv1alpha1.ConversationTargetSpec) error {
	set := 0
	for _, has := range []bool{spec.User != nil, spec.Channel != nil, spec.Chat != nil,
		spec.Conversation != nil, spec.InstallationRef != nil, spec.Audience != nil} {
		if has {
			set++
		}
	}
	if set != 1 {
		return errors.New("exactly one of user, channel, chat, conversation, installationRef or audience must be set")
	}
	if err := validateAudience(spec.Audience); err != nil {
		return err
	}
	if err := validateTargetKind(spec); err != nil {
		return err
	}
	if spec.TenantID != "" && !targetGUID.MatchString(spec.TenantID) {
		return errors.New("spec.tenantId must be a GUID")
	}
	if spec.ServiceURL != "" {
		u, err := url.Parse(spec.ServiceURL)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return errors.New("serviceUrl must be an absolute https URL")
		}
	}
	return nil
}

func validateTargetKind(spec *teamsv1alpha1.ConversationTargetSpec) error {
	switch {
	case spec.User != nil:
		u := spec.User
		switch {
		case (u.ID != "") == (u.UserPrincipalName != ""):
			return errors.New("exactly one of user.id or user.userPrincipalName must be set")
		case u.ID != "" && !targetGUID.MatchString(u.ID) && !targetTeamsUserID.MatchString(u.ID):
			//nolint:staticcheck // the same words as the CRD's CEL message, which users see first
			return errors.New("user.id must be an Entra object id (a GUID) or a Teams user id starting with 29:")
		case u.UserPrincipalName != "" && !targetUPN.MatchString(u.UserPrincipalName):
			return errors.New("user.userPrincipalName must look like name@domain")
		}
	case spec.Channel != nil:
		if !targetGUID.MatchString(spec.Channel.TeamID) {
			return errors.New("channel.teamId must be a GUID")
		}
		if spec.Channel.ChannelID != "" && !targetChannelID.MatchString(spec.Channel.ChannelID) {
			return errors.New("channel.channelId must look like 19:...@thread.tacv2 or 19:...@thread.skype")
		}
	case spec.Chat != nil:
		if !targetChatID.MatchString(spec.Chat.ID) || strings.Contains(spec.Chat.ID, "#") {
			return errors.New("chat.id must look like 19:...@thread.v2")
		}
	case spec.Conversation != nil:
		if !targetConversation.MatchString(spec.Conversation.ID) {
			return errors.New("conversation.id must be a non-empty id without whitespace, '/', '?' or '#'")
		}
	}
	return nil
}

// targetConversationKind infers the kind of a conversation from its id: a: and @unq.gbl.spaces
// ids are 1:1 chats, @thread.v2 group chats, @thread.tacv2 and @thread.skype channels (with
// or without ;messageid=). Unknown forms give "" (status.kind left out).
func targetConversationKind(id string) string {
	base, _, _ := strings.Cut(strings.ToLower(id), ";messageid=")
	switch {
	case strings.HasPrefix(base, "a:"), strings.HasSuffix(base, "@unq.gbl.spaces"):
		return targetKindPersonal
	case strings.HasSuffix(base, "@thread.v2"):
		return targetKindGroupChat
	case strings.HasSuffix(base, "@thread.tacv2"), strings.HasSuffix(base, "@thread.skype"):
		return targetKindChannel
	}
	return ""
}
