package graph

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// The emulator suite runs the real client over TLS against internal/emulator.
// The install lifecycle goes through the shared transport (transport.New).

const (
	graphScope = "https://graph.microsoft.com/.default"
	botScope   = "https://api.botframework.com/.default"
)

type emuEnv struct {
	emu    *emulator.Emulator
	srv    *emulator.Server
	hc     *http.Client
	client *Client
}

func (e *emuEnv) tokens(scope string) emulator.TokenSource {
	return emulator.TokenSource{
		HTTPClient: e.hc,
		TokenURL:   e.srv.URL + "/" + emulator.DefaultTenantID + "/oauth2/v2.0/token",
		ClientID:   emulator.DefaultBotAppID,
		Secret:     emulator.DefaultBotSecret,
		Scope:      scope,
	}
}

// graphRequests returns the Graph entries of the emulator's journal.
func (e *emuEnv) graphRequests() []emulator.JournalEntry {
	var out []emulator.JournalEntry
	for _, j := range e.emu.Requests() {
		if j.API == "graph" {
			out = append(out, j)
		}
	}
	return out
}

// newEmulatorHTTPClient returns the shared transport (retries off, so every
// request is counted) when shared is set, else a plain client whose idle
// connections are closed before the server: an HTTP/2 server's graceful
// shutdown otherwise waits a second for the client to hang up.
func newEmulatorHTTPClient(t *testing.T, srv *emulator.Server, shared bool) *http.Client {
	if shared {
		return transport.New(transport.Options{ExtraRootCAs: srv.RootCAs, MaxRetries: -1})
	}
	hc := srv.Client()
	t.Cleanup(hc.CloseIdleConnections) // runs before srv.Close, registered earlier
	return hc
}

func startEmulator(t *testing.T, opts emulator.Options) *emuEnv {
	return startEmulatorWith(t, opts, false)
}

// startEmulatorWith starts an emulator with the default seed over TLS.
func startEmulatorWith(t *testing.T, opts emulator.Options, shared bool) *emuEnv {
	t.Helper()
	emu, err := emulator.New(emulator.DefaultSeed(), opts)
	if err != nil {
		t.Fatalf("creating emulator: %v", err)
	}
	srv, err := emu.StartTLS("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatalf("starting emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	env := &emuEnv{emu: emu, srv: srv, hc: newEmulatorHTTPClient(t, srv, shared)}
	env.client, err = New(Options{Endpoint: srv.URL, HTTPClient: env.hc, Tokens: env.tokens(graphScope)})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return env
}

var (
	teamScope  = Scope{Kind: ScopeTeam, ID: emulator.DefaultTeamID}
	adeleByUPN = Scope{Kind: ScopeUser, ID: emulator.DefaultUserAdeleUPN}
	adeleByID  = Scope{Kind: ScopeUser, ID: emulator.DefaultUserAdeleID}
	groupChat  = Scope{Kind: ScopeChat, ID: emulator.DefaultGroupChatID}
)

func TestEmulatorCatalog(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()

	app, err := env.client.GetCatalogApp(ctx, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(app.ID).To(Equal(emulator.DefaultTeamsAppID))
	g.Expect(app.ExternalID).To(Equal(emulator.DefaultTeamsAppExternalID))
	g.Expect(app.DistributionMethod).To(Equal("organization"))
	g.Expect(app.Definitions).To(HaveLen(1))
	g.Expect(app.Definitions[0].Version).To(Equal("1.0.0"))
	g.Expect(app.Definitions[0].AzureADAppID).To(Equal(emulator.DefaultBotAppID))

	apps, err := env.client.FindCatalogAppsByExternalID(ctx, emulator.DefaultTeamsAppExternalID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apps).To(HaveLen(1))
	g.Expect(apps[0].ID).To(Equal(emulator.DefaultTeamsAppID))

	apps, err = env.client.FindCatalogAppsByExternalID(ctx, "x' or externalId ne '")
	g.Expect(err).NotTo(HaveOccurred(), "the escaped literal parses and matches nothing")
	g.Expect(apps).To(BeEmpty())

	_, err = env.client.GetCatalogApp(ctx, "00000000-0000-0000-0000-000000000000")
	g.Expect(msapi.IsNotFound(err)).To(BeTrue(), "error %v", err)
}

// TestEmulatorInstallLifecycle walks each scope through observe, install,
// adopt (409), re-observe, get, upgrade, uninstall and 404.
func TestEmulatorInstallLifecycle(t *testing.T) {
	t.Parallel()
	scopes := map[string]struct{ install, observe Scope }{
		"team":              {install: teamScope, observe: teamScope},
		"user by UPN":       {install: adeleByUPN, observe: adeleByID},
		"user by object id": {install: adeleByID, observe: adeleByUPN},
		"group chat":        {install: groupChat, observe: groupChat},
	}
	for name, tc := range scopes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			env := startEmulatorWith(t, emulator.Options{}, true)
			ctx := context.Background()
			c := env.client

			found, err := c.ListInstalledApps(ctx, tc.observe, emulator.DefaultTeamsAppID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeEmpty())

			g.Expect(c.InstallApp(ctx, tc.install, emulator.DefaultTeamsAppID, nil)).To(Succeed())
			err = c.InstallApp(ctx, tc.install, emulator.DefaultTeamsAppID, nil)
			g.Expect(msapi.IsConflict(err)).To(BeTrue(), "a second install is a 409: %v", err)
			g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonConflict))

			found, err = c.ListInstalledApps(ctx, tc.observe, emulator.DefaultTeamsAppID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(HaveLen(1))
			inst := found[0]
			g.Expect(inst.ID).NotTo(BeEmpty())
			g.Expect(inst.ID).NotTo(Equal(emulator.DefaultTeamsAppID), "the installation id is not the app id")
			g.Expect(inst.TeamsApp.ID).To(Equal(emulator.DefaultTeamsAppID))
			g.Expect(inst.Definition.Version).To(Equal("1.0.0"))

			all, err := c.ListInstalledApps(ctx, tc.observe, "")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(ContainElement(inst))

			g.Expect(c.UpgradeApp(ctx, tc.observe, inst.ID, nil)).To(Succeed())
			g.Expect(c.UninstallApp(ctx, tc.observe, inst.ID)).To(Succeed())

			found, err = c.ListInstalledApps(ctx, tc.observe, emulator.DefaultTeamsAppID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeEmpty(), "the uninstalled app is gone")
			err = c.UninstallApp(ctx, tc.observe, inst.ID)
			g.Expect(msapi.IsNotFound(err)).To(BeTrue(), "a second uninstall is a 404: %v", err)

			for _, j := range env.graphRequests() {
				g.Expect(j.Path).To(HavePrefix("/v1.0/"))
				g.Expect(j.ClientID).To(Equal(emulator.DefaultBotAppID))
			}
		})
	}
}

