package botframework

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

var testPolicy = NewServiceURLPolicy([]string{
	"smba.trafficmanager.net",
	"SMBA.infra.gcc.teams.microsoft.com:443",
	"https://127.0.0.1:8443/teams/", // --bot-service-url of an emulator
	"[::1]:9443",
	"", "   ", "https://", // ignored
})

func TestPolicyAllows(t *testing.T) {
	tests := map[string]struct {
		url      string
		wantHost string
		wantPath string
	}{
		"public":                {url: "https://smba.trafficmanager.net/teams/", wantHost: "smba.trafficmanager.net", wantPath: "/teams/"},
		"regional":              {url: "https://smba.trafficmanager.net/amer/", wantHost: "smba.trafficmanager.net", wantPath: "/amer/"},
		"no path":               {url: "https://smba.trafficmanager.net", wantHost: "smba.trafficmanager.net"},
		"upper-case host":       {url: "https://SMBA.TrafficManager.NET/emea/", wantHost: "smba.trafficmanager.net", wantPath: "/emea/"},
		"upper-case scheme":     {url: "HTTPS://smba.trafficmanager.net/teams/", wantHost: "smba.trafficmanager.net", wantPath: "/teams/"},
		"explicit default port": {url: "https://smba.trafficmanager.net:443/teams/", wantHost: "smba.trafficmanager.net:443", wantPath: "/teams/"},
		"entry given with :443": {url: "https://smba.infra.gcc.teams.microsoft.com/teams", wantHost: "smba.infra.gcc.teams.microsoft.com", wantPath: "/teams"},
		"entry given as URL":    {url: "https://127.0.0.1:8443/teams/", wantHost: "127.0.0.1:8443", wantPath: "/teams/"},
		"other path, same host": {url: "https://127.0.0.1:8443/emea/", wantHost: "127.0.0.1:8443", wantPath: "/emea/"},
		"IPv6 entry with port":  {url: "https://[::1]:9443/teams/", wantHost: "[::1]:9443", wantPath: "/teams/"},
		"encoded path is kept":  {url: "https://smba.trafficmanager.net/a%2Fb/", wantHost: "smba.trafficmanager.net", wantPath: "/a/b/"},
		"dots inside a segment": {url: "https://smba.trafficmanager.net/v1.2/", wantHost: "smba.trafficmanager.net", wantPath: "/v1.2/"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			u, err := testPolicy.Check(tc.url)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(u.Scheme).To(Equal("https"))
			g.Expect(u.Host).To(Equal(tc.wantHost))
			g.Expect(u.Path).To(Equal(tc.wantPath))
			g.Expect(u.RawQuery).To(BeEmpty())
			g.Expect(u.User).To(BeNil())
		})
	}
}

