package emulator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

func TestLoadSeedYAMLAndJSON(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	y, err := yaml.Marshal(DefaultSeed())
	g.Expect(err).NotTo(HaveOccurred())
	j, err := json.Marshal(DefaultSeed())
	g.Expect(err).NotTo(HaveOccurred())
	for name, b := range map[string][]byte{"seed.yaml": y, "seed.json": j} {
		p := filepath.Join(dir, name)
		g.Expect(os.WriteFile(p, b, 0o600)).To(Succeed())
		s, err := LoadSeed(p)
		g.Expect(err).NotTo(HaveOccurred(), name)
		g.Expect(s).To(Equal(DefaultSeed()), name)
	}
	_, err = LoadSeed(filepath.Join(dir, "missing.yaml"))
	g.Expect(err).To(HaveOccurred())
}

func TestSeedValidation(t *testing.T) {
	tests := map[string]struct {
		seed string
		want string
	}{
		"tenant id":                          {seed: `tenants: [{id: contoso}]`, want: `tenants[0].id "contoso" is not a GUID`},
		"unknown field":                      {seed: `tenants: [{id: ` + DefaultTenantID + `, colour: blue}]`, want: `unknown field "colour"`},
		"duplicate user":                     {seed: `tenants: [{id: ` + DefaultTenantID + `, users: [{id: ` + DefaultUserAdeleID + `, userPrincipalName: a}, {id: ` + DefaultUserAdeleID + `, userPrincipalName: b}]}]`, want: "duplicate user"},
		"channel id":                         {seed: `tenants: [{id: ` + DefaultTenantID + `, teams: [{id: ` + DefaultTeamID + `, displayName: x, generalChannelId: general}]}]`, want: "is not 19:…@thread.tacv2"},
		"channel type":                       {seed: `tenants: [{id: ` + DefaultTenantID + `, teams: [{id: ` + DefaultTeamID + `, displayName: x, generalChannelId: "` + DefaultGeneralChannelID + `", channels: [{id: "` + DefaultAlertsChannelID + `", displayName: a, membershipType: secret}]}]}]`, want: `membershipType "secret"`},
		"enabled apps of a standard channel": {seed: `tenants: [{id: ` + DefaultTenantID + `, teams: [{id: ` + DefaultTeamID + `, displayName: x, generalChannelId: "` + DefaultGeneralChannelID + `", channels: [{id: "` + DefaultAlertsChannelID + `", displayName: a, enabledApps: [x]}]}]}]`, want: "enabledApps is for private and shared channels"},
		"enabled app not in the catalog":     {seed: `tenants: [{id: ` + DefaultTenantID + `, teams: [{id: ` + DefaultTeamID + `, displayName: x, generalChannelId: "` + DefaultGeneralChannelID + `", channels: [{id: "` + DefaultAlertsChannelID + `", displayName: a, membershipType: shared, enabledApps: [x]}]}]}]`, want: "enabled app x is not in the catalog"},
		"chat id":                            {seed: `tenants: [{id: ` + DefaultTenantID + `, chats: [{id: "19:x@thread.tacv2"}]}]`, want: "is not 19:…@thread.v2"},
		"certificate":                        {seed: `tenants: [{id: ` + DefaultTenantID + `, apps: [{clientId: ` + DefaultBotAppID + `, certificates: [nope]}]}]`, want: "not a PEM CERTIFICATE block"},
		"distribution":                       {seed: `tenants: [{id: ` + DefaultTenantID + `, catalog: [{id: a, displayName: A, distributionMethod: shop}]}]`, want: `distributionMethod "shop"`},
		"federated":                          {seed: `tenants: [{id: ` + DefaultTenantID + `, apps: [{clientId: ` + DefaultBotAppID + `, federatedCredentials: [{issuer: x}]}]}]`, want: "needs issuer and subject"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := ParseSeed([]byte(tc.seed))
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}

	t.Run("references are checked on merge, all or nothing", func(t *testing.T) {
		g := NewWithT(t)
		e, err := New(nil, Options{})
		g.Expect(err).NotTo(HaveOccurred())
		bad := &Seed{Tenants: []TenantSeed{{ID: DefaultTenantID,
			Users: []UserSeed{{ID: "c2fe1860-2489-4334-bb7f-66225f9c0a99", UserPrincipalName: "new@x", InstalledApps: []string{"nope"}}},
		}}}
		g.Expect(e.MergeSeed(bad)).To(MatchError(ContainSubstring("installed app nope is not in the catalog")))
		g.Expect(e.State().Tenants[0].Users).To(HaveLen(5))
		_, err = New(&Seed{Tenants: []TenantSeed{{ID: DefaultTenantID, Teams: []TeamSeed{{
			ID: DefaultTeamID, DisplayName: "x", GeneralChannelID: DefaultGeneralChannelID, Members: []string{DefaultUserAdeleID},
		}}}}}, Options{})
		g.Expect(err).To(MatchError(ContainSubstring("is not a user of the tenant")))
	})
}
