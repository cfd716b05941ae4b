package cloud

import (
	"errors"
	"net/url"
	"testing"

	. "github.com/onsi/gomega"
)

func TestLookup(t *testing.T) {
	tests := map[string]struct {
		name            Name
		authority       string
		graph           string
		graphScope      string
		botScope        string
		legacyTenant    string
		serviceURL      string
		serviceHosts    []string
		wantErrContains string
	}{
		"public": {
			name: Public, authority: "https://login.microsoftonline.com/", graph: "https://graph.microsoft.com",
			graphScope: "https://graph.microsoft.com/.default", botScope: "https://api.botframework.com/.default",
			legacyTenant: "botframework.com", serviceURL: "https://smba.trafficmanager.net/teams/",
			serviceHosts: []string{"smba.trafficmanager.net"},
		},
		"gcc keeps the worldwide Entra and Graph": {
			name: USGovGCC, authority: "https://login.microsoftonline.com/", graph: "https://graph.microsoft.com",
			graphScope: "https://graph.microsoft.com/.default", botScope: "https://api.botframework.com/.default",
			legacyTenant: "botframework.com", serviceURL: "https://smba.infra.gcc.teams.microsoft.com/teams/",
			serviceHosts: []string{"smba.infra.gcc.teams.microsoft.com"},
		},
		"gcc high": {
			name: USGovGCCHigh, authority: "https://login.microsoftonline.us/", graph: "https://graph.microsoft.us",
			graphScope: "https://graph.microsoft.us/.default", botScope: "https://api.botframework.us/.default",
			legacyTenant: "MicrosoftServices.onmicrosoft.us", serviceURL: "https://smba.infra.gov.teams.microsoft.us/teams/",
			serviceHosts: []string{"smba.infra.gov.teams.microsoft.us"},
		},
		"dod": {
			name: USGovDoD, authority: "https://login.microsoftonline.us/", graph: "https://dod-graph.microsoft.us",
			graphScope: "https://dod-graph.microsoft.us/.default", botScope: "https://api.botframework.us/.default",
			legacyTenant: "MicrosoftServices.onmicrosoft.us", serviceURL: "https://smba.infra.dod.teams.microsoft.us/teams/",
			serviceHosts: []string{"smba.infra.dod.teams.microsoft.us"},
		},
		"china publishes no service URL": {
			name: China, authority: "https://login.partner.microsoftonline.cn/",
			graph: "https://microsoftgraph.chinacloudapi.cn", graphScope: "https://microsoftgraph.chinacloudapi.cn/.default",
			botScope: "https://api.botframework.azure.cn/.default", legacyTenant: "microsoftservices.partner.onmschina.cn",
		},
		"case-insensitive": {
			name: "public", authority: "https://login.microsoftonline.com/", graph: "https://graph.microsoft.com",
			graphScope: "https://graph.microsoft.com/.default", botScope: "https://api.botframework.com/.default",
			legacyTenant: "botframework.com", serviceURL: "https://smba.trafficmanager.net/teams/",
			serviceHosts: []string{"smba.trafficmanager.net"},
		},
		"unknown": {
			name:            "Mars",
			wantErrContains: `unknown cloud "Mars": valid names are Public, USGovGCC, USGovGCCHigh, USGovDoD, China`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			e, err := Lookup(tc.name)
			if tc.wantErrContains != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErrContains)))
				g.Expect(errors.Is(err, ErrUnknownCloud)).To(BeTrue())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.AuthorityHost).To(Equal(tc.authority))
			g.Expect(e.GraphEndpoint).To(Equal(tc.graph))
			g.Expect(e.GraphScope).To(Equal(tc.graphScope))
			g.Expect(e.BotScope).To(Equal(tc.botScope))
			g.Expect(e.BotLegacyTenant).To(Equal(tc.legacyTenant))
			g.Expect(e.DefaultServiceURL).To(Equal(tc.serviceURL))
			g.Expect(e.ServiceHosts).To(Equal(tc.serviceHosts))
		})
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	g := NewWithT(t)
	e, err := Lookup(Public)
	g.Expect(err).NotTo(HaveOccurred())
	e.ServiceHosts[0] = "evil.example"
	again, err := Lookup(Public)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.ServiceHosts).To(Equal([]string{"smba.trafficmanager.net"}))
}

