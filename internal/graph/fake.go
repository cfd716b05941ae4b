package graph

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotImplemented is returned by a Fake method whose function field is unset.
var ErrNotImplemented = errors.New("not implemented")

// Fake implements Interface with function fields, for controller tests. An unset
// field makes its method return ErrNotImplemented, so a test notices a call it
// did not expect.
type Fake struct {
	GetCatalogAppFunc               func(ctx context.Context, teamsAppID string) (TeamsApp, error)
	FindCatalogAppsByExternalIDFunc func(ctx context.Context, externalID string) ([]TeamsApp, error)
	ListInstalledAppsFunc           func(ctx context.Context, scope Scope, teamsAppID string) ([]Installation, error)
	GetConsentedPermissionsFunc     func(ctx context.Context, scope Scope, installationID string) ([]ResourceSpecificPermission, error)
	InstallAppFunc                  func(ctx context.Context, scope Scope, teamsAppID string, perms []ResourceSpecificPermission) error
	UpgradeAppFunc                  func(ctx context.Context, scope Scope, installationID string, perms []ResourceSpecificPermission) error
	UninstallAppFunc                func(ctx context.Context, scope Scope, installationID string) error
	GetInstallationChatFunc         func(ctx context.Context, userID, installationID string) (string, error)
	GetUserFunc                     func(ctx context.Context, idOrUPN string) (User, error)
	GetPrimaryChannelFunc           func(ctx context.Context, teamID string) (Channel, error)
	GetChannelFunc                  func(ctx context.Context, teamID, channelID string) (Channel, error)
	ListChannelAppsFunc             func(ctx context.Context, teamID, channelID string) ([]TeamsApp, error)
}

var _ Interface = (*Fake)(nil)

func notImplemented(method string) error {
	return fmt.Errorf("graph.Fake.%s: %w", method, ErrNotImplemented)
}

// GetCatalogApp implements Interface.
func (f *Fake) GetCatalogApp(ctx context.Context, teamsAppID string) (TeamsApp, error) {
	if f.GetCatalogAppFunc == nil {
		return TeamsApp{}, notImplemented("GetCatalogApp")
	}
	return f.GetCatalogAppFunc(ctx, teamsAppID)
}

// FindCatalogAppsByExternalID implements Interface.
func (f *Fake) FindCatalogAppsByExternalID(ctx context.Context, externalID string) ([]TeamsApp, error) {
	if f.FindCatalogAppsByExternalIDFunc == nil {
		return nil, notImplemented("FindCatalogAppsByExternalID")
	}
	return f.FindCatalogAppsByExternalIDFunc(ctx, externalID)
}

// ListInstalledApps implements Interface.
func (f *Fake) ListInstalledApps(ctx context.Context, scope Scope, teamsAppID string) ([]Installation, error) {
	if f.ListInstalledAppsFunc == nil {
		return nil, notImplemented("ListInstalledApps")
	}
	return f.ListInstalledAppsFunc(ctx, scope, teamsAppID)
}

// GetConsentedPermissions implements Interface.
func (f *Fake) GetConsentedPermissions(ctx context.Context, scope Scope, installationID string) ([]ResourceSpecificPermission, error) {
	if f.GetConsentedPermissionsFunc == nil {
		return nil, notImplemented("GetConsentedPermissions")
	}
	return f.GetConsentedPermissionsFunc(ctx, scope, installationID)
}

// InstallApp implements Interface.
func (f *Fake) InstallApp(ctx context.Context, scope Scope, teamsAppID string, perms []ResourceSpecificPermission) error {
	if f.InstallAppFunc == nil {
		return notImplemented("InstallApp")
	}
	return f.InstallAppFunc(ctx, scope, teamsAppID, perms)
}

// UpgradeApp implements Interface.
func (f *Fake) UpgradeApp(ctx context.Context, scope Scope, installationID string, perms []ResourceSpecificPermission) error {
	if f.UpgradeAppFunc == nil {
		return notImplemented("UpgradeApp")
	}
	return f.UpgradeAppFunc(ctx, scope, installationID, perms)
}

// UninstallApp implements Interface.
func (f *Fake) UninstallApp(ctx context.Context, scope Scope, installationID string) error {
	if f.UninstallAppFunc == nil {
		return notImplemented("UninstallApp")
	}
	return f.UninstallAppFunc(ctx, scope, installationID)
}

// GetInstallationChat implements Interface.
func (f *Fake) GetInstallationChat(ctx context.Context, userID, installationID string) (string, error) {
	if f.GetInstallationChatFunc == nil {
		return "", notImplemented("GetInstallationChat")
	}
	return f.GetInstallationChatFunc(ctx, userID, installationID)
}

// GetUser implements Interface.
func (f *Fake) GetUser(ctx context.Context, idOrUPN string) (User, error) {
	if f.GetUserFunc == nil {
		return User{}, notImplemented("GetUser")
	}
	return f.GetUserFunc(ctx, idOrUPN)
}

// GetPrimaryChannel implements Interface.
func (f *Fake) GetPrimaryChannel(ctx context.Context, teamID string) (Channel, error) {
	if f.GetPrimaryChannelFunc == nil {
		return Channel{}, notImplemented("GetPrimaryChannel")
	}
	return f.GetPrimaryChannelFunc(ctx, teamID)
}

// GetChannel implements Interface.
func (f *Fake) GetChannel(ctx context.Context, teamID, channelID string) (Channel, error) {
	if f.GetChannelFunc == nil {
		return Channel{}, notImplemented("GetChannel")
	}
	return f.GetChannelFunc(ctx, teamID, channelID)
}

// ListChannelApps implements Interface.
func (f *Fake) ListChannelApps(ctx context.Context, teamID, channelID string) ([]TeamsApp, error) {
	if f.ListChannelAppsFunc == nil {
		return nil, notImplemented("ListChannelApps")
	}
	return f.ListChannelAppsFunc(ctx, teamID, channelID)
}
