package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Graph "user: checkMemberGroups", POST /users/{id}/checkMemberGroups {"groupIds": [...]}:
// which of the given groups the user is a member of, transitively; at most 20 ids per request,
// and a malformed id fails the whole request. Application permissions: User.Read.All together
// with GroupMember.Read.All or Group.Read.All, or Directory.Read.All
// (https://learn.microsoft.com/graph/api/user-checkmembergroups). A team's id is its Microsoft
// 365 group, whose members are the team's.

const maxCheckMemberGroups = 20

func (e *Emulator) memberGroupRoutes() {
	e.graph("POST /users/{user}/checkMemberGroups", op("checkMemberGroups"), e.checkMemberGroups)
}

// mayCheckMemberGroups: the permission pairs of the page above.
func mayCheckMemberGroups(roles []string) bool {
	has := func(r ...string) bool {
		return slices.ContainsFunc(roles, func(x string) bool { return slices.Contains(r, x) })
	}
	return has("Directory.Read.All", "Directory.ReadWrite.All") ||
		(has(roleUserRead, "User.ReadWrite.All") && has(roleGroupMemberRead, "Group.Read.All", "Group.ReadWrite.All"))
}

func (e *Emulator) checkMemberGroups(w http.ResponseWriter, r *http.Request, g *graphCall) {
	if !mayCheckMemberGroups(g.claims.Roles) {
		e.forbidden(w, r)
		return
	}
	var in struct {
		GroupIDs []string `json:"groupIds"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &in) != nil {
		e.badRequest(w, r, "Invalid request body.")
		return
	}
	if len(in.GroupIDs) == 0 || len(in.GroupIDs) > maxCheckMemberGroups {
		e.badRequest(w, r, fmt.Sprintf("groupIds must have 1 to %d ids.", maxCheckMemberGroups))
		return
	}
	for _, id := range in.GroupIDs {
		if !guidRE.MatchString(id) {
			e.badRequest(w, r, fmt.Sprintf("Invalid GUID:%s", id))
			return
		}
	}
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	id := r.PathValue("user")
	var u *user
	t := d.tenants[key(g.claims.Tid)]
	if t != nil {
		u = t.userFor(id)
	}
	if u == nil {
		e.notFound(w, r, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried "+
			"reference-property objects are not present.", id))
		return
	}
	out := []string{}
	for _, gid := range in.GroupIDs {
		if slices.ContainsFunc(groupFor(t, gid), func(m *user) bool { return strings.EqualFold(m.id, u.id) }) {
			out = append(out, gid)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{odataContext: g.base + "/$metadata#Collection(Edm.String)", "value": out})
}
