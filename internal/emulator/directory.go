package emulator

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scope is where a Teams app is installed.
type Scope string

const (
	ScopeTeam Scope = "team"
	ScopeUser Scope = "user"
	ScopeChat Scope = "chat"
)

// directory is the Entra and Teams state: tenants, app registrations, catalog, users, teams,
// chats and app installations. One RWMutex guards it: requests read it (sends only read), and
// installs, uninstalls and control calls write it. Every lookup is a map access.
type directory struct {
	mu             sync.RWMutex
	tenants        map[string]*tenant
	tenantByDomain map[string]*tenant
	apps           map[string]*appReg
	users          map[string]*user
	pairwise       map[string]pairKey // seeded 29: ids
	channels       map[string]*channel
	chats          map[string]*chat
}

type pairKey struct{ bot, user string }

type tenant struct {
	id, name, domain string
	apps             map[string]*tenantApp
	catalog          map[string]*catalogApp
	catalogByExt     map[string]*catalogApp
	users            map[string]*user
	usersByUPN       map[string]*user
	teams            map[string]*team
	chats            map[string]*chat
	groups           map[string]*group
}

type tenantApp struct {
	clientID string
	roles    map[string]bool
}

type appReg struct {
	clientID    string
	displayName string
	secrets     []string
	certs       []*x509.Certificate
	fics        []FederatedCredential
	multiTenant bool
	bot         bool
}

type catalogApp struct {
	CatalogAppSeed
	tenantID     string
	lastModified time.Time
}

type user struct {
	tenantID    string
	id          string
	upn         string
	displayName string
	mail        string
	blockedAll  bool
	blocked     map[string]bool
	botUserIDs  map[string]string
	teams       map[string]*team
	installs    map[string]*installation
}

type team struct {
	tenantID    string
	id          string
	displayName string
	general     *channel
	channels    []*channel // General first
	members     map[string]*user
	installs    map[string]*installation
	created     time.Time
	// guests are the members who are guests; roster is every member, sorted by id, for
	// paging (audience.go).
	guests map[string]bool
	roster []*user
}

type channel struct {
	id          string
	displayName string
	description string
	team        *team
	// membershipType is standard, private or shared; enabled holds the catalog ids of the
	// apps added to a private or shared channel.
	membershipType string
	enabled        map[string]bool
}

type chat struct {
	tenantID string
	id       string
	topic    string
	members  map[string]*user
	installs map[string]*installation
	created  time.Time
}

type installation struct {
	id         string
	scope      Scope
	scopeID    string
	teamsAppID string
	version    string
	consented  []RSCPermission
}

func newDirectory() *directory {
	return &directory{
		tenants:        map[string]*tenant{},
		tenantByDomain: map[string]*tenant{},
		apps:           map[string]*appReg{},
		users:          map[string]*user{},
		pairwise:       map[string]pairKey{},
		channels:       map[string]*channel{},
		chats:          map[string]*chat{},
	}
}

// tenantFor resolves a tenant id or domain. Caller holds mu.
func (d *directory) tenantFor(idOrDomain string) *tenant {
	if t := d.tenants[key(idOrDomain)]; t != nil {
		return t
	}
	return d.tenantByDomain[key(idOrDomain)]
}

// userFor resolves an object id or UPN inside a tenant. Caller holds mu.
func (t *tenant) userFor(idOrUPN string) *user {
	if u := t.users[key(idOrUPN)]; u != nil {
		return u
	}
	return t.usersByUPN[key(idOrUPN)]
}

// installsOf returns the installations map of a scope in a tenant, or nil if the scope is unknown.
// Caller holds mu.
func (t *tenant) installsOf(s Scope, id string) map[string]*installation {
	switch s {
	case ScopeTeam:
		if tm := t.teams[key(id)]; tm != nil {
			return tm.installs
		}
	case ScopeUser:
		if u := t.userFor(id); u != nil {
			return u.installs
		}
	case ScopeChat:
		if c := t.chats[key(id)]; c != nil {
			return c.installs
		}
	}
	return nil
}

