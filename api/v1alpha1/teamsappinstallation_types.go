package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TeamsAppReference names the Teams app to install: exactly one of teamsAppId or externalId.
// +kubebuilder:validation:XValidation:rule="has(self.teamsAppId) != has(self.externalId)",message="exactly one of app.teamsAppId or app.externalId must be set"
type TeamsAppReference struct {
	// teamsAppId is the app's id in the Teams app catalog (Graph teamsApp.id). For store apps
	// it is the id from the manifest.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	TeamsAppID string `json:"teamsAppId,omitempty"`

	// externalId is the id in the app's manifest; the operator resolves it to a catalog id
	// through the organization's app catalog. Do not use it for store apps (their catalog
	// entry has no externalId): use teamsAppId instead.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	ExternalID string `json:"externalId,omitempty"`
}

// TeamScope installs the app in a team, so the bot can post in its channels.
type TeamScope struct {
	// id is the team's Microsoft Graph id (the Microsoft 365 group's object id, a GUID).
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +kubebuilder:validation:MaxLength=36
	ID string `json:"id"`
}

// UserScope installs the app for one user (personal scope), which creates the user's
// 1:1 chat with the bot.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.userPrincipalName)",message="exactly one of scope.user.id or scope.user.userPrincipalName must be set"
type UserScope struct {
	// id is the user's Entra object id (a GUID).
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +kubebuilder:validation:MaxLength=36
	ID string `json:"id,omitempty"`

	// userPrincipalName is the user's sign-in name (for example adele@contoso.com); the
	// operator resolves it to the object id through Microsoft Graph.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[^\s@/?#]+@[^\s@/?#]+$`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
}

// ChatScope installs the app in an existing group or meeting chat.
type ChatScope struct {
	// id is the chat's id, for example 19:abc...@thread.v2.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^19:[^\s/?#]+$`
	ID string `json:"id"`
}

// InstallationScope is where the app is installed: exactly one of team, user or chat.
// +kubebuilder:validation:XValidation:rule="(has(self.team) ? 1 : 0) + (has(self.user) ? 1 : 0) + (has(self.chat) ? 1 : 0) == 1",message="exactly one of scope.team, scope.user or scope.chat must be set"
type InstallationScope struct {
	// team installs the app in a team.
	// +optional
	Team *TeamScope `json:"team,omitempty"`
	// user installs the app for one user (personal scope).
	// +optional
	User *UserScope `json:"user,omitempty"`
	// chat installs the app in a group chat.
	// +optional
	Chat *ChatScope `json:"chat,omitempty"`
}

// ResourceSpecificPermission is one resource-specific consent (RSC) permission granted at install time.
type ResourceSpecificPermission struct {
	// permissionValue is the RSC permission's name, for example ChannelMessage.Read.Group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9.]*$`
	PermissionValue string `json:"permissionValue"`
	// permissionType is Application or Delegated.
	// +optional
	// +kubebuilder:default=Application
	// +kubebuilder:validation:Enum=Application;Delegated
	PermissionType string `json:"permissionType,omitempty"`
}

// UpgradePolicy says whether the operator upgrades an installed app to the catalog's version.
// +kubebuilder:validation:Enum=Automatic;Manual
type UpgradePolicy string

const (
	// UpgradePolicyAutomatic upgrades the installation when the catalog has a newer version.
	UpgradePolicyAutomatic UpgradePolicy = "Automatic"
	// UpgradePolicyManual never upgrades; the installed version is reported in status.
	UpgradePolicyManual UpgradePolicy = "Manual"
)

// WelcomeMessage is the content of a welcome message, with the content rules of a
// ProactiveMessage: text (with textFormat) or an Adaptive Card, not both.
// +kubebuilder:validation:XValidation:rule="has(self.text) != has(self.adaptiveCard)",message="set exactly one of text or adaptiveCard"
type WelcomeMessage struct {
	// text is the message.
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

	// adaptiveCard is an Adaptive Card (schema 1.5 or older) sent instead of text.
	// +optional
	AdaptiveCard *AdaptiveCard `json:"adaptiveCard,omitempty"`
}

// WelcomeStatus records the welcome message of one installation.
type WelcomeStatus struct {
	// installationId is the installation the welcome was sent for.
	// +kubebuilder:validation:MaxLength=512
	InstallationID string `json:"installationId"`

	// sentAt is when it was sent (or, with an unknown outcome, attempted: never sent twice).
	SentAt metav1.Time `json:"sentAt"`

	// activityId is the Teams id of the welcome message; empty when Teams returned none or the
	// outcome is unknown.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ActivityID string `json:"activityId,omitempty"`
}

