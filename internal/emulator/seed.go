package emulator

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// Seed is the directory an Emulator starts with: tenants, their app registrations, org catalog,
// users, teams and group chats. It is read from YAML or JSON (see docs/emulator.md).
type Seed struct {
	Tenants []TenantSeed `json:"tenants"`
}

// TenantSeed is one Entra tenant and everything in it.
type TenantSeed struct {
	// ID is the tenant GUID.
	ID string `json:"id"`
	// Name is the organisation's display name.
	Name string `json:"name,omitempty"`
	// Domain is the tenant's initial domain (contoso.onmicrosoft.com); the token endpoint accepts it
	// in place of the tenant id.
	Domain string `json:"domain,omitempty"`
	// Apps are the app registrations (or, for a multi-tenant app, its service principal) usable in
	// this tenant, with the Graph application permissions granted here.
	Apps []AppSeed `json:"apps,omitempty"`
	// Catalog is the tenant's Teams app catalog (org apps, and any store app the tests need).
	Catalog []CatalogAppSeed `json:"catalog,omitempty"`
	Users   []UserSeed       `json:"users,omitempty"`
	Teams   []TeamSeed       `json:"teams,omitempty"`
	Chats   []ChatSeed       `json:"chats,omitempty"`
	// Groups are Entra groups (audience.go): users and nested groups.
	Groups []GroupSeed `json:"groups,omitempty"`
}

// AppSeed is an Entra app registration. The credentials of an app listed in several tenants are
// the union of its entries; GraphRoles are per tenant.
type AppSeed struct {
	// ClientID is the application (client) id, a GUID. For a bot it is also the Bot id.
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName,omitempty"`
	// Secrets are client secrets, in clear.
	Secrets []string `json:"secrets,omitempty"`
	// Certificates are PEM X.509 certificates whose keys may sign client assertions.
	Certificates []string `json:"certificates,omitempty"`
	// FederatedCredentials are trusted external identities (workload identity federation).
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
	// MultiTenant allows tokens from the legacy botframework.com tenant.
	MultiTenant bool `json:"multiTenant,omitempty"`
	// Bot marks the app as a registered Azure Bot, so the Connector accepts its tokens.
	Bot bool `json:"bot,omitempty"`
	// GraphRoles are the Microsoft Graph application permissions granted in this tenant.
	GraphRoles []string `json:"graphRoles,omitempty"`
}

// FederatedCredential is a federated identity credential on an app registration.
type FederatedCredential struct {
	Name    string `json:"name,omitempty"`
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	// Audience and Audiences are merged; both empty means api://AzureADTokenExchange.
	Audience  string   `json:"audience,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

// CatalogAppSeed is a Teams app in the tenant's app catalog.
type CatalogAppSeed struct {
	// ID is the catalog id (teamsAppId). For a store app it equals the manifest id.
	ID string `json:"id"`
	// ExternalID is the manifest id; empty for store apps.
	ExternalID  string `json:"externalId,omitempty"`
	DisplayName string `json:"displayName"`
	// DistributionMethod is organization (default), store or sideloaded.
	DistributionMethod string `json:"distributionMethod,omitempty"`
	// Version is the current published version (default 1.0.0).
	Version string `json:"version,omitempty"`
	// BotID is the Entra app id of the app's bot; empty: no bot.
	BotID string `json:"botId,omitempty"`
	// WebApplicationInfoID is the manifest's optional webApplicationInfo.id, which Graph returns
	// as the definition's azureADAppId (null when empty). It need not be the bot: a
	// notification-only bot usually has none, and it may name another Entra app. The "Self"
	// installation permissions reach only apps whose webApplicationInfo.id is the caller.
	// https://learn.microsoft.com/graph/api/resources/teamsappdefinition ;
	// https://learn.microsoft.com/microsoftteams/platform/graph-api/proactive-bots-and-messages/graph-proactive-bots-and-messages
	WebApplicationInfoID string `json:"webApplicationInfoId,omitempty"`
	// RSCPermissions are the resource-specific permissions the app definition declares.
	RSCPermissions []RSCPermission `json:"rscPermissions,omitempty"`
}

// RSCPermission is one resource-specific permission of an app definition.
type RSCPermission struct {
	PermissionValue string `json:"permissionValue"`
	// PermissionType is Application or Delegated.
	PermissionType string `json:"permissionType"`
}

// UserSeed is a user in the tenant.
type UserSeed struct {
	// ID is the Entra object id, a GUID.
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName,omitempty"`
	// Mail defaults to the UPN.
	Mail string `json:"mail,omitempty"`
	// BlockedBot: the user blocked every bot. BlockedBots lists blocked bot app ids.
	BlockedBot  bool     `json:"blockedBot,omitempty"`
	BlockedBots []string `json:"blockedBots,omitempty"`
	// BotUserIDs maps a bot app id to this user's bot-scoped 29: id. Unlisted pairs get a derived id.
	BotUserIDs map[string]string `json:"botUserIds,omitempty"`
	// InstalledApps are catalog ids installed in the user's personal scope.
	InstalledApps []string `json:"installedApps,omitempty"`
}