// botInstalled reports whether a catalog app with this bot is installed in the map. Caller holds mu.
func (t *tenant) botInstalled(installs map[string]*installation, botID string) bool {
	for _, in := range installs {
		if app := t.catalog[key(in.teamsAppID)]; app != nil && strings.EqualFold(app.BotID, botID) {
			return true
		}
	}
	return false
}

// botReachesUser: the bot is installed for the user personally or in one of the user's teams
// (reference 4.2). Caller holds mu.
func (d *directory) botReachesUser(u *user, botID string) bool {
	t := d.tenants[key(u.tenantID)]
	if t == nil {
		return false
	}
	if t.botInstalled(u.installs, botID) {
		return true
	}
	for _, tm := range u.teams {
		if t.botInstalled(tm.installs, botID) {
			return true
		}
	}
	return false
}

func (u *user) blocks(botID string) bool { return u.blockedAll || u.blocked[key(botID)] }

// resolvePairwise maps a 29: id to (bot, user). Caller holds mu.
func (d *directory) resolvePairwise(id string) (pairKey, bool) {
	if p, ok := d.pairwise[id]; ok {
		return p, true
	}
	bot, u, ok := decodePair("29:1", pairwisePad, id)
	if !ok {
		return pairKey{}, false
	}
	return pairKey{bot: bot, user: u}, true
}

// merge applies a validated seed fragment: entities are created or replaced by id, credentials
// and installations are only ever added. References (members, installed apps) must resolve in
// the merged directory, or nothing is applied.
func (d *directory) merge(s *Seed, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkReferences(s); err != nil {
		return err
	}
	for i := range s.Tenants {
		d.mergeTenant(&s.Tenants[i], now)
	}
	return nil
}

func (d *directory) checkReferences(s *Seed) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for i := range s.Tenants {
		ts := &s.Tenants[i]
		existing := d.tenants[key(ts.ID)]
		users := map[string]bool{}
		catalog := map[string]bool{}
		if existing != nil {
			for k := range existing.users {
				users[k] = true
			}
			for k := range existing.catalog {
				catalog[k] = true
			}
		}
		for _, u := range ts.Users {
			users[key(u.ID)] = true
			if other := d.users[key(u.ID)]; other != nil && !strings.EqualFold(other.tenantID, ts.ID) {
				add("user %s already exists in tenant %s", u.ID, other.tenantID)
			}
		}
		for _, c := range ts.Catalog {
			catalog[key(c.ID)] = true
		}
		if ts.Domain != "" {
			if other := d.tenantByDomain[key(ts.Domain)]; other != nil && !strings.EqualFold(other.id, ts.ID) {
				add("domain %s already belongs to tenant %s", ts.Domain, other.id)
			}
		}
		apps := func(where string, ids []string) {
			for _, a := range ids {
				if !catalog[key(a)] {
					add("tenant %s: %s: installed app %s is not in the catalog", ts.ID, where, a)
				}
			}
		}
		members := func(where string, ids []string) {
			for _, m := range ids {
				if !users[key(m)] {
					add("tenant %s: %s: member %s is not a user of the tenant", ts.ID, where, m)
				}
			}
		}
		for _, u := range ts.Users {
			apps("user "+u.ID, u.InstalledApps)
		}
		for _, tm := range ts.Teams {
			apps("team "+tm.ID, tm.InstalledApps)
			members("team "+tm.ID, tm.Members)
			for _, cid := range append([]string{tm.GeneralChannelID}, channelIDs(tm.Channels)...) {
				if c := d.channels[key(cid)]; c != nil && !strings.EqualFold(c.team.id, tm.ID) {
					add("channel %s already belongs to team %s", cid, c.team.id)
				}
			}
			if ex := d.findTeam(tm.ID); ex != nil && !strings.EqualFold(ex.tenantID, ts.ID) {
				add("team %s already exists in tenant %s", tm.ID, ex.tenantID)
			}
		}
		errs = append(errs, checkGroups(ts, existing, users)...)
		for _, c := range ts.Chats {
			apps("chat "+c.ID, c.InstalledApps)
			members("chat "+c.ID, c.Members)
			if ex := d.chats[key(c.ID)]; ex != nil && !strings.EqualFold(ex.tenantID, ts.ID) {
				add("chat %s already exists in tenant %s", c.ID, ex.tenantID)
			}
		}
	}
	return errors.Join(errs...)
}