// TeamsAppInstallationSpec declares the bot's Teams app installed in one scope.
type TeamsAppInstallationSpec struct {
	// app is the Teams app to install: the bot's app, published to the organization's
	// catalog or the Teams Store. Immutable: the operator would otherwise leave the old app
	// installed; create a new TeamsAppInstallation instead.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="app is immutable: create a new TeamsAppInstallation for another app"
	App TeamsAppReference `json:"app"`

	// scope is where to install it: a team, a user (personal scope) or a group chat.
	// Immutable: the operator would otherwise leave the app installed in the old scope;
	// create a new TeamsAppInstallation instead (and delete this one to uninstall).
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="scope is immutable: create a new TeamsAppInstallation for another scope"
	Scope InstallationScope `json:"scope"`

	// credentialsRef names a Secret in this namespace with the bot's Entra credentials
	// (keys tenantId, clientId, and clientSecret or tls.crt and tls.key). When unset,
	// the manager's default credentials are used.
	// +optional
	CredentialsRef *LocalObjectReference `json:"credentialsRef,omitempty"`

	// deletionPolicy says what deleting this object does in Teams: Delete (default)
	// uninstalls the app from the scope; Orphan leaves it installed.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// consentedPermissions are the resource-specific consent (RSC) permissions granted at
	// install (and upgrade). They must match those declared in the app's manifest.
	// +optional
	// +listType=map
	// +listMapKey=permissionValue
	// +kubebuilder:validation:MaxItems=32
	ConsentedPermissions []ResourceSpecificPermission `json:"consentedPermissions,omitempty"`

	// welcome is a message the bot sends once per installation, when the app is first seen
	// installed here (by this object or by a person in Teams): to the user's 1:1 chat, the
	// group chat, or the team's General channel. It is never sent again for this installation,
	// not after a restart, a reinstall by drift repair or a resync (status.welcome records it).
	// +optional
	Welcome *WelcomeMessage `json:"welcome,omitempty"`

	// upgradePolicy: Automatic (default) upgrades the installation when the catalog holds a
	// newer version; Manual leaves the installed version alone.
	// +optional
	// +kubebuilder:default=Automatic
	UpgradePolicy UpgradePolicy `json:"upgradePolicy,omitempty"`

	// interval is how often the operator checks that the app is still installed, and
	// reinstalls it if someone removed it in Teams. Default 10m; at least 1m.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('168h')",message="interval must be between 1m and 168h"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// TeamsAppInstallationStatus is what the operator observed in Microsoft Graph.
type TeamsAppInstallationStatus struct {
	// observedGeneration is the generation of the spec that Ready or Stalled describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (always), Reconciling and Stalled (only while true).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// installationId is Graph's id of the installation (not the catalog id).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	InstallationID string `json:"installationId,omitempty"`

	// adopted is true when the app was already installed in the scope when this object found
	// it (by someone else, or another object): the object then watches the installation but
	// never uninstalls it, whatever its deletionPolicy. Only what this object installed is
	// uninstalled. It becomes false when the object installs the app itself (for example after
	// someone removed it in Teams).
	// +optional
	Adopted bool `json:"adopted,omitempty"`

	// teamsAppId is the catalog id the app reference resolved to.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	TeamsAppID string `json:"teamsAppId,omitempty"`

	// version is the installed app version.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Version string `json:"version,omitempty"`

	// userId is the resolved Entra object id of a user-scope installation.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UserID string `json:"userId,omitempty"`

	// welcome records the welcome message: once it is set, the welcome is never sent again for
	// this object (not after a reinstall, a restart or a restore of the object without status:
	// the annotation teams.operator.dev/welcome-sent keeps it too).
	// +optional
	Welcome *WelcomeStatus `json:"welcome,omitempty"`

	// chatId is, for user and chat scope, the conversation id to send to: the user's 1:1
	// chat with the bot, or the group chat.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ChatID string `json:"chatId,omitempty"`
}

// TeamsAppInstallation installs the bot's Teams app in a team, for a user, or in a chat,
// through Microsoft Graph, and keeps it installed.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tai,categories=teams
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.status.teamsAppId`
// +kubebuilder:printcolumn:name="InstallationID",type=string,JSONPath=`.status.installationId`,priority=1
// +kubebuilder:printcolumn:name="ChatID",type=string,JSONPath=`.status.chatId`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TeamsAppInstallation struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TeamsAppInstallationSpec `json:"spec"`

	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status TeamsAppInstallationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TeamsAppInstallationList contains a list of TeamsAppInstallation.
type TeamsAppInstallationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TeamsAppInstallation `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &TeamsAppInstallation{}, &TeamsAppInstallationList{})
		return nil
	})
}

// GetConditions returns the status conditions.
func (in *TeamsAppInstallation) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *TeamsAppInstallation) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation that Ready or Stalled describes.
func (in *TeamsAppInstallation) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
