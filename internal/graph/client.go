package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/transport"
)

const (
	// apiVersion is the Graph version every call uses.
	apiVersion = "v1.0"
	// maxBodyBytes caps a response body. A page of installedApps with both
	// expansions is a few KiB per item; 4 MiB is far above any real answer.
	maxBodyBytes = 4 << 20
	// maxPages bounds @odata.nextLink pagination. A filtered list has one
	// page; an unfiltered list of a team's apps has a handful.
	maxPages = 50
	// OData query parameter names.
	paramFilter = "$filter"
	paramExpand = "$expand"
	// expandInstallation is what every installation read expands, so an
	// Installation carries the app id, the installed version and the bot: the
	// bot is a navigation property of the definition, returned only when
	// expanded (teamsAppDefinition($expand=bot)); see
	// https://learn.microsoft.com/graph/api/appcatalogs-list-teamsapps (example
	// "list applications with a given bot") and teamworkbot-get.
	expandInstallation = "teamsApp,teamsAppDefinition($expand=bot)"
)

// Options configure a Client.
type Options struct {
	// Endpoint is the Graph host of the cloud, e.g. https://graph.microsoft.com,
	// without the version path. It is also the host of the catalog URL sent in
	// teamsApp@odata.bind, as Graph expects in sovereign clouds.
	Endpoint string
	// HTTPClient sends the requests (the shared transport). The Client uses a
	// copy that never follows redirects, so the bearer token stays on Endpoint.
	HTTPClient *http.Client
	// Tokens gives bearer tokens for the Graph scope.
	Tokens auth.TokenSource
}

// Client is the Graph client. It is safe for concurrent use.
type Client struct {
	endpoint *url.URL // scheme and host, no path
	base     string   // endpoint + "/v1.0"
	hc       *http.Client
	tokens   auth.TokenSource
}

var _ Interface = (*Client)(nil)

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.HTTPClient == nil || opts.Tokens == nil {
		return nil, errors.New("creating Graph client: HTTPClient and Tokens are required")
	}
	endpoint, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("creating Graph client: %w", err)
	}
	hc := *opts.HTTPClient
	hc.CheckRedirect = refuseRedirect
	return &Client{
		endpoint: endpoint,
		base:     strings.TrimRight(endpoint.String(), "/") + "/" + apiVersion,
		hc:       &hc,
		tokens:   opts.Tokens,
	}, nil
}

// parseEndpoint accepts an https URL with an optional path prefix (a proxy may
// mount Graph under one) but no version, query or credentials.
func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("parsing Graph endpoint: %w", err)
	}
	switch {
	case u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("graph endpoint %q must be an absolute https URL", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("graph endpoint %q must not carry credentials, a query or a fragment", u.Redacted())
	case strings.HasSuffix(u.Path, "/v1.0") || strings.HasSuffix(u.Path, "/beta"):
		return nil, fmt.Errorf("graph endpoint %q must not include the API version", raw)
	}
	return u, nil
}

// refuseRedirect keeps Graph answers as they are: no Graph call we make
// redirects, and following one could carry the token elsewhere.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// GetCatalogApp implements Interface.
func (c *Client) GetCatalogApp(ctx context.Context, teamsAppID string) (TeamsApp, error) {
	if teamsAppID == "" {
		return TeamsApp{}, fmt.Errorf("teams app id is empty: %w", msapi.ErrInvalidArgument)
	}
	q := query([2]string{paramFilter, eqFilter("id", teamsAppID)}, [2]string{paramExpand, "appDefinitions"})
	apps, err := list[TeamsApp](ctx, c, "getCatalogApp", c.base+"/appCatalogs/teamsApps?"+q)
	if err != nil {
		return TeamsApp{}, err
	}
	if len(apps) == 0 {
		return TeamsApp{}, fmt.Errorf("getting catalog app %q: %w", teamsAppID, msapi.ErrNotFound)
	}
	return apps[0], nil
}

// FindCatalogAppsByExternalID implements Interface.
func (c *Client) FindCatalogAppsByExternalID(ctx context.Context, externalID string) ([]TeamsApp, error) {
	if externalID == "" {
		return nil, fmt.Errorf("external id is empty: %w", msapi.ErrInvalidArgument)
	}
	q := query([2]string{paramFilter, eqFilter("externalId", externalID)}, [2]string{paramExpand, "appDefinitions"})
	return list[TeamsApp](ctx, c, "listCatalogApps", c.base+"/appCatalogs/teamsApps?"+q)
}

