package graph

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// TestCheckMemberGroupsWithEmulator: a team's members are members of its Microsoft 365 group;
// others are not; the notifier app, without GroupMember.Read.All, is refused.
func TestCheckMemberGroupsWithEmulator(t *testing.T) {
	g := NewWithT(t)
	env := startEmulator(t, emulator.Options{})
	ctx := context.Background()
	other := "11111111-2222-3333-4444-555555555555"

	got, err := env.client.CheckMemberGroups(ctx, emulator.DefaultUserAdeleID, []string{other, emulator.DefaultTeamID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]string{emulator.DefaultTeamID}))
	got, err = env.client.CheckMemberGroups(ctx, emulator.DefaultUserDiegoID, []string{emulator.DefaultTeamID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeEmpty())

	_, err = env.client.CheckMemberGroups(ctx, "00000000-0000-0000-0000-000000000099", []string{emulator.DefaultTeamID})
	g.Expect(msapi.IsNotFound(err)).To(BeTrue(), "%v", err)
	_, err = env.client.CheckMemberGroups(ctx, emulator.DefaultUserAdeleID, make([]string, 21))
	g.Expect(err).To(MatchError(msapi.ErrInvalidArgument))

	ts := env.tokens(graphScope)
	ts.ClientID, ts.Secret = emulator.DefaultNotifierAppID, emulator.DefaultNotifierSecret
	notifier, err := New(Options{Endpoint: env.srv.URL, HTTPClient: env.hc, Tokens: ts})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = notifier.CheckMemberGroups(ctx, emulator.DefaultUserAdeleID, []string{emulator.DefaultTeamID})
	g.Expect(msapi.IsForbidden(err)).To(BeTrue(), "%v", err)
}
