package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultMaxAudience is the audience size limit when audience.maxSize is unset.
const DefaultMaxAudience = 100000

// AudienceTarget is many people, each reached in their 1:1 chat with the bot. The audience is
// read when a message to it starts (not on every resync), and kept with that message.
// +kubebuilder:validation:XValidation:rule="(has(self.team) ? 1 : 0) + (has(self.group) ? 1 : 0) + (has(self.users) ? 1 : 0) == 1",message="exactly one of audience.team, audience.group or audience.users must be set"
type AudienceTarget struct {
	// team is a team's members, read from the team's roster with the Connector (the bot must
	// be installed in the team).
	// +optional
	Team *TeamAudience `json:"team,omitempty"`

	// group is an Entra group's users, nested groups included (transitive), read with
	// Microsoft Graph (application permission GroupMember.Read.All).
	// +optional
	Group *GroupAudience `json:"group,omitempty"`

	// users lists people by Entra object id or user principal name.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	Users []UserTarget `json:"users,omitempty"`

	// maxSize bounds the audience: a read that finds more people fails with
	// AudienceTooLarge, and nothing is sent. Default 100000.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxSize *int32 `json:"maxSize,omitempty"`

	// installMissing installs this Teams app for each person who does not have it (Graph,
	// user scope, as Microsoft's Company Communicator did), then sends. Unset: such people
	// are skipped as BotNotInstalled.
	// +optional
	InstallMissing *InstallMissing `json:"installMissing,omitempty"`
}

// TeamAudience is a team's roster.
type TeamAudience struct {
	// id is the team's Microsoft Graph id (the Microsoft 365 group's object id).
	// +required
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	ID string `json:"id"`

	// includeGuests also reaches the team's guests; by default only members are.
	// +optional
	IncludeGuests bool `json:"includeGuests,omitempty"`
}

// GroupAudience is an Entra group.
type GroupAudience struct {
	// id is the group's object id.
	// +required
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	ID string `json:"id"`
}

// InstallMissing names the app installed for people who lack it.
type InstallMissing struct {
	// teamsAppId is the app's id in the tenant's app catalog.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[0-9A-Za-z.-]+$`
	TeamsAppID string `json:"teamsAppId"`
}

// AudienceStatus is the last read of an audience.
type AudienceStatus struct {
	// size is how many people the last read found.
	// +optional
	Size int32 `json:"size"`

	// readAt is when the audience was last read (a message to the target started).
	// +optional
	ReadAt *metav1.Time `json:"readAt,omitempty"`

	// readBy names the ProactiveMessage whose start read it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ReadBy string `json:"readBy,omitempty"`
}

// BroadcastStatus is the progress of a broadcast: a ProactiveMessage to an audience.
// Per-person outcomes are kept in ConfigMaps labelled teams.operator.dev/broadcast=<uid>
// (docs/broadcast.md).
type BroadcastStatus struct {
	// audience is how many people the audience had when the broadcast started.
	// +optional
	Audience int32 `json:"audience"`

	// delivered, failed, skipped, unknown and pending count people by outcome.
	// +optional
	Delivered int32 `json:"delivered"`
	// +optional
	Failed int32 `json:"failed"`
	// +optional
	Skipped int32 `json:"skipped"`
	// +optional
	Unknown int32 `json:"unknown"`
	// +optional
	Pending int32 `json:"pending"`

	// progress is "done/audience", for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Progress string `json:"progress,omitempty"`

	// reasons count failed and skipped people by reason (BlockedByUser, BotNotInstalled, ...).
	// +optional
	// +listType=map
	// +listMapKey=reason
	// +kubebuilder:validation:MaxItems=32
	Reasons []ReasonCount `json:"reasons,omitempty"`

	// startedAt is when the audience was read and sending began; finishedAt when everyone
	// was accounted for.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// chunks is how many ConfigMaps hold the per-person outcomes.
	// +optional
	Chunks int32 `json:"chunks,omitempty"`

	// sampleFailures are a few people whose send failed or was skipped, with the reason.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	SampleFailures []PersonFailure `json:"sampleFailures,omitempty"`

	// removed counts sent copies deleted in Teams (deletionPolicy Delete), edited the copies
	// carrying the current content (onUpdate Edit).
	// +optional
	Removed int32 `json:"removed,omitempty"`
	// +optional
	Edited int32 `json:"edited,omitempty"`
}

// ReasonCount is how many people ended with one reason.
type ReasonCount struct {
	// reason is the per-person reason (docs/broadcast.md).
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`
	// outcome is Failed or Skipped.
	// +required
	// +kubebuilder:validation:Enum=Failed;Skipped;Unknown
	Outcome string `json:"outcome"`
	// +required
	Count int32 `json:"count"`
}

// PersonFailure is one person a broadcast did not reach.
type PersonFailure struct {
	// user is the person's Entra object id (or the name given in the audience).
	// +required
	// +kubebuilder:validation:MaxLength=1024
	User string `json:"user"`
	// reason is the per-person reason.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`
	// message is what Teams or Graph answered, in stable words.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}