// TeamSeed is a team.
type TeamSeed struct {
	// ID is the Graph team id (the Microsoft 365 group id), a GUID.
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// GeneralChannelID is the General channel's id (19:…@thread.tacv2), which is also the team's id
	// for the Bot Framework.
	GeneralChannelID string `json:"generalChannelId"`
	// Channels are the team's other channels.
	Channels []ChannelSeed `json:"channels,omitempty"`
	// Members are user ids.
	Members []string `json:"members,omitempty"`
	// Guests are the members (user ids, also listed in Members) who are guests in the team.
	Guests []string `json:"guests,omitempty"`
	// InstalledApps are catalog ids installed in the team.
	InstalledApps []string `json:"installedApps,omitempty"`
}

// ChannelSeed is a channel other than General.
type ChannelSeed struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// MembershipType is standard (the default), private or shared, as Graph's channel
	// resource names it.
	MembershipType string `json:"membershipType,omitempty"`
	// EnabledApps are catalog ids of the apps added to a private or shared channel
	// (Graph's channel enabledApps). A bot posts there only if its app is one of them.
	EnabledApps []string `json:"enabledApps,omitempty"`
}

// ChatSeed is a group chat.
type ChatSeed struct {
	// ID is the chat id, 19:…@thread.v2.
	ID    string `json:"id"`
	Topic string `json:"topic,omitempty"`
	// Members are user ids.
	Members []string `json:"members,omitempty"`
	// InstalledApps are catalog ids installed in the chat.
	InstalledApps []string `json:"installedApps,omitempty"`
}

// Ids and secrets of DefaultSeed, for tests and the demo.
const (
	DefaultTenantID     = "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1b"
	DefaultTenantName   = "Contoso"
	DefaultTenantDomain = "contoso.onmicrosoft.com"

	// DefaultBotAppID is the single-tenant bot's Entra app id (and Bot id).
	DefaultBotAppID = "f41b1632-b10d-445c-a564-1c769fa12d39"
	// DefaultBotSecret is the bot app's client secret.
	DefaultBotSecret = "emulator-bot-secret-not-a-real-secret"
	// DefaultFederatedIssuer and DefaultFederatedSubject form the bot app's federated credential
	// (audience api://AzureADTokenExchange).
	DefaultFederatedIssuer  = "https://kubernetes.default.svc.cluster.local"
	DefaultFederatedSubject = "system:serviceaccount:teams-operator-system:teams-operator-controller-manager"

	// DefaultTeamsAppID is the bot's Teams app in the org catalog; DefaultTeamsAppExternalID is its
	// manifest id.
	DefaultTeamsAppID         = "2bdf4924-dbe2-4c2e-92ef-304874f263df"
	DefaultTeamsAppExternalID = "d8461937-053e-41a3-855f-571615154543"
	DefaultTeamsAppName       = "Teams Operator"

	DefaultUserAdeleID  = "b60f0e6e-0d76-42f6-aef3-48a02608386f"
	DefaultUserAlexID   = "a4fb8658-d325-407b-90c3-0dc8081a0868"
	DefaultUserMeganID  = "554ac30f-f3f4-4588-b5cc-c87fdcf1a060"
	DefaultUserLynneID  = "195d908f-76e1-4a1a-bdf3-0aa3c211c441"
	DefaultUserDiegoID  = "0dfaeeca-028e-4d6f-8a24-384518c57a6b"
	DefaultUserAdeleUPN = "AdeleV@" + DefaultTenantDomain
	DefaultUserAlexUPN  = "AlexW@" + DefaultTenantDomain
	DefaultUserMeganUPN = "MeganB@" + DefaultTenantDomain
	DefaultUserLynneUPN = "LynneR@" + DefaultTenantDomain
	DefaultUserDiegoUPN = "DiegoS@" + DefaultTenantDomain

	// DefaultTeamID is the "Platform" team (members Adele, Alex, Megan, Lynne; not Diego).
	DefaultTeamID               = "0ff3f18e-f596-45b1-ad6c-ce0c9e25412f"
	DefaultTeamName             = "Platform"
	DefaultGeneralChannelID     = "19:b06dbcfdb6ac4ef782c8991f4ec6de92@thread.tacv2"
	DefaultAlertsChannelID      = "19:5c2a8e0e3f0b4a1d9b7f2c6e1d4a8b3f@thread.tacv2"
	DefaultDeploymentsChannelID = "19:9e4d7c1a2b3f4e5d8c6b0a1f2e3d4c5b@thread.tacv2"
	// DefaultPrivateChannelID is the private channel "security" (no app added to it).
	DefaultPrivateChannelID = "19:7a1c3e5f9b2d4f6a8c0e1b3d5f7a9c2e@thread.tacv2"
	// DefaultSharedChannelID is the shared channel "partners", with the default app added.
	DefaultSharedChannelID = "19:3f8b1d6e2a4c4e9b8d7f6a5c4b3e2d1f@thread.tacv2"

	// DefaultGroupChatID is a group chat of Adele, Megan and Diego.
	DefaultGroupChatID = "19:bc6f6051439a43fabe0884f972daabaf@thread.v2"
)

