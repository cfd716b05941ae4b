package controller

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// What a national cloud's Graph lacks is refused before any call (issue 13, item 3): the Fake
// Graph answers every call with an error, so a call would show as another outcome.
func TestNationalCloudRefusesBeforeAnyCall(t *testing.T) {
	lookup := func(n cloud.Name) cloud.Endpoints {
		e, err := cloud.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	user := teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: "u"}}
	team := teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: "t"}}
	chat := teamsv1alpha1.InstallationScope{Chat: &teamsv1alpha1.ChatScope{ID: "19:c@thread.v2"}}
	installs := []struct {
		cloud   cloud.Name
		scope   teamsv1alpha1.InstallationScope
		refused bool
	}{
		{cloud.Public, user, false}, {cloud.USGovGCC, user, false},
		{cloud.USGovGCCHigh, user, true}, {cloud.USGovDoD, user, true},
		{cloud.USGovGCCHigh, team, false}, {cloud.USGovDoD, chat, false},
		{cloud.China, team, true}, {cloud.China, user, true}, {cloud.China, chat, true},
	}
	for _, tc := range installs {
		g := NewWithT(t)
		s := &taiScope{obj: &teamsv1alpha1.TeamsAppInstallation{Spec: teamsv1alpha1.TeamsAppInstallationSpec{Scope: tc.scope}},
			clients: &Clients{Graph: &graph.Fake{}, Cloud: lookup(tc.cloud)}}
		err := taiCloudSupports(s)
		if !tc.refused {
			g.Expect(err).NotTo(HaveOccurred(), "%s %+v", tc.cloud, tc.scope)
			continue
		}
		o, ok := outcome.As(err)
		g.Expect(ok).To(BeTrue(), "%s", tc.cloud)
		g.Expect(o.Kind).To(Equal(outcome.Stalled))
		g.Expect(o.Reason).To(Equal(teamsv1alpha1.NotSupportedInCloudReason))
		g.Expect(o.Message).To(ContainSubstring("spec."), "names what to use instead")
	}

	for _, tc := range []struct {
		cloud   cloud.Name
		spec    teamsv1alpha1.ConversationTargetSpec
		refused bool
	}{
		{cloud.China, teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{TeamID: "t"}}, true},
		{cloud.China, teamsv1alpha1.ConversationTargetSpec{Chat: &teamsv1alpha1.ChatTarget{ID: "19:c@thread.v2"}}, true},
		{cloud.USGovGCCHigh, teamsv1alpha1.ConversationTargetSpec{Chat: &teamsv1alpha1.ChatTarget{ID: "19:c@thread.v2"}}, false},
	} {
		g := NewWithT(t)
		s := &targetScope{target: &teamsv1alpha1.ConversationTarget{Spec: tc.spec},
			clients: &Clients{Graph: &graph.Fake{}, Cloud: lookup(tc.cloud)}}
		err := (&ConversationTargetReconciler{}).resolve(context.Background(), s)
		o, ok := outcome.As(err)
		if !tc.refused {
			g.Expect(ok && o.Reason == teamsv1alpha1.NotSupportedInCloudReason).To(BeFalse())
			continue
		}
		g.Expect(ok).To(BeTrue())
		g.Expect(o.Reason).To(Equal(teamsv1alpha1.NotSupportedInCloudReason))
		g.Expect(o.Message).To(ContainSubstring("spec.conversation"))
	}
}
