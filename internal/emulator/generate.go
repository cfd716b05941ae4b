package emulator

import (
	"fmt"

	"github.com/google/uuid"
)

// Ids of the generated large tenant (GenerateSeed): all in the default tenant.
const (
	// GeneratedTeamID is the "All hands" team: every generated user but the not-installed
	// ones, with the default bot's app installed, so the bot reaches each member and may
	// page its roster.
	GeneratedTeamID        = "6a0e5b0c-3f1d-4f55-9c55-2b8d6c1e7a10"
	GeneratedGeneralID     = "19:a11ha0d5e0b84c6f9a2d3e4f5a6b7c8d@thread.tacv2"
	GeneratedTeamName      = "All hands"
	GeneratedGroupID       = "3c9b2a1d-6e5f-4a7b-8c9d-0e1f2a3b4c5d"
	GeneratedGroupEvenID   = "4d0c3b2e-7f6a-4b8c-9d0e-1f2a3b4c5d6e"
	GeneratedGroupOddID    = "5e1d4c3f-8a7b-4c9d-8e1f-2a3b4c5d6e7f"
	generatedUserNamespace = "teams-emulator/generated-user"
)

// GenerateOptions shape GenerateSeed's tenant. Zero values take the defaults.
type GenerateOptions struct {
	// Users is how many users to generate.
	Users int
	// BlockedEvery: every n-th user has blocked the bot (default 500; negative: none).
	BlockedEvery int
	// NotInstalledEvery: every n-th user has no personal installation of the default app and
	// is not in the team (default 200; negative: none). The others have it installed.
	NotInstalledEvery int
	// GuestEvery: every n-th team member is a guest (default 100; negative: none).
	GuestEvery int
}

func (o *GenerateOptions) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.BlockedEvery, 500)
	def(&o.NotInstalledEvery, 200)
	def(&o.GuestEvery, 100)
}

func every(i, n int) bool { return n > 0 && i%n == n-1 }

// GeneratedUserID is the object id of generated user i (0-based).
func GeneratedUserID(i int) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", generatedUserNamespace, i)).String()
}

// GeneratedUserUPN is the user principal name of generated user i.
func GeneratedUserUPN(i int) string { return fmt.Sprintf("user%06d@%s", i, DefaultTenantDomain) }

// GeneratedUser says what GenerateSeed made of user i.
type GeneratedUser struct {
	ID, UPN                       string
	Blocked, NotInstalled, InTeam bool
	Guest, EvenGroup, OddGroup    bool
}

// Generated describes user i of a seed generated with o.
func (o GenerateOptions) Generated(i int) GeneratedUser {
	o.defaults()
	u := GeneratedUser{ID: GeneratedUserID(i), UPN: GeneratedUserUPN(i), Blocked: every(i, o.BlockedEvery),
		NotInstalled: every(i, o.NotInstalledEvery), EvenGroup: i%2 == 0, OddGroup: i%2 == 1}
	u.InTeam = !u.NotInstalled
	u.Guest = u.InTeam && every(i, o.GuestEvery)
	return u
}

// GenerateSeed is DefaultSeed plus a large organisation in the default tenant: o.Users users
// (GeneratedUserID), some of whom blocked the bot or lack its app, the "All hands" team
// (GeneratedTeamID, the app installed, some members guests) and the group GeneratedGroupID,
// whose members are the nested groups of even and odd users (a transitive audience).
func GenerateSeed(o GenerateOptions) *Seed {
	s := DefaultSeed()
	g := GeneratedTenant(o)
	t := &s.Tenants[0]
	t.Users = append(t.Users, g.Users...)
	t.Teams = append(t.Teams, g.Teams...)
	t.Groups = append(t.Groups, g.Groups...)
	return s
}

// GeneratedTenant is only what GenerateSeed adds to the default tenant, to merge into a running
// emulator (Emulator.MergeSeed) that has the default seed.
func GeneratedTenant(o GenerateOptions) TenantSeed {
	o.defaults()
	t := &TenantSeed{ID: DefaultTenantID}
	team := TeamSeed{ID: GeneratedTeamID, DisplayName: GeneratedTeamName, GeneralChannelID: GeneratedGeneralID,
		InstalledApps: []string{DefaultTeamsAppID}}
	even := GroupSeed{ID: GeneratedGroupEvenID, DisplayName: "Even"}
	odd := GroupSeed{ID: GeneratedGroupOddID, DisplayName: "Odd"}
	for i := range o.Users {
		g := o.Generated(i)
		u := UserSeed{ID: g.ID, UserPrincipalName: g.UPN, DisplayName: fmt.Sprintf("User %06d", i), BlockedBot: g.Blocked}
		if !g.NotInstalled {
			u.InstalledApps = []string{DefaultTeamsAppID}
		}
		t.Users = append(t.Users, u)
		if g.InTeam {
			team.Members = append(team.Members, g.ID)
		}
		if g.Guest {
			team.Guests = append(team.Guests, g.ID)
		}
		if g.EvenGroup {
			even.Members = append(even.Members, g.ID)
		} else {
			odd.Members = append(odd.Members, g.ID)
		}
	}
	t.Teams = append(t.Teams, team)
	t.Groups = append(t.Groups, even, odd, GroupSeed{ID: GeneratedGroupID, DisplayName: "All staff",
		Groups: []string{GeneratedGroupEvenID, GeneratedGroupOddID}})
	return *t
}