// DefaultNotifierAppID is a second bot in the default tenant whose Teams app
// (DefaultNotifierTeamsAppID) has no webApplicationInfo, as most notification-only bots: the
// "Self" installation permissions cannot reach it, so it holds DefaultNotifierGraphRoles.
const (
	DefaultNotifierAppID            = "7d3c56a2-8f1e-4b0a-9c2d-5e6f7a8b9c0d"
	DefaultNotifierSecret           = "emulator-notifier-secret-not-a-real-secret"
	DefaultNotifierTeamsAppID       = "c1a7e0b4-3d2f-4e5a-8b6c-9d0e1f2a3b4c"
	DefaultNotifierTeamsAppExternal = "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"
	DefaultNotifierTeamsAppName     = "Teams Operator Notifier"
)

// Graph application permissions both default bots hold, and the default app version.
const (
	roleAppCatalogRead = "AppCatalog.Read.All"
	roleUserRead       = "User.Read.All"
	roleChannelRead    = "Channel.ReadBasic.All"
	defaultAppVersion  = "1.0.0"
)

// DefaultNotifierGraphRoles are the broader application permissions an app without
// webApplicationInfo needs (reference 1.4): the non-Self installation permissions.
var DefaultNotifierGraphRoles = []string{
	roleAppCatalogRead,
	"TeamsAppInstallation.ReadWriteForTeam.All",
	"TeamsAppInstallation.ReadWriteForUser.All",
	"TeamsAppInstallation.ReadWriteForChat.All",
	roleUserRead,
	roleChannelRead,
}

// DefaultGraphRoles are the application permissions the default bot app holds in the default
// tenant: everything the operator calls, with the "Self" installation permissions (its Teams
// app's webApplicationInfo.id is the bot app).
var DefaultGraphRoles = []string{
	roleAppCatalogRead,
	"TeamsAppInstallation.ReadWriteSelfForTeam.All",
	"TeamsAppInstallation.ReadWriteSelfForUser.All",
	"TeamsAppInstallation.ReadWriteSelfForChat.All",
	roleUserRead,
	roleChannelRead,
	roleTeamMemberRead,
	roleGroupMemberRead,
}

