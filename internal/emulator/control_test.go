//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestControlAPI(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	ctl := func(method, path string, body any) *resp { return v.do(method, "/_emulator/v1"+path, "", body) }

	g.Expect(ctl("GET", "/healthz", nil).status).To(Equal(200))

	// Seed merge in YAML: a new user who is in the team.
	const newUser = "c2fe1860-2489-4334-bb7f-66225f9c0a99"
	r := ctl("POST", "/seed", `
tenants:
- id: `+DefaultTenantID+`
  users:
  - id: `+newUser+`
    userPrincipalName: IsaiahL@contoso.onmicrosoft.com
    displayName: Isaiah Langer
  teams:
  - id: `+DefaultTeamID+`
    displayName: Platform
    generalChannelId: "`+DefaultGeneralChannelID+`"
    members: [`+DefaultUserAdeleID+`, `+newUser+`]
`)
	g.Expect(r.status).To(Equal(http.StatusNoContent), string(r.raw))
	g.Expect(ctl("POST", "/seed", "tenants: [{id: "+DefaultTenantID+", teams: [{id: x}]}]").status).To(Equal(400))
	g.Expect(ctl("POST", "/seed", "tenants: [{id: "+DefaultTenantID+", chats: [{id: '19:a@thread.v2', members: [nobody]}]}]").status).To(Equal(400))
	g.Expect(ctl("POST", "/seed", "tenants: [{id: "+DefaultTenantID+", unknownField: 1}]").status).To(Equal(400))

	// Admin installs in the team; the new member can now get a 1:1 conversation.
	r = ctl("POST", "/install", map[string]string{"scope": "team", "scopeId": DefaultTeamID, "teamsAppId": DefaultTeamsAppID})
	g.Expect(r.status).To(Equal(http.StatusCreated), string(r.raw))
	g.Expect(r.str("installationId")).To(Equal(installationID(DefaultTeamID, DefaultTeamsAppID)))
	g.Expect(ctl("POST", "/install", map[string]string{"scope": "team", "scopeId": DefaultTeamID, "teamsAppId": DefaultTeamsAppID}).status).
		To(Equal(400))
	tok := v.botToken()
	created := v.do("POST", "/teams/v3/conversations", tok, personalParams(newUser))
	g.Expect(created.status).To(Equal(http.StatusCreated), string(created.raw))
	id := created.str("id")
	g.Expect(v.do("POST", conv(id), tok, text("one")).status).To(Equal(201))

	// Block and unblock over HTTP.
	g.Expect(ctl("POST", "/users/"+newUser+"/block?botId="+DefaultBotAppID, nil).status).To(Equal(204))
	g.Expect(v.do("POST", conv(id), tok, text("x")).status).To(Equal(403))
	g.Expect(ctl("POST", "/users/IsaiahL@contoso.onmicrosoft.com/unblock", nil).status).To(Equal(204))
	g.Expect(v.do("POST", conv(id), tok, text("two")).status).To(Equal(201))
	g.Expect(ctl("POST", "/users/nobody/block", nil).status).To(Equal(404))

	// Activities, filtered by either id of the chat.
	r = ctl("GET", "/activities?conversationId="+url.QueryEscape(PersonalChatID(DefaultBotAppID, newUser)), nil)
	g.Expect(r.list("activities")).To(HaveLen(2))
	g.Expect(r.list("activities")[0]).To(And(HaveKeyWithValue("conversationId", id), HaveKey("activity"),
		HaveKey("createdAt"), HaveKeyWithValue("deleted", false)))
	g.Expect(ctl("GET", "/activities", nil).list("activities")).To(HaveLen(2))

	// The journal: no tokens, since= works.
	all := ctl("GET", "/requests", nil).list("requests")
	g.Expect(all).NotTo(BeEmpty())
	g.Expect(string(ctl("GET", "/requests", nil).raw)).NotTo(ContainSubstring(tok[:20]))
	lastSeen := all[len(all)-2].(map[string]any)["seq"].(float64)
	r = ctl("GET", "/requests?since="+strconv.FormatFloat(lastSeen, 'f', -1, 64), nil)
	g.Expect(r.list("requests")).To(HaveLen(1))
	g.Expect(r.list("requests")[0]).To(And(HaveKeyWithValue("operation", "sendActivity"), HaveKeyWithValue("status", 201.0),
		HaveKeyWithValue("api", "botframework"), HaveKeyWithValue("clientId", DefaultBotAppID)))
	g.Expect(ctl("GET", "/requests?api=entra", nil).list("requests")).To(HaveEach(HaveKeyWithValue("operation", "token")))
	g.Expect(ctl("GET", "/requests?since=yesterday", nil).status).To(Equal(400))

	// Uninstall as an admin would; Graph sees it.
	g.Expect(ctl("POST", "/uninstall", map[string]string{"scope": "team", "scopeId": DefaultTeamID, "teamsAppId": DefaultTeamsAppID}).status).
		To(Equal(204))
	gt := v.graphToken()
	g.Expect(v.do("GET", "/v1.0/teams/"+DefaultTeamID+"/installedApps", gt, nil).list("value")).To(BeEmpty())

	// Roles.
	g.Expect(ctl("POST", "/roles/revoke", map[string]any{"tenantId": DefaultTenantID, "clientId": DefaultBotAppID,
		"roles": []string{"User.Read.All"}}).status).To(Equal(204))
	g.Expect(v.do("GET", "/v1.0/users/"+newUser, gt, nil).status).To(Equal(200), "the old token still carries the role")
	gt = v.graphToken()
	g.Expect(v.do("GET", "/v1.0/users/"+newUser, gt, nil).status).To(Equal(403))
	g.Expect(ctl("POST", "/roles/grant", map[string]any{"tenantId": DefaultTenantID, "clientId": DefaultBotAppID,
		"roles": []string{"User.Read.All"}}).status).To(Equal(204))
	g.Expect(v.do("GET", "/v1.0/users/"+newUser, gt, nil).status).To(Equal(403), "a grant shows only in a new token")
	g.Expect(v.do("GET", "/v1.0/users/"+newUser, v.graphToken(), nil).status).To(Equal(200))

	// Faults over HTTP.
	r = ctl("POST", "/faults", `{"api":"graph","operation":"getUser","status":503,"retryAfter":"Wed, 21 Oct 2015 07:28:00 GMT","duration":"30s"}`)
	g.Expect(r.status).To(Equal(201), string(r.raw))
	fid := r.str("id")
	r = ctl("GET", "/faults", nil)
	g.Expect(r.list("faults")).To(ConsistOf(And(HaveKeyWithValue("id", fid), HaveKeyWithValue("duration", "30s"), HaveKey("expires"))))
	r = v.do("GET", "/v1.0/users/"+newUser, gt, nil)
	g.Expect(r.status).To(Equal(503))
	g.Expect(r.header.Get("Retry-After")).To(Equal("Wed, 21 Oct 2015 07:28:00 GMT"))
	g.Expect(ctl("DELETE", "/faults/"+fid, nil).status).To(Equal(204))
	g.Expect(ctl("DELETE", "/faults/"+fid, nil).status).To(Equal(404))
	r = ctl("POST", "/faults", `[{"operation":"getUser","latency":"1ms"},{"action":"acceptThenDrop","operation":"sendActivity"}]`)
	g.Expect(r.status).To(Equal(201))
	g.Expect(r.json["ids"]).To(HaveLen(2))
	g.Expect(ctl("POST", "/faults", `{"status":42}`).status).To(Equal(400))
	g.Expect(ctl("DELETE", "/faults", nil).status).To(Equal(204))
	g.Expect(v.e.Faults()).To(BeEmpty())

	// State, then reset.
	r = ctl("GET", "/state", nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(r.json).To(HaveKeyWithValue("activities", 2.0))
	g.Expect(string(r.raw)).NotTo(ContainSubstring(DefaultBotSecret))
	g.Expect(ctl("POST", "/reset", nil).status).To(Equal(204))
	g.Expect(v.e.Activities()).To(BeEmpty())
	g.Expect(v.e.Requests()).To(BeEmpty())
	g.Expect(v.do("GET", "/v1.0/users/"+newUser, v.graphToken(), nil).status).To(Equal(404))
}

