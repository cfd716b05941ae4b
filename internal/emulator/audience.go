//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Audiences: the rosters a broadcast reads, paged as Microsoft pages them.
//
//   - Graph "List members of team", GET /teams/{id}/members: conversationMember objects
//     (aadUserConversationMember: userId, roles ["owner"] / ["guest"] / []), $top between 1
//     and 999, default page 100, @odata.nextLink for the next page; application permission
//     TeamMember.Read.All (or TeamMember.ReadWrite.All)
//     (https://learn.microsoft.com/graph/api/team-list-members).
//   - Graph "List group transitive members", GET /groups/{id}/transitiveMembers and its cast
//     /transitiveMembers/microsoft.graph.user (users only): a flat list of all nested members,
//     default page 100, at most 999 with $top; application permission GroupMember.Read.All (or
//     Group.Read.All, Directory.Read.All)
//     (https://learn.microsoft.com/graph/api/group-list-transitivemembers; paging:
//     https://learn.microsoft.com/graph/paging).
//   - The Connector's paged roster, GET /v3/conversations/{id}/pagedmembers?pageSize=
//     &continuationToken=: {continuationToken, members[]} of TeamsChannelAccount; a pageSize
//     below 50 counts as 50, above 500 as 500; the last page has no continuationToken
//     (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/get-teams-context,
//     "Fetch the roster or user profile"; reference 3.2 and 3.8). The bot must be in the
//     conversation's roster; reads share the "get conversation members" limits, 14/1 s, 16/2 s,
//     120/30 s, 3600/1 h per bot per thread (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit).
//
// Continuation tokens and skip tokens are opaque to clients; here they carry the last id
// returned, so a page is a binary search in the sorted roster.

// Graph application permissions of the audience reads.
const (
	roleTeamMemberRead  = "TeamMember.Read.All"
	roleGroupMemberRead = "GroupMember.Read.All"
)

var (
	permTeamMembers  = perm{anyOf: []string{roleTeamMemberRead, "TeamMember.ReadWrite.All"}}
	permGroupMembers = perm{anyOf: []string{roleGroupMemberRead, "Group.Read.All", "Group.ReadWrite.All",
		"Directory.Read.All", "Directory.ReadWrite.All"}}
)

// Page sizes (see above).
const (
	graphDefaultPage  = 100
	graphMaxPage      = 999
	rosterMinPage     = 50
	rosterMaxPage     = 500
	rosterDefaultPage = 100
)

// rosterLimits are the Connector's "get conversation members" limits per bot per thread.
var rosterLimits = []Limit{
	{Count: 14, Window: time.Second},
	{Count: 16, Window: 2 * time.Second},
	{Count: 120, Window: 30 * time.Second},
	{Count: 3600, Window: time.Hour},
}