func TestEmulatorInstallationChat(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()
	g.Expect(env.client.InstallApp(ctx, adeleByUPN, emulator.DefaultTeamsAppID, nil)).To(Succeed())
	found, err := env.client.ListInstalledApps(ctx, adeleByID, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(HaveLen(1))

	chatID, err := env.client.GetInstallationChat(ctx, emulator.DefaultUserAdeleID, found[0].ID)

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(chatID).To(Equal(emulator.PersonalChatID(emulator.DefaultBotAppID, emulator.DefaultUserAdeleID)))
	g.Expect(chatID).To(HaveSuffix("@unq.gbl.spaces"))

	_, err = env.client.GetInstallationChat(ctx, emulator.DefaultUserAdeleID, "bm90IGFuIGluc3RhbGw=")
	g.Expect(msapi.IsNotFound(err)).To(BeTrue())
}

func TestEmulatorUsersAndChannels(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()

	byUPN, err := env.client.GetUser(ctx, emulator.DefaultUserAlexUPN)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byUPN).To(Equal(User{ID: emulator.DefaultUserAlexID, UserPrincipalName: emulator.DefaultUserAlexUPN,
		DisplayName: "Alex Wilber", Mail: emulator.DefaultUserAlexUPN}))
	byID, err := env.client.GetUser(ctx, emulator.DefaultUserAlexID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byID).To(Equal(byUPN))

	_, err = env.client.GetUser(ctx, "nobody@contoso.onmicrosoft.com")
	apiErr, ok := msapi.AsAPIError(err)
	g.Expect(ok).To(BeTrue())
	g.Expect(apiErr.Code).To(Equal("Request_ResourceNotFound"))
	g.Expect(msapi.IsNotFound(err)).To(BeTrue())

	ch, err := env.client.GetPrimaryChannel(ctx, emulator.DefaultTeamID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ch.ID).To(Equal(emulator.DefaultGeneralChannelID))
	g.Expect(ch.TenantID).To(Equal(emulator.DefaultTenantID))

	_, err = env.client.GetPrimaryChannel(ctx, "00000000-0000-0000-0000-000000000000")
	g.Expect(msapi.IsNotFound(err)).To(BeTrue())

	ch, err = env.client.GetChannel(ctx, emulator.DefaultTeamID, emulator.DefaultPrivateChannelID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ch.MembershipType).To(Equal(ChannelPrivate))
	_, err = env.client.GetChannel(ctx, emulator.DefaultTeamID, "19:nope@thread.tacv2")
	g.Expect(msapi.IsNotFound(err)).To(BeTrue())
	// The default bot holds only the "Self" installation permissions, which the channel apps list
	// does not take.
	_, err = env.client.ListChannelApps(ctx, emulator.DefaultTeamID, emulator.DefaultSharedChannelID)
	g.Expect(msapi.IsForbidden(err)).To(BeTrue(), "%v", err)
}