// attacks are service URLs the policy must refuse, with the rule each breaks.
var attacks = map[string]struct {
	url  string
	rule string
}{
	"plain http":                  {url: "http://smba.trafficmanager.net/teams/", rule: RuleScheme},
	"look-alike suffix":           {url: "https://smba.trafficmanager.net.evil.com/teams/", rule: RuleHost},
	"look-alike prefix":           {url: "https://evilsmba.trafficmanager.net/teams/", rule: RuleHost},
	"subdomain of allowed host":   {url: "https://x.smba.trafficmanager.net/teams/", rule: RuleHost},
	"other host":                  {url: "https://evil.example.com/teams/", rule: RuleHost},
	"userinfo trick":              {url: "https://smba.trafficmanager.net@evil.com/teams/", rule: RuleUserinfo},
	"userinfo with password":      {url: "https://user:pass@smba.trafficmanager.net/teams/", rule: RuleUserinfo},
	"encoded @ in userinfo":       {url: "https://smba.trafficmanager.net%40evil.com/teams/", rule: RuleEncodedHost},
	"backslash trick":             {url: `https://evil.com\@smba.trafficmanager.net/teams/`, rule: RuleCharacters},
	"backslash as slash":          {url: `https://smba.trafficmanager.net\teams`, rule: RuleCharacters},
	"trailing dot":                {url: "https://smba.trafficmanager.net./teams/", rule: RuleTrailingDot},
	"other port":                  {url: "https://smba.trafficmanager.net:8443/teams/", rule: RulePort},
	"allowed IP, other port":      {url: "https://127.0.0.1:9999/teams/", rule: RuleIPLiteral},
	"allowed IP, default port":    {url: "https://127.0.0.1/teams/", rule: RuleIPLiteral},
	"IP literal":                  {url: "https://10.0.0.1/teams/", rule: RuleIPLiteral},
	"IPv6 literal":                {url: "https://[::1]/teams/", rule: RuleIPLiteral},
	"IPv4-mapped IPv6":            {url: "https://[::ffff:127.0.0.1]:8443/teams/", rule: RuleIPLiteral},
	"decimal IP":                  {url: "https://2130706433/teams/", rule: RuleHost},
	"hex IP":                      {url: "https://0x7f.0.0.1:8443/teams/", rule: RuleHost},
	"short IP":                    {url: "https://127.1:8443/teams/", rule: RuleHost},
	"percent-encoded host":        {url: "https://smba%2Etrafficmanager.net/teams/", rule: RuleEncodedHost},
	"percent-encoded port":        {url: "https://smba.trafficmanager.net:%34%34%33/teams/", rule: RuleEncodedHost},
	"unicode look-alike":          {url: "https://smba.trafficmаnager.net/teams/", rule: RuleHostSyntax},
	"punycode look-alike":         {url: "https://xn--smba-trafficmanager-net.com/teams/", rule: RuleHost},
	"underscore host":             {url: "https://smba_trafficmanager.net/teams/", rule: RuleHostSyntax},
	"fragment":                    {url: "https://smba.trafficmanager.net/teams/#x", rule: RuleFragment},
	"empty fragment":              {url: "https://smba.trafficmanager.net/teams/#", rule: RuleFragment},
	"query":                       {url: "https://smba.trafficmanager.net/teams/?next=https://evil.com", rule: RuleQuery},
	"empty query":                 {url: "https://smba.trafficmanager.net/teams/?", rule: RuleQuery},
	"dot-dot path":                {url: "https://smba.trafficmanager.net/teams/../x/", rule: RulePath},
	"encoded dot-dot path":        {url: "https://smba.trafficmanager.net/teams/%2e%2e/x/", rule: RulePath},
	"scheme-relative":             {url: "//smba.trafficmanager.net/teams/", rule: RuleNotAbsolute},
	"relative path":               {url: "/teams/", rule: RuleNotAbsolute},
	"opaque https":                {url: "https:smba.trafficmanager.net/teams/", rule: RuleNotAbsolute},
	"single slash":                {url: "https:/smba.trafficmanager.net/teams/", rule: RuleNotAbsolute},
	"no host":                     {url: "https:///teams/", rule: RuleNotAbsolute},
	"empty":                       {url: "", rule: RuleNotAbsolute},
	"file scheme":                 {url: "file:///etc/passwd", rule: RuleScheme},
	"javascript scheme":           {url: "javascript:alert(1)", rule: RuleScheme},
	"leading space":               {url: " https://smba.trafficmanager.net/teams/", rule: RuleCharacters},
	"tab in host":                 {url: "https://smba.trafficmanager.net\t.evil.com/", rule: RuleCharacters},
	"newline (header injection)":  {url: "https://smba.trafficmanager.net/teams/\r\nHost: evil.com", rule: RuleCharacters},
	"NUL byte":                    {url: "https://smba.trafficmanager.net\x00.evil.com/", rule: RuleCharacters},
	"too long":                    {url: "https://smba.trafficmanager.net/" + strings.Repeat("a", 2100), rule: RuleLength},
	"empty label":                 {url: "https://smba..trafficmanager.net/teams/", rule: RuleHostSyntax},
	"port zero":                   {url: "https://smba.trafficmanager.net:0/teams/", rule: RulePort},
	"port with leading zeros":     {url: "https://127.0.0.1:08443/teams/", rule: RuleIPLiteral},
	"gcc host on a non-443 port":  {url: "https://smba.infra.gcc.teams.microsoft.com:444/teams", rule: RulePort},
	"allowed host as a path part": {url: "https://evil.com/smba.trafficmanager.net/teams/", rule: RuleHost},
	"allowed host in a subdomain": {url: "https://smba.trafficmanager.net.evil.com:443/", rule: RuleHost},
}

