//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const generatedUsers = 1234

func generatedEnv(t *testing.T) *env {
	t.Helper()
	return newEnvSeed(t, GenerateSeed(GenerateOptions{Users: generatedUsers}), Options{})
}

// graphPages follows @odata.nextLink from path and returns every object and the page count.
func (v *env) graphPages(g *WithT, path string) ([]map[string]any, int) {
	tok := v.graphToken()
	var all []map[string]any
	pages := 0
	for path != "" {
		r := v.do("GET", path, tok, nil)
		g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
		for _, o := range r.list("value") {
			all = append(all, o.(map[string]any))
		}
		pages++
		path = ""
		if next := r.str("@odata.nextLink"); next != "" {
			g.Expect(next).To(HavePrefix(v.srv.URL + "/v1.0/"))
			path = strings.TrimPrefix(next, v.srv.URL)
		}
	}
	return all, pages
}

func TestGeneratedTeamMembersPageWithNextLink(t *testing.T) {
	v := generatedEnv(t)
	g := NewWithT(t)
	o := GenerateOptions{Users: generatedUsers}
	inTeam, guests := 0, 0
	for i := range generatedUsers {
		if gu := o.Generated(i); gu.InTeam {
			inTeam++
			if gu.Guest {
				guests++
			}
		}
	}
	all, pages := v.graphPages(g, "/v1.0/teams/"+GeneratedTeamID+"/members")
	g.Expect(all).To(HaveLen(inTeam))
	g.Expect(pages).To(Equal((inTeam + 99) / 100)) // default page size 100
	seen := map[string]bool{}
	gotGuests := 0
	for _, m := range all {
		g.Expect(m["@odata.type"]).To(Equal("#microsoft.graph.aadUserConversationMember"))
		seen[m["userId"].(string)] = true
		if roles := m["roles"].([]any); len(roles) == 1 && roles[0] == "guest" {
			gotGuests++
		}
	}
	g.Expect(seen).To(HaveLen(inTeam), "no member twice")
	g.Expect(gotGuests).To(Equal(guests))
	g.Expect(guests).To(BeNumerically(">", 0))

	_, pages = v.graphPages(g, "/v1.0/teams/"+GeneratedTeamID+"/members?$top=999")
	g.Expect(pages).To(Equal((inTeam + 998) / 999))
	r := v.do("GET", "/v1.0/teams/"+GeneratedTeamID+"/members?$top=1000", v.graphToken(), nil)
	g.Expect(r.status).To(Equal(http.StatusBadRequest))
	r = v.do("GET", "/v1.0/teams/"+GeneratedTeamID+"/members?$skiptoken=%25%25", v.graphToken(), nil)
	g.Expect(r.status).To(Equal(http.StatusBadRequest))
}

func TestGroupTransitiveUsers(t *testing.T) {
	v := generatedEnv(t)
	g := NewWithT(t)
	all, pages := v.graphPages(g, "/v1.0/groups/"+GeneratedGroupID+"/transitiveMembers/microsoft.graph.user?$top=500")
	g.Expect(all).To(HaveLen(generatedUsers), "the nested even and odd groups, flattened")
	g.Expect(pages).To(Equal(3))
	ids := map[string]bool{}
	for _, u := range all {
		g.Expect(u["@odata.type"]).To(Equal("#microsoft.graph.user"))
		ids[u["id"].(string)] = true
	}
	g.Expect(ids).To(HaveKey(GeneratedUserID(0)))
	g.Expect(ids).To(HaveKey(GeneratedUserID(generatedUsers - 1)))

	even, _ := v.graphPages(g, "/v1.0/groups/"+GeneratedGroupEvenID+"/transitiveMembers")
	g.Expect(even).To(HaveLen((generatedUsers + 1) / 2))

	r := v.do("GET", "/v1.0/groups/"+DefaultTenantID+"/transitiveMembers", v.graphToken(), nil)
	g.Expect(r.status).To(Equal(http.StatusNotFound))
	g.Expect(r.str("error", "code")).To(Equal("Request_ResourceNotFound"))

	g.Expect(v.e.RevokeRoles(DefaultTenantID, DefaultBotAppID, roleGroupMemberRead)).To(Succeed())
	r = v.do("GET", "/v1.0/groups/"+GeneratedGroupID+"/transitiveMembers", v.graphToken(), nil)
	g.Expect(r.status).To(Equal(http.StatusForbidden))
}

