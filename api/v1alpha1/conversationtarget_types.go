package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// UserTarget is a 1:1 chat between the bot and one user: exactly one of id or userPrincipalName.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.userPrincipalName)",message="exactly one of user.id or user.userPrincipalName must be set"
type UserTarget struct {
	// id is the user's Entra object id (a GUID), or the user's Teams id for this bot
	// (29:...). An object id works only once the bot is installed for the user (or in a
	// team the user belongs to); install it with a TeamsAppInstallation in user scope.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$') || self.matches('^29:[^/?#[:space:]]+$')",message="user.id must be an Entra object id (a GUID) or a Teams user id starting with 29:"
	ID string `json:"id,omitempty"`

	// userPrincipalName is the user's sign-in name (for example adele@contoso.com); the
	// operator looks up the object id through Microsoft Graph.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[^\s@/?#]+@[^\s@/?#]+$`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
}

// ChannelTarget is a channel of a team; each message starts a new thread there.
type ChannelTarget struct {
	// teamId is the team's Microsoft Graph id (the Microsoft 365 group's object id, a GUID).
	// +required
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	TeamID string `json:"teamId"`

	// channelId is the channel's id (19:...@thread.tacv2 or @thread.skype). Leave it out
	// for the team's General channel, whose id the operator looks up.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^19:[^\s/?#;]+@thread\.(tacv2|skype)$`
	ChannelID string `json:"channelId,omitempty"`
}

// ChatTarget is an existing group chat. The bot must be installed in it (a
// TeamsAppInstallation in chat scope).
type ChatTarget struct {
	// id is the chat's id, for example 19:abc...@thread.v2.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^19:[^\s/?#]+$`
	ID string `json:"id"`
}

// KnownConversation is a Bot Framework conversation whose id is already known.
type KnownConversation struct {
	// id is the conversation id (a:..., 19:..., or a channel thread id with ;messageid=).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s/?#]+$`
	ID string `json:"id"`
}

// ConversationTargetSpec declares one place messages go.
// +kubebuilder:validation:XValidation:rule="(has(self.user) ? 1 : 0) + (has(self.channel) ? 1 : 0) + (has(self.chat) ? 1 : 0) + (has(self.conversation) ? 1 : 0) + (has(self.installationRef) ? 1 : 0) + (has(self.audience) ? 1 : 0) == 1",message="exactly one of user, channel, chat, conversation, installationRef or audience must be set"
type ConversationTargetSpec struct {
	// user is a 1:1 chat with one user. The operator creates the conversation once and
	// stores its id.
	// +optional
	User *UserTarget `json:"user,omitempty"`

	// channel is a team channel; every message starts a new thread.
	// +optional
	Channel *ChannelTarget `json:"channel,omitempty"`

	// chat is a group chat the bot is installed in.
	// +optional
	Chat *ChatTarget `json:"chat,omitempty"`

	// conversation is a conversation id you already know (for example from an earlier
	// bot interaction).
	// +optional
	Conversation *KnownConversation `json:"conversation,omitempty"`

	// installationRef takes the chat of a user- or chat-scope TeamsAppInstallation in this
	// namespace: the target becomes Ready when that installation is.
	// +optional
	InstallationRef *LocalObjectReference `json:"installationRef,omitempty"`

	// audience is many people (a team's roster, an Entra group, a list of users): a
	// ProactiveMessage to this target is a broadcast, one 1:1 message per person
	// (docs/broadcast.md).
	// +optional
	Audience *AudienceTarget `json:"audience,omitempty"`

	// tenantId is the Entra tenant of the conversation. Default: the credentials' tenantId.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	TenantID string `json:"tenantId,omitempty"`

	// serviceUrl is the Bot Framework service URL to use for this conversation, as seen in
	// an activity Teams sent to the bot (for example https://smba.trafficmanager.net/emea/).
	// Default: the cloud's global service URL. It must be https and its host one of the
	// configured cloud's Teams service hosts; anything else is refused before a token is sent.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="serviceUrl must be an absolute https URL"
	ServiceURL string `json:"serviceUrl,omitempty"`

	// credentialsRef names a Secret in this namespace with the bot's credentials. When
	// unset, the manager's default credentials are used.
	// +optional
	CredentialsRef *LocalObjectReference `json:"credentialsRef,omitempty"`

	// cardActions narrows who may press the buttons (Universal Actions) of cards sent to this
	// target, such as Acknowledge and Silence on Alertmanager cards. Default: everyone in the
	// conversation (Teams sends a button press only from its members).
	// +optional
	CardActions *CardActionsPolicy `json:"cardActions,omitempty"`
}

// CardActionsPolicy lists who may press a card's buttons: a person listed in allowedUsers, or a
// member of one of allowedGroups.
type CardActionsPolicy struct {
	// allowedUsers are Entra object ids of the people who may act.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=36
	// +kubebuilder:validation:items:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	AllowedUsers []string `json:"allowedUsers,omitempty"`

	// allowedGroups are Entra group object ids: their direct and nested members may act. Checking
	// membership needs the Graph permission GroupMember.Read.All for the bot's app.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=36
	// +kubebuilder:validation:items:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	AllowedGroups []string `json:"allowedGroups,omitempty"`
}

// ConversationTargetStatus is the resolved conversation.
type ConversationTargetStatus struct {
	// observedGeneration is the generation of the spec that Ready or Stalled describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (always), Reconciling and Stalled (only while true).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// conversationId is the Bot Framework conversation messages are sent to. For a channel
	// it is the channel id: each message starts a new thread.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ConversationID string `json:"conversationId,omitempty"`

	// serviceUrl is the Bot Framework service URL used for this conversation.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	ServiceURL string `json:"serviceUrl,omitempty"`

	// tenantId is the Entra tenant of the conversation.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	TenantID string `json:"tenantId,omitempty"`

	// userId is, for a user target, the user's Entra object id (spec.user.id, or what
	// spec.user.userPrincipalName resolved to); empty for a 29: id. The opt-out of a person
	// is looked up by it.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UserID string `json:"userId,omitempty"`

	// kind is the resolved kind of conversation: Personal, Channel or GroupChat.
	// +optional
	// +kubebuilder:validation:Enum=Personal;Channel;GroupChat;Audience
	Kind string `json:"kind,omitempty"`

	// channelType is a channel target's membership type as Microsoft Graph reports it:
	// standard, private or shared. A bot reaches a private or shared channel only where its
	// app was added to that channel. Empty when unknown (the channel could not be read).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ChannelType string `json:"channelType,omitempty"`

	// audience is what the last broadcast to this target read (kind Audience).
	// +optional
	Audience *AudienceStatus `json:"audience,omitempty"`
}

// ConversationTarget is one place Teams messages go: a user's 1:1 chat with the bot, a
// channel, or a group chat. The operator resolves it once and stores the conversation.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ctarget,categories=teams
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.status.kind`
// +kubebuilder:printcolumn:name="Audience",type=integer,JSONPath=`.status.audience.size`,priority=1
// +kubebuilder:printcolumn:name="ConversationID",type=string,JSONPath=`.status.conversationId`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConversationTarget struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ConversationTargetSpec `json:"spec"`

	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status ConversationTargetStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ConversationTargetList contains a list of ConversationTarget.
type ConversationTargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConversationTarget `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ConversationTarget{}, &ConversationTargetList{})
		return nil
	})
}

// GetConditions returns the status conditions.
func (in *ConversationTarget) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ConversationTarget) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation that Ready or Stalled describes.
func (in *ConversationTarget) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
