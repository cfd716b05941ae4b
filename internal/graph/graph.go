// Package graph is the Microsoft Graph client for Teams app installation: the app
// catalog, installedApps in team, user and chat scope, the chat between a user
// and the app, users and a team's primary channel.
//
// Every method takes a context, returns typed results and, for a non-2xx answer,
// a *msapi.APIError (see the msapi predicates and msapi.Classify). Nothing here
// knows about Kubernetes.
package graph

import (
	"context"
)

// Interface is the Graph surface the controllers use: one method per HTTP call.
type Interface interface {
	// GetCatalogApp returns the org-catalog app with this catalog id, with its
	// app definitions. An unknown id gives an error for which
	// msapi.IsNotFound is true.
	GetCatalogApp(ctx context.Context, teamsAppID string) (TeamsApp, error)
	// FindCatalogAppsByExternalID returns the catalog apps whose manifest id is
	// externalID: none, one, or (a conflict for the caller) several. Store apps
	// have no externalId; look them up by GetCatalogApp instead.
	FindCatalogAppsByExternalID(ctx context.Context, externalID string) ([]TeamsApp, error)
	// ListInstalledApps returns the installations of teamsAppID in the scope
	// (all installations when teamsAppID is empty), following pagination.
	ListInstalledApps(ctx context.Context, scope Scope, teamsAppID string) ([]Installation, error)
	// GetConsentedPermissions returns the RSC permissions consented for an
	// installation. Graph returns consentedPermissionSet only when it is
	// selected ($select=consentedPermissionSet,id), so the other reads never
	// carry it.
	GetConsentedPermissions(ctx context.Context, scope Scope, installationID string) ([]ResourceSpecificPermission, error)
	// InstallApp adds the catalog app to the scope. Graph returns no body and
	// no id: list the scope again to learn the installation id. A 409 means
	// it is installed already (msapi.IsConflict).
	InstallApp(ctx context.Context, scope Scope, teamsAppID string, perms []ResourceSpecificPermission) error
	// UpgradeApp moves the installation to the catalog's latest version,
	// consenting to perms when given.
	UpgradeApp(ctx context.Context, scope Scope, installationID string, perms []ResourceSpecificPermission) error
	// UninstallApp removes the installation.
	UninstallApp(ctx context.Context, scope Scope, installationID string) error
	// GetInstallationChat returns the id of the 1:1 chat between the user and
	// the app installed for them (19:…@unq.gbl.spaces), which the Connector
	// accepts as a conversation id.
	GetInstallationChat(ctx context.Context, userID, installationID string) (string, error)
	// GetUser returns a user by Entra object id or user principal name.
	GetUser(ctx context.Context, idOrUPN string) (User, error)
	// GetPrimaryChannel returns a team's General channel (whose id is the team's
	// thread id).
	GetPrimaryChannel(ctx context.Context, teamID string) (Channel, error)
	// GetChannel returns a channel of a team, with its membershipType (standard,
	// private or shared).
	GetChannel(ctx context.Context, teamID, channelID string) (Channel, error)
	// ListChannelApps returns the apps added to a private or shared channel
	// (its enabledApps), following pagination.
	ListChannelApps(ctx context.Context, teamID, channelID string) ([]TeamsApp, error)
}

// ScopeKind is where an app is installed.
type ScopeKind string

// Installation scopes.
const (
	ScopeTeam ScopeKind = "team"
	ScopeUser ScopeKind = "user"
	ScopeChat ScopeKind = "chat"
)

// Scope is one team, user (object id or UPN) or chat.
type Scope struct {
	Kind ScopeKind
	ID   string
}

// TeamsApp is an app in the tenant's app catalog.
type TeamsApp struct {
	// ID is the catalog id (for store apps, the manifest id).
	ID string `json:"id"`
	// ExternalID is the manifest id (empty for store apps).
	ExternalID         string `json:"externalId,omitempty"`
	DisplayName        string `json:"displayName,omitempty"`
	DistributionMethod string `json:"distributionMethod,omitempty"` // store, organization, sideloaded
	// Definitions is filled by the catalog calls (they expand appDefinitions).
	Definitions []AppDefinition `json:"appDefinitions,omitempty"`
}

// AppDefinition is one version of a Teams app.
type AppDefinition struct {
	ID         string `json:"id,omitempty"`
	TeamsAppID string `json:"teamsAppId,omitempty"`
	// AzureADAppID is the manifest's webApplicationInfo.id, NOT the bot's id: it
	// is null for an app without webApplicationInfo (most notification bots) and
	// may name another Entra app. Match Bot.ID to find our bot.
	// https://learn.microsoft.com/graph/api/resources/teamsappdefinition
	AzureADAppID string `json:"azureADAppId,omitempty"`
	// Bot is the definition's bot; Graph returns it only when expanded
	// (teamsAppDefinition($expand=bot)), and it is null for an app without one.
	Bot             *Bot   `json:"bot,omitempty"`
	DisplayName     string `json:"displayName,omitempty"`
	Version         string `json:"version,omitempty"`
	PublishingState string `json:"publishingState,omitempty"` // submitted, published, rejected
	Authorization   *struct {
		RequiredPermissionSet PermissionSet `json:"requiredPermissionSet"`
	} `json:"authorization,omitempty"`
}

// Bot is a Teams app definition's bot (teamworkBot): its id is the bot's
// Entra app id.
type Bot struct {
	ID string `json:"id"`
}

// BotID returns the definition's bot id, "" when it has none or it was not expanded.
func (d AppDefinition) BotID() string {
	if d.Bot == nil {
		return ""
	}
	return d.Bot.ID
}

// RequiredPermissions returns the RSC permissions the definition declares.
func (d AppDefinition) RequiredPermissions() []ResourceSpecificPermission {
	if d.Authorization == nil {
		return nil
	}
	return d.Authorization.RequiredPermissionSet.ResourceSpecificPermissions
}

// Installation is an app installed in a scope. Its ID is not the app's id.
// It carries no consentedPermissionSet: Graph returns that only when selected
// (GetConsentedPermissions).
type Installation struct {
	ID         string        `json:"id"`
	TeamsApp   TeamsApp      `json:"teamsApp"`
	Definition AppDefinition `json:"teamsAppDefinition"`
}

// PermissionSet lists resource-specific consent (RSC) permissions.
type PermissionSet struct {
	ResourceSpecificPermissions []ResourceSpecificPermission `json:"resourceSpecificPermissions,omitempty"`
}

// ResourceSpecificPermission is one RSC permission, such as
// {ChatMessage.Read.Chat, Application}.
type ResourceSpecificPermission struct {
	PermissionValue string `json:"permissionValue"`
	// PermissionType is Application or Delegated when sent; Graph answers in
	// lower case (application, delegated), so compare it case-insensitively.
	PermissionType string `json:"permissionType"`
}

// User is an Entra user.
type User struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	Mail              string `json:"mail,omitempty"`
}

// Channel membership types (https://learn.microsoft.com/graph/api/resources/channel).
const (
	ChannelStandard = "standard"
	ChannelPrivate  = "private"
	ChannelShared   = "shared"
)

// Channel is a Teams channel.
type Channel struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName,omitempty"`
	MembershipType string `json:"membershipType,omitempty"`
	TenantID       string `json:"tenantId,omitempty"`
}