func TestStartTLSWritesCA(t *testing.T) {
	g := NewWithT(t)
	e, err := New(nil, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(t.TempDir(), "certs")
	srv, err := e.StartTLS("127.0.0.1:0", dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(srv.URL).To(MatchRegexp(`^https://127\.0\.0\.1:\d+$`))
	g.Expect(srv.CAFile).To(Equal(filepath.Join(dir, "ca.crt")))
	pemBytes, err := os.ReadFile(srv.CAFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pemBytes).To(Equal(srv.CAPEM))

	// A client that trusts only the file reaches it by IP and by name.
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(pemBytes)).To(BeTrue())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	_, port, _ := cutLast(srv.URL, ":")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		res, err := c.Get(fmt.Sprintf("https://%s:%s/_emulator/v1/healthz", host, port))
		g.Expect(err).NotTo(HaveOccurred())
		_ = res.Body.Close()
		g.Expect(res.StatusCode).To(Equal(200))
	}
	// An untrusting client fails.
	_, err = http.Get(srv.URL + "/_emulator/v1/healthz")
	g.Expect(err).To(HaveOccurred())
	c.CloseIdleConnections()
	g.Expect(srv.Close()).To(Succeed())
	g.Expect(srv.Close()).To(Succeed())
	_, err = c.Get(srv.URL + "/_emulator/v1/healthz")
	g.Expect(err).To(HaveOccurred())
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// TestConcurrentSends sends from many goroutines into many conversations at once (run with -race).
func TestConcurrentSends(t *testing.T) {
	const users, perUser, workersPerUser = 40, 25, 2
	seed := DefaultSeed()
	ids := make([]string, users)
	for i := range users {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		seed.Tenants[0].Users = append(seed.Tenants[0].Users, UserSeed{
			ID: ids[i], UserPrincipalName: fmt.Sprintf("user%d@%s", i, DefaultTenantDomain), InstalledApps: []string{DefaultTeamsAppID},
		})
	}
	v := newEnvSeed(t, seed, Options{AppRPS: 1 << 20, ConversationLimits: []Limit{{Count: 1 << 20, Window: time.Second}}})
	g := NewWithT(t)
	tok := v.botToken()
	gtok := v.graphToken()
	var wg sync.WaitGroup
	errs := make(chan error, users*workersPerUser)
	for i := range users {
		conversation := PersonalConversationID(DefaultBotAppID, ids[i])
		for w := range workersPerUser {
			wg.Go(func() {
				for n := range perUser / workersPerUser {
					if w == 0 && n%5 == 0 {
						// Mix in Graph writes and reads, which take the directory's write lock.
						_, _ = v.e.Install(ScopeChat, DefaultGroupChatID, DefaultTeamsAppID)
						if st := v.doQuiet("GET", "/v1.0/users/"+ids[i]+"/teamwork/installedApps", gtok, nil); st != 200 {
							errs <- fmt.Errorf("list installs: %d", st)
							return
						}
					}
					if st := v.doQuiet("POST", conv(conversation), tok, text(fmt.Sprintf("u%d w%d n%d", i, w, n))); st != 201 {
						errs <- fmt.Errorf("send: %d", st)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := v.e.Activities()
	g.Expect(all).To(HaveLen(users * (perUser / workersPerUser) * workersPerUser))
	seen := map[string]bool{}
	for _, a := range all {
		g.Expect(seen[a.ActivityID]).To(BeFalse(), "duplicate id %s", a.ActivityID)
		seen[a.ActivityID] = true
	}
	for i := range users {
		g.Expect(v.e.ConversationActivities(ids[i])).To(BeEmpty()) // a user id is not a conversation id
		g.Expect(v.e.ConversationActivities(PersonalConversationID(DefaultBotAppID, ids[i]))).To(HaveLen(perUser / workersPerUser * workersPerUser))
	}
}