// ListInstalledApps implements Interface.
func (c *Client) ListInstalledApps(ctx context.Context, scope Scope, teamsAppID string) ([]Installation, error) {
	path, err := scope.installedAppsPath()
	if err != nil {
		return nil, err
	}
	opts := [][2]string{{paramExpand, expandInstallation}}
	if teamsAppID != "" {
		opts = append(opts, [2]string{paramFilter, eqFilter("teamsApp/id", teamsAppID)})
	}
	return list[Installation](ctx, c, "listInstalledApps", c.base+path+"?"+query(opts...))
}

// GetConsentedPermissions implements Interface. Graph returns
// consentedPermissionSet only when selected: see the example "get the names of
// the RSC permissions consented" of
// https://learn.microsoft.com/graph/api/team-get-installedapps and chat-get-installedapps.
func (c *Client) GetConsentedPermissions(ctx context.Context, scope Scope, installationID string) ([]ResourceSpecificPermission, error) {
	path, err := scope.installationPath(installationID)
	if err != nil {
		return nil, err
	}
	var inst struct {
		ID                     string         `json:"id"`
		ConsentedPermissionSet *PermissionSet `json:"consentedPermissionSet"`
	}
	u := c.base + path + "?" + query([2]string{"$select", "consentedPermissionSet,id"})
	if err := c.do(ctx, "getConsentedPermissions", http.MethodGet, u, nil, &inst); err != nil {
		return nil, err
	}
	if inst.ConsentedPermissionSet == nil {
		return nil, requireID("getConsentedPermissions", inst.ID)
	}
	return inst.ConsentedPermissionSet.ResourceSpecificPermissions, requireID("getConsentedPermissions", inst.ID)
}

type installRequest struct {
	TeamsApp               string         `json:"teamsApp@odata.bind"`
	ConsentedPermissionSet *PermissionSet `json:"consentedPermissionSet,omitempty"`
}

type upgradeRequest struct {
	ConsentedPermissionSet *PermissionSet `json:"consentedPermissionSet,omitempty"`
}

func permissionSet(perms []ResourceSpecificPermission) *PermissionSet {
	if len(perms) == 0 {
		return nil
	}
	return &PermissionSet{ResourceSpecificPermissions: perms}
}

// InstallApp implements Interface. Any 2xx is success: the docs say 200 for a
// team and 201 for a user or chat, with no body.
func (c *Client) InstallApp(ctx context.Context, scope Scope, teamsAppID string, perms []ResourceSpecificPermission) error {
	path, err := scope.installedAppsPath()
	if err != nil {
		return err
	}
	appSeg, err := segment("teams app id", teamsAppID)
	if err != nil {
		return err
	}
	body := installRequest{
		TeamsApp:               c.base + "/appCatalogs/teamsApps/" + appSeg,
		ConsentedPermissionSet: permissionSet(perms),
	}
	return c.do(ctx, "installApp", http.MethodPost, c.base+path, body, nil)
}

// UpgradeApp implements Interface. Without perms the POST has no body, as in
// the Graph examples.
func (c *Client) UpgradeApp(ctx context.Context, scope Scope, installationID string, perms []ResourceSpecificPermission) error {
	path, err := scope.installationPath(installationID)
	if err != nil {
		return err
	}
	var body any
	if len(perms) > 0 {
		body = upgradeRequest{ConsentedPermissionSet: permissionSet(perms)}
	}
	return c.do(ctx, "upgradeApp", http.MethodPost, c.base+path+"/upgrade", body, nil)
}

// UninstallApp implements Interface.
func (c *Client) UninstallApp(ctx context.Context, scope Scope, installationID string) error {
	path, err := scope.installationPath(installationID)
	if err != nil {
		return err
	}
	return c.do(ctx, "uninstallApp", http.MethodDelete, c.base+path, nil, nil)
}

// GetInstallationChat implements Interface.
func (c *Client) GetInstallationChat(ctx context.Context, userID, installationID string) (string, error) {
	path, err := Scope{Kind: ScopeUser, ID: userID}.installationPath(installationID)
	if err != nil {
		return "", err
	}
	var chat struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "getInstallationChat", http.MethodGet, c.base+path+"/chat", nil, &chat); err != nil {
		return "", err
	}
	return chat.ID, requireID("getInstallationChat", chat.ID)
}

// GetUser implements Interface.
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (User, error) {
	user, err := userSegment(idOrUPN)
	if err != nil {
		return User{}, err
	}
	var u User
	q := query([2]string{"$select", "id,userPrincipalName,displayName,mail"})
	if err := c.do(ctx, "getUser", http.MethodGet, c.base+"/"+user+"?"+q, nil, &u); err != nil {
		return User{}, err
	}
	return u, requireID("getUser", u.ID)
}

