package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TextFormat is how Teams renders text.
// +kubebuilder:validation:Enum=markdown;plain;xml
type TextFormat string

const (
	TextFormatMarkdown TextFormat = "markdown"
	TextFormatPlain    TextFormat = "plain"
	TextFormatXML      TextFormat = "xml"
)

// OnUpdate says what a content change after delivery does.
// +kubebuilder:validation:Enum=Edit;Ignore
type OnUpdate string

const (
	// OnUpdateEdit edits the delivered Teams message in place.
	OnUpdateEdit OnUpdate = "Edit"
	// OnUpdateIgnore leaves the delivered message as it is.
	OnUpdateIgnore OnUpdate = "Ignore"
)

// MessageDeletionPolicy says what deleting the object does to the Teams message.
// +kubebuilder:validation:Enum=Retain;Delete
type MessageDeletionPolicy string

const (
	// MessageDeletionPolicyRetain keeps the message in Teams.
	MessageDeletionPolicyRetain MessageDeletionPolicy = "Retain"
	// MessageDeletionPolicyDelete deletes the message in Teams.
	MessageDeletionPolicyDelete MessageDeletionPolicy = "Delete"
)

// DeliveryGuarantee chooses between never sending twice and never losing a message
// when the outcome of a send is unknown.
// +kubebuilder:validation:Enum=AtMostOnce;AtLeastOnce
type DeliveryGuarantee string

const (
	// AtMostOnce never resends after an unknown outcome; the message becomes Unknown.
	AtMostOnce DeliveryGuarantee = "AtMostOnce"
	// AtLeastOnce resends after an unknown outcome, which may deliver it twice.
	AtLeastOnce DeliveryGuarantee = "AtLeastOnce"
)

// MessagePriority orders the send queue.
// +kubebuilder:validation:Enum=High;Normal;Bulk
type MessagePriority string

const (
	// PriorityHigh goes before every Normal and Bulk message: alerts (the Alertmanager
	// bridge's messages).
	PriorityHigh MessagePriority = "High"
	// PriorityNormal is the default.
	PriorityNormal MessagePriority = "Normal"
	// PriorityBulk goes after every High and Normal message: broadcasts and digests.
	PriorityBulk MessagePriority = "Bulk"
)

// Phase is where a ProactiveMessage is in its life.
// +kubebuilder:validation:Enum=Pending;Scheduled;Sending;Delivered;Failed;Expired;Unknown;OptedOut
type Phase string

const (
	PhasePending   Phase = "Pending"
	PhaseScheduled Phase = "Scheduled"
	PhaseSending   Phase = "Sending"
	PhaseDelivered Phase = "Delivered"
	PhaseFailed    Phase = "Failed"
	PhaseExpired   Phase = "Expired"
	PhaseUnknown   Phase = "Unknown"
	// PhaseOptedOut: not sent because the recipient told the bot to stop (docs/bot-endpoint.md).
	// Final, and not a failure.
	PhaseOptedOut Phase = "OptedOut"
)

// Mention is a user @mentioned in the message.
type Mention struct {
	// id is the mentioned user's Teams id (29:...) or Entra object id.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	ID string `json:"id"`
	// name is the text shown for the mention. For a text message, the text must contain
	// <at>name</at>; for an Adaptive Card, a TextBlock must.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
}