// TestEmulatorHostileIDs: escaped ids reach the emulator as data. A quote does
// not break the filter (no 400) and a slash does not change the route.
func TestEmulatorHostileIDs(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()

	found, err := env.client.ListInstalledApps(ctx, teamScope, "a'b') or (teamsApp/id ne '")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeEmpty())

	for _, id := range []string{"x/../" + emulator.DefaultTeamID, emulator.DefaultTeamID + "/installedApps?$filter=", "%2F"} {
		_, err = env.client.ListInstalledApps(ctx, Scope{Kind: ScopeTeam, ID: id}, "")
		g.Expect(msapi.IsNotFound(err)).To(BeTrue(), "id %q: %v", id, err)
	}
}

func TestEmulatorPermissionDenied(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	g.Expect(env.emu.RevokeRoles(emulator.DefaultTenantID, emulator.DefaultBotAppID,
		"TeamsAppInstallation.ReadWriteSelfForTeam.All")).To(Succeed())

	err := env.client.InstallApp(context.Background(), teamScope, emulator.DefaultTeamsAppID, nil)

	apiErr, ok := msapi.AsAPIError(err)
	g.Expect(ok).To(BeTrue(), "error %v", err)
	g.Expect(apiErr.Status).To(Equal(403))
	g.Expect(apiErr.Code).To(Equal("Forbidden"))
	g.Expect(apiErr.Message).To(Equal("Caller is not authorized."))
	g.Expect(apiErr.RequestID).NotTo(BeEmpty())
	g.Expect(apiErr.ClientRequestID).NotTo(BeEmpty())
	g.Expect(err.Error()).To(Equal("graph installApp: HTTP 403 Forbidden: Caller is not authorized."))
	g.Expect(msapi.IsForbidden(err)).To(BeTrue())
	g.Expect(msapi.Classify(err)).To(Equal(msapi.Classification{Reason: msapi.ReasonPermissionDenied, Terminal: true}))
}

func TestEmulatorWrongAudienceIsUnauthorized(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	c, err := New(Options{Endpoint: env.srv.URL, HTTPClient: env.hc, Tokens: env.tokens(botScope)})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = c.GetUser(context.Background(), emulator.DefaultUserAlexID)

	g.Expect(msapi.StatusOf(err)).To(Equal(401))
	g.Expect(msapi.Classify(err).Reason).To(Equal(msapi.ReasonPermissionDenied))
}

// TestEmulatorRealThrottling: with GraphRPS 1 and a frozen clock, the second
// call in the same instant gets the emulator's own 429 and Retry-After.
func TestEmulatorRealThrottling(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	frozen := time.Now()
	env := startEmulator(t, emulator.Options{GraphRPS: 1, Clock: func() time.Time { return frozen }})
	ctx := context.Background()

	_, err := env.client.GetUser(ctx, emulator.DefaultUserAlexID)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = env.client.GetUser(ctx, emulator.DefaultUserAlexID)

	g.Expect(msapi.IsThrottled(err)).To(BeTrue(), "error %v", err)
	apiErr, _ := msapi.AsAPIError(err)
	g.Expect(apiErr.Code).To(Equal("TooManyRequests"))
	g.Expect(apiErr.HasRetryAfter).To(BeTrue())
	g.Expect(apiErr.RetryAfter).To(BeNumerically(">", 0))
	g.Expect(apiErr.RetryAfter).To(BeNumerically("<=", time.Second))
	c := msapi.Classify(err)
	g.Expect(c.Reason).To(Equal(msapi.ReasonThrottled))
	g.Expect(c.After).To(Equal(apiErr.RetryAfter))
}

