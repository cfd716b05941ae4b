// Package cloud holds the Microsoft endpoints of each national cloud the operator
// supports and applies the manager's endpoint overrides (--authority-host,
// --graph-endpoint, --bot-service-url).
//
// Token scopes are properties of the cloud, not of the endpoints: an override
// moves where requests go (a proxy, a test double) but tokens are still minted for
// the real audiences, because the services (and the emulator) check them.
package cloud

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Name is a national cloud, as given to the --cloud flag.
type Name string

// The clouds of reference section 2.5.
const (
	Public       Name = "Public"
	USGovGCC     Name = "USGovGCC"
	USGovGCCHigh Name = "USGovGCCHigh"
	USGovDoD     Name = "USGovDoD"
	China        Name = "China"
)

// Endpoints are the hosts and token scopes the operator uses in one cloud.
type Endpoints struct {
	// Name is the cloud (Lookup sets it); empty is Public.
	Name Name
	// AuthorityHost is the Entra login host, "https://host/" (always one trailing
	// slash, never a path): tokens come from {AuthorityHost}{tenant}/oauth2/v2.0/token.
	AuthorityHost string
	// GraphEndpoint is the Graph base URL without a trailing slash; clients append
	// "/v1.0/...".
	GraphEndpoint string
	// GraphScope is the scope of Graph tokens. Never changed by overrides.
	GraphScope string
	// BotScope is the scope of Bot Framework Connector tokens. Never changed by
	// overrides.
	BotScope string
	// BotLegacyTenant is the token tenant of legacy multi-tenant bots.
	BotLegacyTenant string
	// DefaultServiceURL is the Connector base URL used when no serviceUrl is known,
	// ending with "/"; empty where none is published (China).
	DefaultServiceURL string
	// ServiceHosts are the hosts a serviceUrl may name in this cloud, lower case, in
	// url.URL.Host form: "host" for port 443, "host:port" for any other port.
	ServiceHosts []string
	// BotOpenIDMetadataURL is where the Bot Connector publishes the OpenID metadata (and through
	// it the signing keys) of the tokens it sends to a bot's messaging endpoint.
	// --bot-openid-metadata-url overrides it (WithBotOpenIDMetadata).
	BotOpenIDMetadataURL string
	// BotTokenIssuer is the issuer of those tokens. Never changed by overrides: a test double
	// serving the metadata issues tokens as the real service does.
	BotTokenIssuer string
}

// The Bot Connector's inbound-token values (reference BF-AUTH "Authenticate requests from the
// Bot Connector service to your bot"; BF-GOV and BF-CN for the government and China clouds).
const (
	publicBotOpenIDMetadata = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	publicBotIssuer         = "https://api.botframework.com"
	usGovBotOpenIDMetadata  = "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
	usGovBotIssuer          = "https://api.botframework.us"
	chinaBotOpenIDMetadata  = "https://login.botframework.azure.cn/v1/.well-known/openidconfiguration"
	chinaBotIssuer          = "https://api.botframework.azure.cn"
)