// GroupSeed is an Entra security or Microsoft 365 group.
type GroupSeed struct {
	// ID is the group's object id, a GUID.
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Members are user ids; Groups are nested groups' ids (transitive members).
	Members []string `json:"members,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// group is an Entra group. users is its transitive user members, sorted by id.
type group struct {
	id, displayName string
	members         []*user
	nested          []string
	users           []*user
}

func (c *shapeChecker) groups(t *TenantSeed) {
	for _, g := range t.Groups {
		if !isGUID(g.ID) {
			c.add("tenant %s: group id %q is not a GUID", t.ID, g.ID)
		}
		c.unique("group", g.ID)
	}
	for _, tm := range t.Teams {
		for _, gst := range tm.Guests {
			if !slices.ContainsFunc(tm.Members, func(m string) bool { return strings.EqualFold(m, gst) }) {
				c.add("tenant %s: team %s: guest %s is not a member", t.ID, tm.ID, gst)
			}
		}
	}
}

// checkGroups checks that a seed's groups name users and groups of the tenant.
func checkGroups(ts *TenantSeed, existing *tenant, users map[string]bool) []error {
	var errs []error
	known := map[string]bool{}
	if existing != nil {
		for k := range existing.groups {
			known[k] = true
		}
	}
	for _, g := range ts.Groups {
		known[key(g.ID)] = true
	}
	for _, g := range ts.Groups {
		for _, m := range g.Members {
			if !users[key(m)] {
				errs = append(errs, fmt.Errorf("tenant %s: group %s: member %s is not a user of the tenant", ts.ID, g.ID, m))
			}
		}
		for _, n := range g.Groups {
			if !known[key(n)] {
				errs = append(errs, fmt.Errorf("tenant %s: group %s: nested group %s is not a group of the tenant", ts.ID, g.ID, n))
			}
		}
	}
	return errs
}

// mergeGroups creates or replaces the seed's groups, then recomputes every group's transitive
// users (a nested group may have changed). Caller holds d.mu for writing.
func mergeGroups(t *tenant, gs []GroupSeed) {
	if t.groups == nil {
		t.groups = map[string]*group{}
	}
	for _, s := range gs {
		g := &group{id: s.ID, displayName: s.DisplayName, nested: s.Groups}
		for _, m := range s.Members {
			g.members = append(g.members, t.users[key(m)])
		}
		t.groups[key(s.ID)] = g
	}
	if len(gs) == 0 {
		return
	}
	for _, g := range t.groups {
		g.users = t.transitiveUsers(g)
	}
}

// transitiveUsers flattens a group's nesting (cycles allowed) into its users, sorted by id.
func (t *tenant) transitiveUsers(root *group) []*user {
	seenGroups := map[string]bool{}
	seen := map[string]*user{}
	var walk func(g *group)
	walk = func(g *group) {
		if seenGroups[key(g.id)] {
			return
		}
		seenGroups[key(g.id)] = true
		for _, u := range g.members {
			seen[key(u.id)] = u
		}
		for _, n := range g.nested {
			if ng := t.groups[key(n)]; ng != nil {
				walk(ng)
			}
		}
	}
	walk(root)
	out := make([]*user, 0, len(seen))
	for _, u := range seen {
		out = append(out, u)
	}
	sortUsers(out)
	return out
}

func sortUsers(us []*user) {
	slices.SortFunc(us, func(a, b *user) int { return strings.Compare(key(a.id), key(b.id)) })
}

// setRoster records the team's guests and its sorted roster. Caller holds d.mu for writing.
func (tm *team) setRoster(guests []string) {
	tm.guests = map[string]bool{}
	for _, g := range guests {
		tm.guests[key(g)] = true
	}
	tm.roster = make([]*user, 0, len(tm.members))
	for _, u := range tm.members {
		tm.roster = append(tm.roster, u)
	}
	sortUsers(tm.roster)
}

// page returns up to size users after the token's id, and the token of the next page ("" at
// the end). A token that does not decode is an error.
func page(sorted []*user, token string, size int) ([]*user, string, error) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) == 0 {
			return nil, "", errors.New("invalid continuation token")
		}
		after := string(raw)
		start, _ = slices.BinarySearchFunc(sorted, after, func(u *user, t string) int {
			if key(u.id) <= t {
				return -1
			}
			return 1
		})
	}
	end := min(start+size, len(sorted))
	out := sorted[start:end]
	if end == len(sorted) || len(out) == 0 {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(key(out[len(out)-1].id))), nil
}

func (e *Emulator) audienceRoutes() {
	e.graph("GET /teams/{team}/members", op("listTeamMembers"), e.listTeamMembers)
	e.graph("GET /groups/{group}/transitiveMembers", op("listTransitiveMembers"), e.listTransitiveMembers(false))
	e.graph("GET /groups/{group}/transitiveMembers/microsoft.graph.user", op("listTransitiveUsers"), e.listTransitiveMembers(true))
	e.connector("GET /v3/conversations/{conv}/pagedmembers", "getPagedMembers", e.pagedMembers)
}

// graphTop reads $top (default 100, 1 to 999); false after answering 400.
func (e *Emulator) graphTop(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("$top")
	if v == "" {
		return graphDefaultPage, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > graphMaxPage {
		e.badRequest(w, r, fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, graphMaxPage))
		return 0, false
	}
	return n, true
}

// nextLink is the request's URL with the next page's $skiptoken.
func nextLink(r *http.Request, base, token string) string {
	q := r.URL.Query()
	q.Set("$skiptoken", token)
	path := r.URL.EscapedPath()
	if i := strings.Index(path[1:], "/"); i >= 0 {
		path = path[i+1:] // drop /v1.0 or /beta: base has it
	}
	return base + path + "?" + q.Encode()
}

// pagedGraph writes one page of users with fn's JSON, and @odata.nextLink when more follow.
func (e *Emulator) pagedGraph(w http.ResponseWriter, r *http.Request, g *graphCall, sorted []*user, context string,
	fn func(*user) map[string]any) {
	top, ok := e.graphTop(w, r)
	if !ok {
		return
	}
	users, next, err := page(sorted, r.URL.Query().Get("$skiptoken"), top)
	if err != nil {
		e.badRequest(w, r, "Invalid $skiptoken.")
		return
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, fn(u))
	}
	body := map[string]any{"@odata.context": g.base + "/$metadata#" + context, "value": out}
	if next != "" {
		body["@odata.nextLink"] = nextLink(r, g.base, next)
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) listTeamMembers(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if g.grantFor(d, permTeamMembers) == grantNone {
		e.forbidden(w, r)
		return
	}
	var tm *team
	if t := d.tenants[key(g.claims.Tid)]; t != nil {
		tm = t.teams[key(r.PathValue("team"))]
	}
	if tm == nil {
		e.notFound(w, r, "NotFound", fmt.Sprintf("No team found with Group Id %s", r.PathValue("team")))
		return
	}
	e.pagedGraph(w, r, g, tm.roster, "teams('"+tm.id+"')/members", func(u *user) map[string]any {
		roles := []string{}
		if tm.guests[key(u.id)] {
			roles = append(roles, "guest")
		}
		return map[string]any{
			"@odata.type": "#microsoft.graph.aadUserConversationMember",
			"id":          base64.StdEncoding.EncodeToString([]byte(tm.id + "##" + u.id)),
			"roles":       roles, "displayName": u.displayName, "userId": u.id, "email": u.mail,
			"tenantId": u.tenantID, "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
		}
	})
}

// groupFor finds a group of the caller's tenant; a team is also a (Microsoft 365) group.
func groupFor(t *tenant, id string) []*user {
	if g := t.groups[key(id)]; g != nil {
		return g.users
	}
	if tm := t.teams[key(id)]; tm != nil {
		return tm.roster
	}
	return nil
}

func (e *Emulator) listTransitiveMembers(usersOnly bool) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, g *graphCall) {
		d := e.world().dir
		d.mu.RLock()
		defer d.mu.RUnlock()
		if g.grantFor(d, permGroupMembers) == grantNone {
			e.forbidden(w, r)
			return
		}
		t := d.tenants[key(g.claims.Tid)]
		id := r.PathValue("group")
		if t == nil || (t.groups[key(id)] == nil && t.teams[key(id)] == nil) {
			e.notFound(w, r, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its "+
				"queried reference-property objects are not present.", id))
			return
		}
		// Nested groups are members too, without the cast; this emulator lists users only
		// either way, which a caller that skips non-users cannot tell apart.
		context := "directoryObjects"
		if usersOnly {
			context = "users"
		}
		e.pagedGraph(w, r, g, groupFor(t, id), context, func(u *user) map[string]any {
			return map[string]any{
				"@odata.type": "#microsoft.graph.user", "id": u.id, "userPrincipalName": u.upn,
				"displayName": u.displayName, "mail": u.mail,
			}
		})
	}
}

// pagedMembers serves the Connector's paged roster of a team (its General channel or any of
// its channels' ids) or a group chat.
func (e *Emulator) pagedMembers(w http.ResponseWriter, r *http.Request, b *botCall) {
	size := rosterDefaultPage
	if v := r.URL.Query().Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			badArgument("pageSize must be a number.").write(w)
			return
		}
		size = min(max(n, rosterMinPage), rosterMaxPage)
	}
	wd := e.world()
	d := wd.dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	tg, be := wd.resolve(d, r.PathValue("conv"), b.bot)
	if be == nil && tg.kind == ConversationPersonal {
		be = badArgument("The roster of a 1:1 conversation cannot be paged.")
	}
	if be == nil {
		be = d.access(tg, b.bot)
	}
	if be != nil {
		be.write(w)
		return
	}
	if wait := e.admitApp(wd, b.bot, tg.tenantID); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	if wait := wd.limits.get("members|"+b.bot+"|"+key(tg.canonical)).admit(e.now(), rosterLimits); wait > 0 {
		writeThrottled(w, wait)
		return
	}
	roster, guests := tg.roster()
	users, next, err := page(roster, r.URL.Query().Get("continuationToken"), size)
	if err != nil {
		badArgument("Invalid continuation token.").write(w)
		return
	}
	members := make([]map[string]any, 0, len(users))
	for _, u := range users {
		given, sur, _ := strings.Cut(u.displayName, " ")
		role := "user"
		if guests[key(u.id)] {
			role = "guest"
		}
		members = append(members, map[string]any{
			"id": d.botUserID(b.bot, u), "name": u.displayName, "aadObjectId": u.id, "givenName": given, "surname": sur,
			"email": u.mail, "userPrincipalName": u.upn, "tenantId": u.tenantID, "userRole": role,
		})
	}
	body := map[string]any{"members": members}
	if next != "" {
		body["continuationToken"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// roster is the sorted roster of a team or group chat conversation and its guests.
func (tg *target) roster() ([]*user, map[string]bool) {
	if tg.team != nil {
		return tg.team.roster, tg.team.guests
	}
	out := make([]*user, 0, len(tg.chat.members))
	for _, u := range tg.chat.members {
		out = append(out, u)
	}
	sortUsers(out)
	return out, nil
}

// botUserID is the user's 29: id for the bot: the seeded one, else the derived one.
func (d *directory) botUserID(bot string, u *user) string {
	if id, ok := u.botUserIDs[key(bot)]; ok {
		return id
	}
	return BotUserID(bot, u.id)
}
