package botendpoint

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
)

// TestInstallChanges: which activities are installs or removals of the recipient bot, and which
// objects they concern, in each scope.
func TestInstallChanges(t *testing.T) {
	g := NewWithT(t)
	bot := botframework.ChannelAccount{ID: "28:" + testBot}
	team := &ChannelData{Team: &TeamInfo{ID: "19:general@thread.tacv2", AADGroupID: "TEAM-GUID"}}
	cases := []struct {
		name  string
		a     Activity
		ok    bool
		added bool
		scope string
	}{
		{"personal install", Activity{Type: TypeInstallationUpdate, Action: "add", Conversation: Conversation{ConversationType: "personal"},
			From: botframework.ChannelAccount{AADObjectID: "USER"}}, true, true, "user"},
		{"team removal", Activity{Type: TypeConversationUpdate, MembersRemoved: []botframework.ChannelAccount{bot},
			Conversation: Conversation{ConversationType: "channel"}, ChannelData: team}, true, false, "team"},
		{"chat install", Activity{Type: TypeConversationUpdate, MembersAdded: []botframework.ChannelAccount{bot},
			Conversation: Conversation{ID: "19:chat@thread.v2", ConversationType: "groupChat"}}, true, true, "chat"},
		{"someone else joined", Activity{Type: TypeConversationUpdate, MembersAdded: []botframework.ChannelAccount{{ID: "29:x"}},
			Conversation: Conversation{ConversationType: "groupChat"}}, false, false, ""},
		{"a message", Activity{Type: TypeMessage, Conversation: Conversation{ConversationType: "personal"}}, false, false, ""},
		{"unknown action", Activity{Type: TypeInstallationUpdate, Action: "rename", Conversation: Conversation{ConversationType: "personal"}},
			false, false, ""},
	}
	for _, tc := range cases {
		tc.a.Recipient = bot
		ch, ok := changeOf(&tc.a)
		g.Expect(ok).To(Equal(tc.ok), tc.name)
		if ok {
			g.Expect(ch.added).To(Equal(tc.added), tc.name)
			g.Expect(ch.scope).To(Equal(tc.scope), tc.name)
		}
	}

	teamChange := installChange{scope: "team", teamID: "team-guid"}
	g.Expect(teamChange.matchesInstallation(&teamsv1alpha1.TeamsAppInstallation{Spec: teamsv1alpha1.TeamsAppInstallationSpec{
		Scope: teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: "TEAM-GUID"}}}})).To(BeTrue())
	g.Expect(teamChange.matchesInstallation(&teamsv1alpha1.TeamsAppInstallation{Spec: teamsv1alpha1.TeamsAppInstallationSpec{
		Scope: teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: "OTHER"}}}})).To(BeFalse())
	g.Expect(teamChange.matchesTarget(&teamsv1alpha1.ConversationTarget{Spec: teamsv1alpha1.ConversationTargetSpec{
		Channel: &teamsv1alpha1.ChannelTarget{TeamID: "team-guid"}}})).To(BeTrue())
	chatChange := installChange{scope: "chat", chatID: "19:chat@thread.v2"}
	g.Expect(chatChange.matchesTarget(&teamsv1alpha1.ConversationTarget{Spec: teamsv1alpha1.ConversationTargetSpec{
		Chat: &teamsv1alpha1.ChatTarget{ID: "19:chat@thread.v2"}}})).To(BeTrue())
	g.Expect(chatChange.matchesTarget(&teamsv1alpha1.ConversationTarget{Spec: teamsv1alpha1.ConversationTargetSpec{
		User: &teamsv1alpha1.UserTarget{ID: "x"}}})).To(BeFalse())
	userChange := installChange{scope: "user", userObjectID: "user-guid"}
	readyUPN := &teamsv1alpha1.ConversationTarget{Spec: teamsv1alpha1.ConversationTargetSpec{
		User: &teamsv1alpha1.UserTarget{UserPrincipalName: "a@b.c"}},
		Status: teamsv1alpha1.ConversationTargetStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue}}}}
	g.Expect(userChange.matchesTarget(readyUPN)).To(BeFalse(), "a Ready UPN target is someone else's chat")
}