var clouds = map[Name]Endpoints{
	Public: {
		AuthorityHost:        "https://login.microsoftonline.com/",
		GraphEndpoint:        "https://graph.microsoft.com",
		GraphScope:           "https://graph.microsoft.com/.default",
		BotScope:             "https://api.botframework.com/.default",
		BotLegacyTenant:      "botframework.com",
		DefaultServiceURL:    "https://smba.trafficmanager.net/teams/",
		ServiceHosts:         []string{"smba.trafficmanager.net"},
		BotOpenIDMetadataURL: publicBotOpenIDMetadata,
		BotTokenIssuer:       publicBotIssuer,
	},
	// GCC tenants live in Azure commercial: worldwide Entra, Graph and Bot scope,
	// but their own Teams service host (the public one answers InvalidBotApiHost).
	USGovGCC: {
		AuthorityHost:        "https://login.microsoftonline.com/",
		GraphEndpoint:        "https://graph.microsoft.com",
		GraphScope:           "https://graph.microsoft.com/.default",
		BotScope:             "https://api.botframework.com/.default",
		BotLegacyTenant:      "botframework.com",
		DefaultServiceURL:    "https://smba.infra.gcc.teams.microsoft.com/teams/",
		ServiceHosts:         []string{"smba.infra.gcc.teams.microsoft.com"},
		BotOpenIDMetadataURL: publicBotOpenIDMetadata,
		BotTokenIssuer:       publicBotIssuer,
	},
	USGovGCCHigh: {
		AuthorityHost:        "https://login.microsoftonline.us/",
		GraphEndpoint:        "https://graph.microsoft.us",
		GraphScope:           "https://graph.microsoft.us/.default",
		BotScope:             "https://api.botframework.us/.default",
		BotLegacyTenant:      "MicrosoftServices.onmicrosoft.us",
		DefaultServiceURL:    "https://smba.infra.gov.teams.microsoft.us/teams/",
		ServiceHosts:         []string{"smba.infra.gov.teams.microsoft.us"},
		BotOpenIDMetadataURL: usGovBotOpenIDMetadata,
		BotTokenIssuer:       usGovBotIssuer,
	},
	USGovDoD: {
		AuthorityHost:        "https://login.microsoftonline.us/",
		GraphEndpoint:        "https://dod-graph.microsoft.us",
		GraphScope:           "https://dod-graph.microsoft.us/.default",
		BotScope:             "https://api.botframework.us/.default",
		BotLegacyTenant:      "MicrosoftServices.onmicrosoft.us",
		DefaultServiceURL:    "https://smba.infra.dod.teams.microsoft.us/teams/",
		ServiceHosts:         []string{"smba.infra.dod.teams.microsoft.us"},
		BotOpenIDMetadataURL: usGovBotOpenIDMetadata,
		BotTokenIssuer:       usGovBotIssuer,
	},
	// China publishes no Teams service URL: bots use the serviceUrl of an inbound
	// activity, so --bot-service-url (or a target's serviceUrl) is required there.
	// login.partner.microsoftonline.cn is the host the Bot Framework China docs and
	// MSAL prefer (login.chinacloudapi.cn is its older alias).
	China: {
		AuthorityHost:        "https://login.partner.microsoftonline.cn/",
		GraphEndpoint:        "https://microsoftgraph.chinacloudapi.cn",
		GraphScope:           "https://microsoftgraph.chinacloudapi.cn/.default",
		BotScope:             "https://api.botframework.azure.cn/.default",
		BotLegacyTenant:      "microsoftservices.partner.onmschina.cn",
		BotOpenIDMetadataURL: chinaBotOpenIDMetadata,
		BotTokenIssuer:       chinaBotIssuer,
	},
}

// AppInstallationUnsupported says why the cloud's Graph cannot manage Teams app installations
// of a scope ("team", "user" or "chat") in application context, "" when it can. Source:
// "Microsoft Teams API implementation differences in national clouds"
// (https://learn.microsoft.com/graph/teamwork-national-cloud-differences): in GCC High and DoD,
// list/install/get/upgrade/uninstall app for user and get chat between user and app are "not
// supported in application context"; in China, "APIs that manage app installations aren't
// supported in any scope". Reading the app catalog is supported everywhere.
func (e Endpoints) AppInstallationUnsupported(scope string) string {
	switch {
	case e.Name == China:
		return "Microsoft Graph in China (21Vianet) supports no API that manages Teams app installations"
	case (e.Name == USGovGCCHigh || e.Name == USGovDoD) && scope == "user":
		return fmt.Sprintf("Microsoft Graph in %s does not support installing, listing or upgrading apps for a user, or "+
			"getting the chat between a user and the app, in application context", e.Name)
	}
	return ""
}