// GetPrimaryChannel implements Interface.
func (c *Client) GetPrimaryChannel(ctx context.Context, teamID string) (Channel, error) {
	team, err := segment("team id", teamID)
	if err != nil {
		return Channel{}, err
	}
	var ch Channel
	if err := c.do(ctx, "getPrimaryChannel", http.MethodGet, c.base+"/teams/"+team+"/primaryChannel", nil, &ch); err != nil {
		return Channel{}, err
	}
	return ch, requireID("getPrimaryChannel", ch.ID)
}

// GetChannel implements Interface (https://learn.microsoft.com/graph/api/channel-get).
func (c *Client) GetChannel(ctx context.Context, teamID, channelID string) (Channel, error) {
	path, err := channelPath(teamID, channelID)
	if err != nil {
		return Channel{}, err
	}
	var ch Channel
	if err := c.do(ctx, "getChannel", http.MethodGet, c.base+path, nil, &ch); err != nil {
		return Channel{}, err
	}
	return ch, requireID("getChannel", ch.ID)
}

// ListChannelApps implements Interface (https://learn.microsoft.com/graph/api/channel-list-enabledapps).
func (c *Client) ListChannelApps(ctx context.Context, teamID, channelID string) ([]TeamsApp, error) {
	path, err := channelPath(teamID, channelID)
	if err != nil {
		return nil, err
	}
	return list[TeamsApp](ctx, c, "listChannelApps", c.base+path+"/enabledApps")
}

func channelPath(teamID, channelID string) (string, error) {
	team, err := segment("team id", teamID)
	if err != nil {
		return "", err
	}
	channel, err := segment("channel id", channelID)
	if err != nil {
		return "", err
	}
	return "/teams/" + team + "/channels/" + channel, nil
}

// requireID turns a 2xx without the object's id into an error rather than a
// zero value a controller would store.
func requireID(op, id string) error {
	if id == "" {
		return fmt.Errorf("graph %s: the response has no id", op)
	}
	return nil
}

// page is one page of an OData collection.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// list reads a collection, following @odata.nextLink up to maxPages. A longer
// list is an error rather than a partial answer: a controller that saw half a
// list could decide an app is not installed and install it again.
func list[T any](ctx context.Context, c *Client, op, first string) ([]T, error) {
	var all []T
	next := first
	for range maxPages {
		var p page[T]
		if err := c.do(ctx, op, http.MethodGet, next, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		if p.NextLink == "" {
			return all, nil
		}
		if err := c.checkNextLink(p.NextLink); err != nil {
			return nil, err
		}
		next = p.NextLink
	}
	return nil, fmt.Errorf("graph %s: more than %d pages", op, maxPages)
}

// checkNextLink refuses a next page on another host: the token goes with it.
func (c *Client) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("parsing @odata.nextLink: %w", err)
	}
	if u.Scheme != c.endpoint.Scheme || !strings.EqualFold(u.Host, c.endpoint.Host) || u.User != nil {
		return fmt.Errorf("refusing @odata.nextLink to host %q: not the Graph endpoint", u.Host)
	}
	return nil
}

// do sends one request: labelled for metrics, with a fresh token and a new
// client-request-id (which Graph echoes for support cases), the body capped and
// non-2xx answers turned into *msapi.APIError. out may be nil.
func (c *Client) do(ctx context.Context, op, method, rawURL string, in, out any) error {
	ctx = transport.WithOperation(ctx, msapi.APIGraph, op)
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding graph %s request: %w", op, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return fmt.Errorf("building graph %s request: %w", op, err)
	}
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return fmt.Errorf("acquiring token for graph %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", uuid.NewString())
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	data, err := c.send(req, op)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding graph %s response: %w", op, err)
	}
	return nil
}

// send sends req once and returns the 2xx body, capped at maxBodyBytes. A
// non-2xx answer is an *msapi.APIError; no answer is an *msapi.RequestError.
func (c *Client) send(req *http.Request, op string) ([]byte, error) {
	req, written := msapi.TrackWrite(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, msapi.NoResponse(msapi.APIGraph, op, req, written(), err)
	}
	body, readErr := transport.ReadBody(resp, maxBodyBytes)
	if resp.StatusCode == http.StatusForbidden {
		// Graph reads application permissions from the token's roles claim: a permission an
		// admin grants now shows only in a new token, so the next call gets one.
		if r, ok := c.tokens.(auth.Resetter); ok {
			r.Reset()
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A truncated or unreadable error body still yields a useful error.
		return nil, msapi.FromResponse(msapi.APIGraph, op, resp, body, time.Now())
	}
	if readErr != nil {
		return nil, msapi.NoResponse(msapi.APIGraph, op, req, true, readErr)
	}
	return body, nil
}