// TestEmulatorFaults covers the error classes the emulator only produces on
// request, each with the body shape the emulator gives that status.
func TestEmulatorFaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fault      emulator.Fault
		reason     string
		retry      bool
		after      time.Duration
		tolerance  time.Duration
		maxAttempt int
	}{
		"429 seconds":     {fault: emulator.Fault{Status: 429, RetryAfter: "2"}, reason: msapi.ReasonThrottled, retry: true, after: 2 * time.Second},
		"429 fractional":  {fault: emulator.Fault{Status: 429, RetryAfter: "2.128"}, reason: msapi.ReasonThrottled, retry: true, after: 2128 * time.Millisecond},
		"429 HTTP date":   {fault: emulator.Fault{Status: 429, RetryAfter: "DATE+45s"}, reason: msapi.ReasonThrottled, retry: true, after: 45 * time.Second, tolerance: 2 * time.Second},
		"400 on install":  {fault: emulator.Fault{Status: 400, Code: "BadRequest", Message: "Settings store failure."}, reason: msapi.ReasonBadRequest, retry: true, maxAttempt: 3},
		"500":             {fault: emulator.Fault{Status: 500}, reason: msapi.ReasonServiceError, retry: true},
		"502":             {fault: emulator.Fault{Status: 502}, reason: msapi.ReasonBadGateway, retry: true},
		"503 Retry-After": {fault: emulator.Fault{Status: 503, RetryAfter: "7"}, reason: msapi.ReasonServiceUnavailable, retry: true, after: 7 * time.Second},
		"504":             {fault: emulator.Fault{Status: 504}, reason: msapi.ReasonGatewayTimeout, retry: true},
		"404":             {fault: emulator.Fault{Status: 404}, reason: msapi.ReasonNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			env := startEmulator(t, emulator.Options{})
			f := tc.fault
			f.API, f.Operation, f.Count = "graph", "installApp", 1
			if f.RetryAfter == "DATE+45s" {
				f.RetryAfter = time.Now().Add(45 * time.Second).UTC().Format(http.TimeFormat)
			}
			g.Expect(env.emu.AddFault(f)).NotTo(BeEmpty())

			err := env.client.InstallApp(context.Background(), adeleByID, emulator.DefaultTeamsAppID, nil)

			g.Expect(msapi.StatusOf(err)).To(Equal(tc.fault.Status), "error %v", err)
			c := msapi.Classify(err)
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Retry).To(Equal(tc.retry))
			g.Expect(c.Terminal).To(Equal(!tc.retry))
			g.Expect(c.After).To(BeNumerically("~", tc.after, tc.tolerance))
			g.Expect(c.MaxAttempts).To(Equal(tc.maxAttempt))
			g.Expect(env.graphRequests()).To(HaveLen(1), "the client does not retry")

			// The fault was used up: the same call now succeeds.
			g.Expect(env.client.InstallApp(context.Background(), adeleByID, emulator.DefaultTeamsAppID, nil)).To(Succeed())
		})
	}
}

// TestEmulatorInstallAcceptedThenDropped: the emulator installs, then drops
// the connection. The POST's outcome is unknown; re-observing finds it.
func TestEmulatorInstallAcceptedThenDropped(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	g.Expect(env.emu.AddFault(emulator.Fault{API: "graph", Operation: "installApp", Action: emulator.FaultAcceptThenDrop, Count: 1})).NotTo(BeEmpty())
	ctx := context.Background()

	err := env.client.InstallApp(ctx, teamScope, emulator.DefaultTeamsAppID, nil)

	g.Expect(msapi.IsOutcomeUnknown(err)).To(BeTrue(), "error %v", err)
	found, err := env.client.ListInstalledApps(ctx, teamScope, emulator.DefaultTeamsAppID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(HaveLen(1))
}

// TestEmulatorOperationLabels: the client's operation names are the ones the
// emulator journals, except where contracts.md leaves room (see report).
func TestEmulatorOperationLabels(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()
	_, _ = env.client.GetCatalogApp(ctx, emulator.DefaultTeamsAppID)
	_, _ = env.client.ListInstalledApps(ctx, teamScope, "")
	_ = env.client.InstallApp(ctx, teamScope, emulator.DefaultTeamsAppID, nil)
	_, _ = env.client.GetUser(ctx, emulator.DefaultUserAlexID)
	_, _ = env.client.GetPrimaryChannel(ctx, emulator.DefaultTeamID)
	var ops []string
	for _, j := range env.graphRequests() {
		ops = append(ops, j.Operation)
	}
	g.Expect(ops).To(Equal([]string{"getCatalogApp", "listInstalledApps", "installApp", "getUser", "getPrimaryChannel"}))
}