// Names lists the valid cloud names in flag-documentation order.
func Names() []Name {
	return []Name{Public, USGovGCC, USGovGCCHigh, USGovDoD, China}
}

// ErrUnknownCloud is returned (wrapped) by Lookup for a name it does not know.
var ErrUnknownCloud = errors.New("unknown cloud")

// Lookup returns the endpoints of a cloud. Names match case-insensitively.
func Lookup(name Name) (Endpoints, error) {
	for _, n := range Names() {
		if strings.EqualFold(string(n), string(name)) {
			e := clouds[n].clone()
			e.Name = n
			return e, nil
		}
	}
	valid := make([]string, 0, len(clouds))
	for _, n := range Names() {
		valid = append(valid, string(n))
	}
	return Endpoints{}, fmt.Errorf("%w %q: valid names are %s", ErrUnknownCloud, name, strings.Join(valid, ", "))
}

// WithOverrides returns e with the given endpoints replaced; an empty argument
// keeps the cloud's value. Each override must be an absolute https URL. The bot
// service URL becomes DefaultServiceURL and its host is added to ServiceHosts.
// Scopes never change.
func (e Endpoints) WithOverrides(authorityHost, graphEndpoint, botServiceURL string) (Endpoints, error) {
	out := e.clone()
	if authorityHost != "" {
		u, err := parseHTTPS("authority host", authorityHost)
		if err != nil {
			return Endpoints{}, err
		}
		if strings.Trim(u.Path, "/") != "" {
			// MSAL reads the first path segment as the tenant, so a prefix would break it.
			return Endpoints{}, fmt.Errorf("authority host %q must not have a path", authorityHost)
		}
		out.AuthorityHost = "https://" + u.Host + "/"
	}
	if graphEndpoint != "" {
		u, err := parseHTTPS("Graph endpoint", graphEndpoint)
		if err != nil {
			return Endpoints{}, err
		}
		out.GraphEndpoint = strings.TrimSuffix(u.String(), "/")
	}
	if botServiceURL != "" {
		u, err := parseHTTPS("bot service URL", botServiceURL)
		if err != nil {
			return Endpoints{}, err
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		out.DefaultServiceURL = u.String()
		if host := CanonicalHost(u); !slices.Contains(out.ServiceHosts, host) {
			out.ServiceHosts = append(out.ServiceHosts, host)
		}
	}
	return out, nil
}

// WithBotOpenIDMetadata returns e with the Bot Connector's OpenID metadata URL replaced
// (--bot-openid-metadata-url); "" keeps the cloud's. It must be an absolute https URL.
func (e Endpoints) WithBotOpenIDMetadata(metadataURL string) (Endpoints, error) {
	out := e.clone()
	if metadataURL == "" {
		return out, nil
	}
	u, err := parseHTTPS("bot OpenID metadata URL", metadataURL)
	if err != nil {
		return Endpoints{}, err
	}
	out.BotOpenIDMetadataURL = u.String()
	return out, nil
}

// CanonicalHost returns u's host in the form ServiceHosts uses: lower case, with
// the port only when it is not 443.
func CanonicalHost(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" || port == "443" {
		if strings.Contains(host, ":") { // IPv6 literal
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// parseHTTPS accepts only absolute https URLs with a host and no user info, query
// or fragment: an endpoint is configuration, never a place to carry credentials.
func parseHTTPS(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's message quotes the input, which is not ours to print.
		return nil, fmt.Errorf("%s is not a valid URL", what)
	}
	switch {
	case u.User != nil: // checked first: the other messages quote the URL
		return nil, fmt.Errorf("%s must not contain user info", what)
	case u.Scheme != "https":
		return nil, fmt.Errorf("%s %q must be an absolute https URL", what, raw)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%s %q has no host", what, raw)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%s must not have a query or fragment", what)
	}
	return u, nil
}

func (e Endpoints) clone() Endpoints {
	e.ServiceHosts = slices.Clone(e.ServiceHosts)
	return e
}