func TestConnectorPagedMembers(t *testing.T) {
	v := generatedEnv(t)
	g := NewWithT(t)
	tok := v.botToken()
	o := GenerateOptions{Users: generatedUsers}
	inTeam := 0
	for i := range generatedUsers {
		if o.Generated(i).InTeam {
			inTeam++
		}
	}
	read := func(size string) (map[string]bool, int) {
		ids := map[string]bool{}
		pages, token := 0, ""
		for {
			q := url.Values{}
			if size != "" {
				q.Set("pageSize", size)
			}
			if token != "" {
				q.Set("continuationToken", token)
			}
			r := v.do("GET", "/teams/v3/conversations/"+url.PathEscape(GeneratedGeneralID)+"/pagedmembers?"+q.Encode(), tok, nil)
			g.Expect(r.status).To(Equal(http.StatusOK), string(r.raw))
			pages++
			for _, m := range r.list("members") {
				mm := m.(map[string]any)
				g.Expect(mm["id"]).To(HavePrefix("29:"))
				g.Expect(mm["userRole"]).To(BeElementOf("user", "guest"))
				ids[mm["aadObjectId"].(string)] = true
			}
			if token = r.str("continuationToken"); token == "" {
				return ids, pages
			}
			v.clock.Advance(150 * time.Millisecond) // stay inside the roster limits (16 per 2 s)
		}
	}
	ids, pages := read("10") // below 50 counts as 50
	g.Expect(ids).To(HaveLen(inTeam))
	g.Expect(pages).To(Equal((inTeam + 49) / 50))
	_, pages = read("5000") // above 500 counts as 500
	g.Expect(pages).To(Equal((inTeam + 499) / 500))
	_, pages = read("")
	g.Expect(pages).To(Equal((inTeam + 99) / 100))

	// The bot must be in the roster: the default team has no app installed.
	r := v.do("GET", "/teams/v3/conversations/"+url.PathEscape(DefaultGeneralChannelID)+"/pagedmembers", tok, nil)
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.str("error", "code")).To(Equal("BotNotInConversationRoster"))
}

func TestGeneratedUsersInstallAndBlockState(t *testing.T) {
	v := generatedEnv(t)
	g := NewWithT(t)
	tok := v.botToken()
	o := GenerateOptions{Users: generatedUsers}
	var blocked, missing, fine int
	for i := range generatedUsers {
		switch gu := o.Generated(i); {
		case gu.NotInstalled && missing == 0:
			missing = i
		case gu.Blocked && !gu.NotInstalled && blocked == 0:
			blocked = i
		case !gu.Blocked && !gu.NotInstalled && fine == 0:
			fine = i + 1
		}
	}
	g.Expect(blocked * missing * fine).NotTo(BeZero())
	create := func(i int) *resp {
		return v.do("POST", "/teams/v3/conversations", tok, personalParams(GeneratedUserID(i)))
	}
	g.Expect(create(fine).status).To(Equal(http.StatusCreated))
	r := create(missing)
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(string(r.raw)).To(ContainSubstring("Bot isn't installed"))
	r = create(blocked)
	g.Expect(r.status).To(Equal(http.StatusCreated), "creating is allowed; the send is refused")
	send := v.do("POST", "/teams/v3/conversations/"+url.PathEscape(r.str("id"))+"/activities", tok, text("hi"))
	g.Expect(send.status).To(Equal(http.StatusForbidden))
	g.Expect(string(send.raw)).To(ContainSubstring("MessageWritesBlocked"))
}
