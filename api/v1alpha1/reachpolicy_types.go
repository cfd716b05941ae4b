package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ReachList lists ids a policy allows.
type ReachList struct {
	// ids are the allowed ids; an empty list allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=512
	IDs []string `json:"ids,omitempty"`
}

// PeopleReach lists the people a policy allows.
type PeopleReach struct {
	// ids are Entra object ids (GUIDs).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=36
	IDs []string `json:"ids,omitempty"`

	// userPrincipalNames are sign-in names (adele@contoso.com), compared without case.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=1024
	UserPrincipalNames []string `json:"userPrincipalNames,omitempty"`

	// domains allow every user principal name ending in @domain (contoso.com), compared
	// without case.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	Domains []string `json:"domains,omitempty"`
}

// ReachPolicySpec restricts the namespaces it selects.
//
// Where a target may go is an allow-list: once a policy sets any of teams, channels, chats,
// people, groups or conversations, a target of a kind it leaves unset is refused. A policy
// that sets none of them restricts only the audience size and the share of the rate.
// Several policies selecting one namespace all apply: a target must pass each.
type ReachPolicySpec struct {
	// namespaceSelector selects the namespaces the policy applies to; {} selects every
	// namespace.
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// teams allows channel targets in these teams (any channel), and team audiences of these
	// teams. Ids are Microsoft Graph team ids (GUIDs).
	// +optional
	Teams *ReachList `json:"teams,omitempty"`

	// channels allows channel targets in these channels (19:...@thread.tacv2), besides every
	// channel of the teams allowed above.
	// +optional
	Channels *ReachList `json:"channels,omitempty"`

	// chats allows group chat targets with these chat ids (19:...@thread.v2), and chat-scope
	// installation targets of these chats.
	// +optional
	Chats *ReachList `json:"chats,omitempty"`

	// people allows 1:1 targets (user, user-scope installation) and the people of a users
	// audience. A person named by a Teams user id (29:...) cannot be checked and is refused.
	// +optional
	People *PeopleReach `json:"people,omitempty"`

	// groups allows group audiences of these Entra groups (object ids).
	// +optional
	Groups *ReachList `json:"groups,omitempty"`

	// conversations allows conversation targets with these conversation ids.
	// +optional
	Conversations *ReachList `json:"conversations,omitempty"`

	// maxAudience is the largest audience a broadcast may have; a larger one is refused.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxAudience *int32 `json:"maxAudience,omitempty"`

	// weight is the namespaces' share of the bot's rate against other namespaces sending at
	// the same priority (default 1): a namespace of weight 2 sends twice as often as one of
	// weight 1 while both have messages waiting.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight *int32 `json:"weight,omitempty"`

	// maxSendsPerMinute caps each selected namespace's Connector requests per app and tenant,
	// at every priority together. Unset: only the manager's --max-send-rps applies.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=6000
	MaxSendsPerMinute *int32 `json:"maxSendsPerMinute,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=teams
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.namespaceSelector`,priority=1
// +kubebuilder:printcolumn:name="Max audience",type=integer,JSONPath=`.spec.maxAudience`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReachPolicy is the platform team's limit on where the ConversationTargets and
// ProactiveMessages of some namespaces may reach, how large their broadcasts may be, and
// their share of the bot's rate. It is cluster-scoped, so no namespace's own permissions can
// change it (docs/policy.md).
type ReachPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ReachPolicySpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ReachPolicyList contains a list of ReachPolicy.
type ReachPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReachPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ReachPolicy{}, &ReachPolicyList{})
		return nil
	})
}