// AdaptiveCard is an Adaptive Card as Teams renders it (schema 1.0 to 1.5). Its top-level
// properties are those of the Adaptive Card schema; body elements and actions are passed to
// Teams as written. See https://adaptivecards.io/explorer/AdaptiveCard.html.
type AdaptiveCard struct {
	// type must be AdaptiveCard.
	// +required
	// +kubebuilder:validation:Enum=AdaptiveCard
	Type string `json:"type"`

	// version is the card schema version: "1.0" to "1.5" (quote it in YAML).
	// +required
	// +kubebuilder:validation:Enum="1.0";"1.1";"1.2";"1.3";"1.4";"1.5"
	Version string `json:"version"`

	// $schema is the card's schema URL, ignored by Teams.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Schema string `json:"$schema,omitempty"`

	// body holds the card's elements (TextBlock, FactSet, ColumnSet, ...).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Body []apiextensionsv1.JSON `json:"body,omitempty"`

	// actions are the card's buttons. Action.OpenUrl and Action.ShowCard work as written;
	// Action.Submit and Action.Execute post to the bot's messaging endpoint, which the operator
	// serves only when the bot endpoint is on (docs/bot-endpoint.md) and answers only for the
	// Alertmanager card's buttons: elsewhere Teams shows an error, so leave them out.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Actions []apiextensionsv1.JSON `json:"actions,omitempty"`

	// selectAction is the action run when the card itself is selected.
	// +optional
	SelectAction *apiextensionsv1.JSON `json:"selectAction,omitempty"`

	// fallbackText is shown by clients that cannot render the card.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	FallbackText string `json:"fallbackText,omitempty"`

	// backgroundImage is an image URL or a BackgroundImage object.
	// +optional
	BackgroundImage *apiextensionsv1.JSON `json:"backgroundImage,omitempty"`

	// minHeight is the card's minimum height, for example "200px".
	// +optional
	// +kubebuilder:validation:MaxLength=16
	MinHeight string `json:"minHeight,omitempty"`

	// rtl renders the card right to left.
	// +optional
	RTL *bool `json:"rtl,omitempty"`

	// speak is what a speech client says for the card.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Speak string `json:"speak,omitempty"`

	// lang is the card's language (an ISO 639-1 code).
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Lang string `json:"lang,omitempty"`

	// verticalContentAlignment is top, center or bottom.
	// +optional
	// +kubebuilder:validation:Enum=top;center;bottom
	VerticalContentAlignment string `json:"verticalContentAlignment,omitempty"`

	// refresh configures Universal Actions refresh (Teams, schema 1.4 and later). It calls the
	// bot's messaging endpoint, where the operator does not answer refreshes: it has no effect.
	// +optional
	Refresh *apiextensionsv1.JSON `json:"refresh,omitempty"`

	// authentication configures Universal Actions single sign-on.
	// +optional
	Authentication *apiextensionsv1.JSON `json:"authentication,omitempty"`

	// metadata carries the card's webUrl.
	// +optional
	Metadata *apiextensionsv1.JSON `json:"metadata,omitempty"`

	// msteams holds Teams-specific options, such as {"width": "Full"} and mention entities.
	// +optional
	MSTeams *apiextensionsv1.JSON `json:"msteams,omitempty"`
}

// ProactiveMessageSpec declares one message to one ConversationTarget.
// +kubebuilder:validation:XValidation:rule="has(self.text) != has(self.adaptiveCard)",message="exactly one of text or adaptiveCard must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.sendAt) || !has(self.expiresAt) || self.expiresAt > self.sendAt",message="expiresAt must be after sendAt"
// +kubebuilder:validation:XValidation:rule="!has(self.mentions) || !has(self.text) || self.mentions.all(m, self.text.contains('<at>' + m.name + '</at>'))",message="every mention's name must appear in text as <at>name</at>"
// +kubebuilder:validation:XValidation:rule="has(self.replyTo) == has(oldSelf.replyTo)",message="replyTo cannot be added or removed after creation"
type ProactiveMessageSpec struct {
	// targetRef names the ConversationTarget in this namespace the message goes to.
	// It cannot be changed: create a new ProactiveMessage for another target.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetRef is immutable"
	TargetRef LocalObjectReference `json:"targetRef"`

	// text is the message. Use <at>name</at> for each mention.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40000
	Text string `json:"text,omitempty"`

	// textFormat is how Teams renders text: markdown (default), plain or xml.
	// +optional
	// +kubebuilder:default=markdown
	TextFormat TextFormat `json:"textFormat,omitempty"`

	// summary is the text shown in the activity feed and notifications.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Summary string `json:"summary,omitempty"`

	// adaptiveCard is an Adaptive Card (https://adaptivecards.io), schema version 1.5 or
	// older, sent instead of text. The operator refuses a card larger than Teams accepts
	// (about 100 KB with the rest of the message): MessageTooLarge.
	// +optional
	AdaptiveCard *AdaptiveCard `json:"adaptiveCard,omitempty"`

	// mentions are the users @mentioned in the message.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Mentions []Mention `json:"mentions,omitempty"`

	// alert also raises an activity-feed notification (subject to each user's settings).
	// +optional
	Alert bool `json:"alert,omitempty"`

	// replyTo names an earlier ProactiveMessage to a channel in this namespace: this message
	// is posted as a reply in that message's thread, once it is delivered.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="replyTo is immutable"
	ReplyTo *LocalObjectReference `json:"replyTo,omitempty"`

	// sendAt schedules the message; it is sent at or soon after this time.
	// +optional
	SendAt *metav1.Time `json:"sendAt,omitempty"`

	// expiresAt: a message not delivered by this time is not sent; its phase becomes Expired.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// ttlAfterFinished deletes the object this long after it finished (Delivered, Failed,
	// Expired or Unknown). Unset keeps it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	TTLAfterFinished *metav1.Duration `json:"ttlAfterFinished,omitempty"`

	// onUpdate: Edit (default) edits the delivered Teams message when the content changes;
	// Ignore leaves it.
	// +optional
	// +kubebuilder:default=Edit
	OnUpdate OnUpdate `json:"onUpdate,omitempty"`

	// deletionPolicy: Retain (default) keeps the Teams message when this object is deleted;
	// Delete deletes it.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy MessageDeletionPolicy `json:"deletionPolicy,omitempty"`

	// deliveryGuarantee: the Bot Framework has no idempotency key, so a send whose outcome
	// is unknown (the operator crashed, or the connection dropped after the request was
	// sent) cannot be checked. AtMostOnce (default) never resends: the phase becomes
	// Unknown. AtLeastOnce sends again, which can deliver the message twice.
	// +optional
	// +kubebuilder:default=AtMostOnce
	DeliveryGuarantee DeliveryGuarantee `json:"deliveryGuarantee,omitempty"`

	// priority orders the send queue: High (alerts; the Alertmanager bridge's messages) goes
	// before Normal (the default), and Normal before Bulk (broadcasts). Within a priority the
	// namespaces waiting share the bot's rate fairly, so a namespace with a backlog delays
	// another's message by about one turn per namespace waiting (docs/performance.md).
	// +optional
	// +kubebuilder:default=Normal
	Priority MessagePriority `json:"priority,omitempty"`

	// suspend pauses a broadcast (a message to an audience target) before its next batch;
	// false resumes it where it stopped. It has no effect on a message to one conversation.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ignoreOptOut sends the message even when the recipient told the bot to stop (a reply
	// "stop" to the bot), for critical messages. It has an effect only in namespaces the
	// platform team allows (the manager's --opt-out-override-namespace-selector); elsewhere the
	// message ends OptedOut like any other.
	// +optional
	IgnoreOptOut bool `json:"ignoreOptOut,omitempty"`
}