func TestPolicyRefuses(t *testing.T) {
	for name, tc := range attacks {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			u, err := testPolicy.Check(tc.url)
			g.Expect(u).To(BeNil())
			var refused *ServiceURLError
			g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
			g.Expect(refused.Rule).To(Equal(tc.rule), "error %v", err)
			g.Expect(err).To(MatchError(ErrServiceURLRefused))
			g.Expect(err.Error()).To(ContainSubstring("rule " + tc.rule))
			g.Expect(err.Error()).NotTo(ContainSubstring("pass"), "no credentials echoed")
			g.Expect(msapi.Classify(err)).To(Equal(msapi.Classification{Reason: msapi.ReasonServiceURLRefused, Terminal: true}))
		})
	}
}

func TestPolicyErrorNamesTheHost(t *testing.T) {
	g := NewWithT(t)
	_, err := testPolicy.Check("https://smba.trafficmanager.net.evil.com/teams/")
	g.Expect(err).To(MatchError(`service URL refused (rule allowed-host): host "smba.trafficmanager.net.evil.com": ` +
		`not one of the allowed Teams service hosts (the cloud's hosts and --bot-service-url)`))
}

func TestPolicyErrorNeverNamesTheUserPart(t *testing.T) {
	g := NewWithT(t)
	_, err := testPolicy.Check("https://admin:hunter2@smba.trafficmanager.net/teams/")
	g.Expect(err).To(MatchError(`service URL refused (rule no-userinfo): host "smba.trafficmanager.net": must not carry user information (user@host)`))
}

func TestEmptyPolicyRefusesEverything(t *testing.T) {
	g := NewWithT(t)
	_, err := NewServiceURLPolicy(nil).Check("https://smba.trafficmanager.net/teams/")
	g.Expect(err).To(MatchError(ErrServiceURLRefused))
}

// TestAttacksNeverReachTokenOrServer runs every refused URL through every
// client method: no limiter, no token, no connection to any host.
func TestAttacksNeverReachTokenOrServer(t *testing.T) {
	methods := map[string]func(c *Client, serviceURL string) error{
		"create": func(c *Client, u string) error {
			_, err := c.CreateConversation(context.Background(), u, ConversationParameters{Members: []ChannelAccount{{ID: "29:u"}}})
			return err
		},
		"send": func(c *Client, u string) error {
			_, err := c.SendActivity(context.Background(), u, "a:1", &Activity{Text: "hi"})
			return err
		},
		"reply": func(c *Client, u string) error {
			_, err := c.ReplyToActivity(context.Background(), u, "19:c@thread.tacv2", "1", &Activity{Text: "hi"})
			return err
		},
		"update": func(c *Client, u string) error {
			_, err := c.UpdateActivity(context.Background(), u, "a:1", "1", &Activity{Text: "hi"})
			return err
		},
		"delete": func(c *Client, u string) error { return c.DeleteActivity(context.Background(), u, "a:1", "1") },
	}
	for name, tc := range attacks {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, reply(201, `{"id":"1"}`))
			for method, call := range methods {
				err := call(f.client, tc.url)
				g.Expect(err).To(MatchError(ErrServiceURLRefused), method)
				g.Expect(msapi.IsTerminal(err)).To(BeTrue(), method)
			}
			g.Expect(f.j.list()).To(BeEmpty(), "no limiter, token or connection")
			g.Expect(f.server.requests()).To(BeEmpty())
		})
	}
}

// TestRedirectAttack: an allowed host answers with a redirect to another
// host. The client must not follow it, even when the HTTP client it was given
// would.
func TestRedirectAttack(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := NewWithT(t)
			attacker := newServer(t, reply(200, `{"id":"stolen"}`))
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, attacker.srv.URL+"/teams/v3/conversations/a:1/activities", status)
			})
			g.Expect(f.server.srv.Client().CheckRedirect).To(BeNil(), "the given client would follow redirects")

			_, err := f.client.SendActivity(context.Background(), f.server.serviceURL(), "a:1", &Activity{Text: "hi"})

			g.Expect(msapi.StatusOf(err)).To(Equal(status))
			g.Expect(err).To(MatchError(ContainSubstring("redirect refused")))
			g.Expect(msapi.IsTerminal(err)).To(BeTrue())
			g.Expect(attacker.requests()).To(BeEmpty())
			g.Expect(f.server.requests()).To(HaveLen(1))
		})
	}
}