// DefaultSeed is a small demo tenant: one single-tenant bot app (secret, certificate and federated
// credential, DefaultGraphRoles), its Teams app in the org catalog (webApplicationInfo = the bot),
// a second bot (DefaultNotifierAppID, DefaultNotifierGraphRoles) whose Teams app has no
// webApplicationInfo, five users, the "Platform" team with General, alerts and deployments
// channels, a private and a shared channel, one group chat, and nothing installed.
func DefaultSeed() *Seed {
	u := func(id, upn, name string) UserSeed {
		return UserSeed{ID: id, UserPrincipalName: upn, DisplayName: name}
	}
	return &Seed{Tenants: []TenantSeed{{
		ID:     DefaultTenantID,
		Name:   DefaultTenantName,
		Domain: DefaultTenantDomain,
		Apps: []AppSeed{{
			ClientID:     DefaultBotAppID,
			DisplayName:  "Teams Operator Bot",
			Bot:          true,
			Secrets:      []string{DefaultBotSecret},
			Certificates: []string{DefaultBotCertificatePEM},
			FederatedCredentials: []FederatedCredential{{
				Name:    "teams-operator",
				Issuer:  DefaultFederatedIssuer,
				Subject: DefaultFederatedSubject,
			}},
			GraphRoles: append([]string(nil), DefaultGraphRoles...),
		}, {
			ClientID:    DefaultNotifierAppID,
			DisplayName: "Teams Operator Notifier Bot",
			Bot:         true,
			Secrets:     []string{DefaultNotifierSecret},
			GraphRoles:  append([]string(nil), DefaultNotifierGraphRoles...),
		}},
		Catalog: []CatalogAppSeed{{
			ID:                   DefaultTeamsAppID,
			ExternalID:           DefaultTeamsAppExternalID,
			DisplayName:          DefaultTeamsAppName,
			DistributionMethod:   distOrganization,
			Version:              defaultAppVersion,
			BotID:                DefaultBotAppID,
			WebApplicationInfoID: DefaultBotAppID,
		}, {
			ID:                 DefaultNotifierTeamsAppID,
			ExternalID:         DefaultNotifierTeamsAppExternal,
			DisplayName:        DefaultNotifierTeamsAppName,
			DistributionMethod: distOrganization,
			Version:            defaultAppVersion,
			BotID:              DefaultNotifierAppID,
		}},
		Users: []UserSeed{
			u(DefaultUserAdeleID, DefaultUserAdeleUPN, "Adele Vance"),
			u(DefaultUserAlexID, DefaultUserAlexUPN, "Alex Wilber"),
			u(DefaultUserMeganID, DefaultUserMeganUPN, "Megan Bowen"),
			u(DefaultUserLynneID, DefaultUserLynneUPN, "Lynne Robbins"),
			u(DefaultUserDiegoID, DefaultUserDiegoUPN, "Diego Siciliani"),
		},
		Teams: []TeamSeed{{
			ID:               DefaultTeamID,
			DisplayName:      DefaultTeamName,
			GeneralChannelID: DefaultGeneralChannelID,
			Channels: []ChannelSeed{
				{ID: DefaultAlertsChannelID, DisplayName: "alerts", Description: "Alerts from production"},
				{ID: DefaultDeploymentsChannelID, DisplayName: "deployments", Description: "Release notes"},
				{ID: DefaultPrivateChannelID, DisplayName: "security", Description: "Private: incident response",
					MembershipType: ChannelPrivate},
				{ID: DefaultSharedChannelID, DisplayName: "partners", Description: "Shared with a partner organisation",
					MembershipType: ChannelShared, EnabledApps: []string{DefaultTeamsAppID}},
			},
			Members: []string{DefaultUserAdeleID, DefaultUserAlexID, DefaultUserMeganID, DefaultUserLynneID},
		}},
		Chats: []ChatSeed{{
			ID:      DefaultGroupChatID,
			Topic:   "On-call",
			Members: []string{DefaultUserAdeleID, DefaultUserMeganID, DefaultUserDiegoID},
		}},
	}}}
}

// LoadSeed reads a YAML or JSON seed file and validates it.
func LoadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seed: %w", err)
	}
	s, err := ParseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return s, nil
}

// ParseSeed decodes a YAML or JSON seed (unknown fields are errors) and checks it on its own.
func ParseSeed(b []byte) (*Seed, error) {
	var s Seed
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("decoding seed: %w", err)
	}
	if err := s.validateShape(); err != nil {
		return nil, err
	}
	return &s, nil
}

var (
	guidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	channelIDRE   = regexp.MustCompile(`^19:[^;/\s]+@thread\.(tacv2|skype)$`)
	groupChatIDRE = regexp.MustCompile(`^19:[^;/\s]+@thread\.v2$`)
)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// shapeChecker collects the problems validateShape finds.
type shapeChecker struct {
	errs []error
	seen map[string]bool
}

func (c *shapeChecker) add(format string, a ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, a...))
}

func (c *shapeChecker) unique(kind, id string) {
	k := kind + "|" + strings.ToLower(id)
	if c.seen[k] {
		c.add("duplicate %s %q", kind, id)
	}
	c.seen[k] = true
}