// ProactiveMessageStatus is the delivery state.
type ProactiveMessageStatus struct {
	// observedGeneration is the generation of the spec that Ready or Stalled describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (always), Reconciling and Stalled (only while true).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase is Pending, Scheduled, Sending, Delivered, Failed, Expired, Unknown or OptedOut.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// conversationId is the conversation the message was sent to (for a channel, the
	// new thread's id).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ConversationID string `json:"conversationId,omitempty"`

	// activityId is the Teams message id.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ActivityID string `json:"activityId,omitempty"`

	// deliveredAt is when Teams accepted the message.
	// +optional
	DeliveredAt *metav1.Time `json:"deliveredAt,omitempty"`

	// attempts counts send requests made.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// lastError is the last failure, in stable words (no request ids).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LastError string `json:"lastError,omitempty"`

	// contentHash identifies the content Teams holds (as last sent or edited), so a content
	// change after delivery is edited in place (onUpdate: Edit) exactly once.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ContentHash string `json:"contentHash,omitempty"`

	// cardActions records what people did with the card's buttons (Universal Actions), for
	// example Acknowledge and Silence on an Alertmanager card.
	// +optional
	CardActions *CardActionsStatus `json:"cardActions,omitempty"`

	// broadcast is the progress of a message to an audience: counts per outcome, times and
	// sample failures. Per-person outcomes are in ConfigMaps (docs/broadcast.md).
	// +optional
	Broadcast *BroadcastStatus `json:"broadcast,omitempty"`
}

// CardActionsStatus is the state people set with the card's buttons.
type CardActionsStatus struct {
	// acknowledged: who acknowledged the message, and when.
	// +optional
	Acknowledged *CardActor `json:"acknowledged,omitempty"`

	// silence is the Alertmanager silence created from the card, while it lasts.
	// +optional
	Silence *CardSilence `json:"silence,omitempty"`
}

// CardActor is a Teams user who pressed a button, and when.
type CardActor struct {
	// name is the user's Teams display name.
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// aadObjectId is the user's Entra object id.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AADObjectID string `json:"aadObjectId,omitempty"`

	// at is when the button was pressed.
	At metav1.Time `json:"at"`
}

// CardSilence is an Alertmanager silence created from a card.
type CardSilence struct {
	CardActor `json:",inline"`

	// id is Alertmanager's silence id.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// until is when the silence ends.
	Until metav1.Time `json:"until"`
}

// ProactiveMessage is one message to one ConversationTarget. The operator sends it once,
// records the Teams ids and the delivery state, and can edit or delete it later.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pmsg,categories=teams
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.broadcast.progress`
// +kubebuilder:printcolumn:name="Delivered",type=integer,JSONPath=`.status.broadcast.delivered`,priority=1
// +kubebuilder:printcolumn:name="Skipped",type=integer,JSONPath=`.status.broadcast.skipped`,priority=1
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.broadcast.failed`,priority=1
// +kubebuilder:printcolumn:name="ActivityID",type=string,JSONPath=`.status.activityId`,priority=1
// +kubebuilder:printcolumn:name="DeliveredAt",type=date,JSONPath=`.status.deliveredAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ProactiveMessage struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ProactiveMessageSpec `json:"spec"`

	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status ProactiveMessageStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ProactiveMessageList contains a list of ProactiveMessage.
type ProactiveMessageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProactiveMessage `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ProactiveMessage{}, &ProactiveMessageList{})
		return nil
	})
}

// GetConditions returns the status conditions.
func (in *ProactiveMessage) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ProactiveMessage) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation that Ready or Stalled describes.
func (in *ProactiveMessage) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