func channelIDs(cs []ChannelSeed) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func (d *directory) findTeam(id string) *team {
	for _, t := range d.tenants {
		if tm := t.teams[key(id)]; tm != nil {
			return tm
		}
	}
	return nil
}

func (d *directory) mergeTenant(ts *TenantSeed, now time.Time) {
	t := d.tenants[key(ts.ID)]
	if t == nil {
		t = &tenant{
			id: ts.ID, apps: map[string]*tenantApp{}, catalog: map[string]*catalogApp{},
			catalogByExt: map[string]*catalogApp{}, users: map[string]*user{}, usersByUPN: map[string]*user{},
			teams: map[string]*team{}, chats: map[string]*chat{}, groups: map[string]*group{},
		}
		d.tenants[key(ts.ID)] = t
	}
	if ts.Name != "" {
		t.name = ts.Name
	}
	if ts.Domain != "" {
		delete(d.tenantByDomain, key(t.domain))
		t.domain = ts.Domain
		d.tenantByDomain[key(t.domain)] = t
	}
	for _, a := range ts.Apps {
		d.mergeApp(t, a)
	}
	for _, c := range ts.Catalog {
		if old := t.catalog[key(c.ID)]; old != nil && old.ExternalID != "" {
			delete(t.catalogByExt, key(old.ExternalID))
		}
		app := &catalogApp{CatalogAppSeed: c, tenantID: t.id, lastModified: now}
		if app.DistributionMethod == "" {
			app.DistributionMethod = distOrganization
		}
		if app.Version == "" {
			app.Version = defaultAppVersion
		}
		t.catalog[key(c.ID)] = app
		if c.ExternalID != "" {
			t.catalogByExt[key(c.ExternalID)] = app
		}
	}
	for _, us := range ts.Users {
		d.mergeUser(t, us)
	}
	for _, tm := range ts.Teams {
		d.mergeTeam(t, tm, now)
	}
	mergeGroups(t, ts.Groups)
	for _, cs := range ts.Chats {
		c := t.chats[key(cs.ID)]
		if c == nil {
			c = &chat{tenantID: t.id, id: cs.ID, installs: map[string]*installation{}, created: now}
			t.chats[key(cs.ID)] = c
			d.chats[key(cs.ID)] = c
		}
		c.topic = cs.Topic
		c.members = map[string]*user{}
		for _, m := range cs.Members {
			c.members[key(m)] = t.users[key(m)]
		}
		for _, a := range cs.InstalledApps {
			t.install(c.installs, ScopeChat, c.id, a, nil)
		}
	}
}

func (d *directory) mergeApp(t *tenant, a AppSeed) {
	reg := d.apps[key(a.ClientID)]
	if reg == nil {
		reg = &appReg{clientID: a.ClientID}
		d.apps[key(a.ClientID)] = reg
	}
	if a.DisplayName != "" {
		reg.displayName = a.DisplayName
	}
	for _, s := range a.Secrets {
		if !slices.Contains(reg.secrets, s) {
			reg.secrets = append(reg.secrets, s)
		}
	}
	for _, p := range a.Certificates {
		c, err := parseCertPEM(p)
		if err == nil && !slices.ContainsFunc(reg.certs, c.Equal) {
			reg.certs = append(reg.certs, c)
		}
	}
	reg.fics = append(reg.fics, a.FederatedCredentials...)
	reg.multiTenant = reg.multiTenant || a.MultiTenant
	reg.bot = reg.bot || a.Bot
	ta := &tenantApp{clientID: a.ClientID, roles: map[string]bool{}}
	for _, r := range a.GraphRoles {
		ta.roles[r] = true
	}
	t.apps[key(a.ClientID)] = ta
}