// validateShape checks what can be checked without the rest of the directory: formats,
// duplicates inside the seed, certificate PEM.
func (s *Seed) validateShape() error {
	c := &shapeChecker{seen: map[string]bool{}}
	for ti := range s.Tenants {
		t := &s.Tenants[ti]
		if !isGUID(t.ID) {
			c.add("tenants[%d].id %q is not a GUID", ti, t.ID)
		}
		c.unique("tenant", t.ID)
		c.apps(t)
		c.catalog(t)
		c.users(t)
		c.teams(t)
		c.groups(t)
		for _, ch := range t.Chats {
			if !groupChatIDRE.MatchString(ch.ID) {
				c.add("tenant %s: chat id %q is not 19:…@thread.v2", t.ID, ch.ID)
			}
			c.unique("chat", ch.ID)
		}
	}
	return errors.Join(c.errs...)
}

func (c *shapeChecker) apps(t *TenantSeed) {
	for _, a := range t.Apps {
		if !isGUID(a.ClientID) {
			c.add("tenant %s: app clientId %q is not a GUID", t.ID, a.ClientID)
		}
		c.unique("app in tenant "+t.ID, a.ClientID)
		for i, p := range a.Certificates {
			if _, err := parseCertPEM(p); err != nil {
				c.add("tenant %s: app %s: certificates[%d]: %v", t.ID, a.ClientID, i, err)
			}
		}
		for i, f := range a.FederatedCredentials {
			if f.Issuer == "" || f.Subject == "" {
				c.add("tenant %s: app %s: federatedCredentials[%d] needs issuer and subject", t.ID, a.ClientID, i)
			}
		}
	}
}

func (c *shapeChecker) catalog(t *TenantSeed) {
	for _, app := range t.Catalog {
		if app.ID == "" || app.DisplayName == "" {
			c.add("tenant %s: catalog app %q needs id and displayName", t.ID, app.ID)
		}
		c.unique("catalog app in tenant "+t.ID, app.ID)
		switch app.DistributionMethod {
		case "", distOrganization, "store", "sideloaded":
		default:
			c.add("tenant %s: catalog app %s: distributionMethod %q is not organization, store or sideloaded",
				t.ID, app.ID, app.DistributionMethod)
		}
		if app.BotID != "" && !isGUID(app.BotID) {
			c.add("tenant %s: catalog app %s: botId %q is not a GUID", t.ID, app.ID, app.BotID)
		}
		if app.WebApplicationInfoID != "" && !isGUID(app.WebApplicationInfoID) {
			c.add("tenant %s: catalog app %s: webApplicationInfoId %q is not a GUID", t.ID, app.ID, app.WebApplicationInfoID)
		}
		for _, p := range app.RSCPermissions {
			if p.PermissionType != rscApplication && p.PermissionType != "Delegated" {
				c.add("tenant %s: catalog app %s: permissionType %q is not Application or Delegated",
					t.ID, app.ID, p.PermissionType)
			}
		}
	}
}

func (c *shapeChecker) users(t *TenantSeed) {
	for _, u := range t.Users {
		if !isGUID(u.ID) {
			c.add("tenant %s: user id %q is not a GUID", t.ID, u.ID)
		}
		if u.UserPrincipalName == "" {
			c.add("tenant %s: user %s needs userPrincipalName", t.ID, u.ID)
		}
		c.unique("user", u.ID)
		for bot, id := range u.BotUserIDs {
			if !isGUID(bot) || !strings.HasPrefix(id, "29:") {
				c.add("tenant %s: user %s: botUserIds needs bot app id → 29: id, got %q → %q", t.ID, u.ID, bot, id)
			}
		}
	}
}

func (c *shapeChecker) teams(t *TenantSeed) {
	for _, tm := range t.Teams {
		if !isGUID(tm.ID) {
			c.add("tenant %s: team id %q is not a GUID", t.ID, tm.ID)
		}
		c.unique("team", tm.ID)
		if !channelIDRE.MatchString(tm.GeneralChannelID) {
			c.add("tenant %s: team %s: generalChannelId %q is not 19:…@thread.tacv2", t.ID, tm.ID, tm.GeneralChannelID)
		}
		c.unique("channel", tm.GeneralChannelID)
		for _, ch := range tm.Channels {
			if !channelIDRE.MatchString(ch.ID) {
				c.add("tenant %s: team %s: channel id %q is not 19:…@thread.tacv2", t.ID, tm.ID, ch.ID)
			}
			c.unique("channel", ch.ID)
			c.channelType(t, tm.ID, ch)
		}
	}
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// clone returns a deep copy through JSON (seeds are small).
func (s *Seed) clone() (*Seed, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("copying seed: %w", err)
	}
	var c Seed
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copying seed: %w", err)
	}
	return &c, nil
}