func TestWithOverrides(t *testing.T) {
	tests := map[string]struct {
		authority, graph, bot string
		wantAuthority         string
		wantGraph             string
		wantServiceURL        string
		wantHosts             []string
		wantErr               string
	}{
		"none keeps the cloud": {
			wantAuthority: "https://login.microsoftonline.com/", wantGraph: "https://graph.microsoft.com",
			wantServiceURL: "https://smba.trafficmanager.net/teams/", wantHosts: []string{"smba.trafficmanager.net"},
		},
		"emulator on a loopback port": {
			authority: "https://127.0.0.1:8443", graph: "https://127.0.0.1:8443/", bot: "https://127.0.0.1:8443/teams",
			wantAuthority: "https://127.0.0.1:8443/", wantGraph: "https://127.0.0.1:8443",
			wantServiceURL: "https://127.0.0.1:8443/teams/",
			wantHosts:      []string{"smba.trafficmanager.net", "127.0.0.1:8443"},
		},
		"port 443 is dropped and the host lower-cased": {
			bot:            "https://Proxy.Example.COM:443/teams/",
			wantAuthority:  "https://login.microsoftonline.com/",
			wantGraph:      "https://graph.microsoft.com",
			wantServiceURL: "https://Proxy.Example.COM:443/teams/",
			wantHosts:      []string{"smba.trafficmanager.net", "proxy.example.com"},
		},
		"the cloud's own host is not duplicated": {
			bot:            "https://smba.trafficmanager.net/amer/",
			wantAuthority:  "https://login.microsoftonline.com/",
			wantGraph:      "https://graph.microsoft.com",
			wantServiceURL: "https://smba.trafficmanager.net/amer/",
			wantHosts:      []string{"smba.trafficmanager.net"},
		},
		"http authority":       {authority: "http://127.0.0.1:8443/", wantErr: `authority host "http://127.0.0.1:8443/" must be an absolute https URL`},
		"relative graph":       {graph: "/v1.0", wantErr: `Graph endpoint "/v1.0" must be an absolute https URL`},
		"authority with path":  {authority: "https://login.example/tenant", wantErr: "must not have a path"},
		"no host":              {bot: "https:///teams/", wantErr: "has no host"},
		"query":                {graph: "https://graph.example/?sig=abc", wantErr: "Graph endpoint must not have a query or fragment"},
		"user info not echoed": {bot: "http://user:hunter2@host.example/", wantErr: "bot service URL must not contain user info"},
		"not a URL":            {authority: "https://[::1", wantErr: "authority host is not a valid URL"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			base, err := Lookup(Public)
			g.Expect(err).NotTo(HaveOccurred())
			e, err := base.WithOverrides(tc.authority, tc.graph, tc.bot)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(err.Error()).NotTo(ContainSubstring("hunter2"))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.AuthorityHost).To(Equal(tc.wantAuthority))
			g.Expect(e.GraphEndpoint).To(Equal(tc.wantGraph))
			g.Expect(e.DefaultServiceURL).To(Equal(tc.wantServiceURL))
			g.Expect(e.ServiceHosts).To(Equal(tc.wantHosts))
			// Overrides move requests, never token audiences.
			g.Expect(e.GraphScope).To(Equal(base.GraphScope))
			g.Expect(e.BotScope).To(Equal(base.BotScope))
			g.Expect(e.BotLegacyTenant).To(Equal(base.BotLegacyTenant))
			g.Expect(base.ServiceHosts).To(Equal([]string{"smba.trafficmanager.net"}), "the receiver is not modified")
		})
	}
}

func TestChinaNeedsABotServiceURLOverride(t *testing.T) {
	g := NewWithT(t)
	e, err := Lookup(China)
	g.Expect(err).NotTo(HaveOccurred())
	e, err = e.WithOverrides("", "", "https://smba.example.cn/teams/")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.DefaultServiceURL).To(Equal("https://smba.example.cn/teams/"))
	g.Expect(e.ServiceHosts).To(Equal([]string{"smba.example.cn"}))
}

func TestCanonicalHost(t *testing.T) {
	tests := map[string]string{
		"https://A.example/":          "a.example",
		"https://a.example:443/":      "a.example",
		"https://a.example:8443/":     "a.example:8443",
		"https://[::1]:8443/":         "[::1]:8443",
		"https://[::1]/":              "[::1]",
		"https://127.0.0.1:1234/x?y":  "127.0.0.1:1234",
		"https://user@a.example:1/x/": "a.example:1",
	}
	for raw, want := range tests {
		t.Run(raw, func(t *testing.T) {
			g := NewWithT(t)
			u, err := url.Parse(raw)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(CanonicalHost(u)).To(Equal(want))
		})
	}
}