func (d *directory) mergeUser(t *tenant, us UserSeed) {
	u := t.users[key(us.ID)]
	if u == nil {
		u = &user{tenantID: t.id, id: us.ID, teams: map[string]*team{}, installs: map[string]*installation{}}
		t.users[key(us.ID)] = u
		d.users[key(us.ID)] = u
	}
	delete(t.usersByUPN, key(u.upn))
	u.upn = us.UserPrincipalName
	t.usersByUPN[key(u.upn)] = u
	u.displayName = us.DisplayName
	u.mail = us.Mail
	if u.mail == "" {
		u.mail = us.UserPrincipalName
	}
	u.blockedAll = us.BlockedBot
	u.blocked = map[string]bool{}
	for _, b := range us.BlockedBots {
		u.blocked[key(b)] = true
	}
	for _, id := range u.botUserIDs {
		delete(d.pairwise, id)
	}
	u.botUserIDs = map[string]string{}
	for bot, id := range us.BotUserIDs {
		u.botUserIDs[key(bot)] = id
		d.pairwise[id] = pairKey{bot: key(bot), user: key(u.id)}
	}
	for _, a := range us.InstalledApps {
		t.install(u.installs, ScopeUser, u.id, a, nil)
	}
}

func (d *directory) mergeTeam(t *tenant, ts TeamSeed, now time.Time) {
	tm := t.teams[key(ts.ID)]
	if tm == nil {
		tm = &team{tenantID: t.id, id: ts.ID, installs: map[string]*installation{}, members: map[string]*user{}, created: now}
		t.teams[key(ts.ID)] = tm
	}
	tm.displayName = ts.DisplayName
	upsert := func(cs ChannelSeed) *channel {
		c := d.channels[key(cs.ID)]
		if c == nil {
			c = &channel{id: cs.ID, team: tm}
			d.channels[key(cs.ID)] = c
			tm.channels = append(tm.channels, c)
		}
		c.displayName, c.description = cs.DisplayName, cs.Description
		c.membershipType, c.enabled = cmp.Or(strings.ToLower(cs.MembershipType), ChannelStandard), map[string]bool{}
		for _, a := range cs.EnabledApps {
			c.enabled[key(a)] = true
		}
		return c
	}
	tm.general = upsert(ChannelSeed{ID: ts.GeneralChannelID, DisplayName: "General"})
	// Keep General first.
	tm.channels = append([]*channel{tm.general}, slices.DeleteFunc(tm.channels, func(c *channel) bool { return c == tm.general })...)
	for _, c := range ts.Channels {
		upsert(c)
	}
	for _, m := range tm.members {
		delete(m.teams, key(tm.id))
	}
	tm.members = map[string]*user{}
	for _, m := range ts.Members {
		u := t.users[key(m)]
		tm.members[key(m)] = u
		u.teams[key(tm.id)] = tm
	}
	for _, a := range ts.InstalledApps {
		t.install(tm.installs, ScopeTeam, tm.id, a, nil)
	}
	tm.setRoster(ts.Guests)
}

// install adds an installation at the catalog app's current version; it reports false if the app
// was already installed there. Caller holds mu for writing.
func (t *tenant) install(installs map[string]*installation, s Scope, scopeID, teamsAppID string,
	consented []RSCPermission) bool {
	if installs[key(teamsAppID)] != nil {
		return false
	}
	app := t.catalog[key(teamsAppID)]
	if app == nil {
		return false
	}
	installs[key(teamsAppID)] = &installation{
		id: installationID(scopeID, app.ID), scope: s, scopeID: scopeID, teamsAppID: app.ID,
		version: app.Version, consented: consented,
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
