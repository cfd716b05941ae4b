package controller

import (
	"os"
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// documentedAppPermissions are the Graph application permissions the operator may name, each as
// listed in the "Permissions" table of the page of the call that needs it.
var documentedAppPermissions = map[string]string{
	"AppCatalog.Read.All":                                     "appcatalogs-list-teamsapps",
	"User.Read.All":                                           "user-get",
	"Channel.ReadBasic.All":                                   "team-get-primarychannel",
	"TeamsAppInstallation.ReadForTeam.All":                    "team-list-installedapps",
	"TeamsAppInstallation.ReadForChat.All":                    "chat-list-installedapps",
	"TeamsAppInstallation.ReadForUser.All":                    "userteamwork-list-installedapps",
	"TeamsAppInstallation.ReadWriteSelfForTeam.All":           "team-post-installedapps",
	"TeamsAppInstallation.ReadWriteSelfForUser.All":           "userteamwork-post-installedapps",
	"TeamsAppInstallation.ReadWriteSelfForChat.All":           "chat-post-installedapps",
	"TeamsAppInstallation.ReadWriteForTeam.All":               "team-post-installedapps",
	"TeamsAppInstallation.ReadWriteForUser.All":               "userteamwork-post-installedapps",
	"TeamsAppInstallation.ReadWriteForChat.All":               "chat-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All": "team-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All": "userteamwork-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All": "chat-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentForTeam.All":     "team-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentForUser.All":     "userteamwork-post-installedapps",
	"TeamsAppInstallation.ReadWriteAndConsentForChat.All":     "chat-post-installedapps",
	"GroupMember.Read.All":                                    "group-list-transitivemembers",
	"TeamMember.Read.All":                                     "team-list-members",
}

var permissionRE = regexp.MustCompile(`\b[A-Z][A-Za-z]+\.[A-Za-z.]+\.All\b`)

// Every permission a condition message or the install guide names exists in the permissions
// table of the API page of the call (issue 13, item 7).
func TestNamedPermissionsExist(t *testing.T) {
	g := NewWithT(t)
	named := []string{targetPermUserRead, targetPermChannelRead, targetPermTeamInstallRead, targetPermChatInstallRead}
	for _, op := range []string{"getCatalogApp", "getUser", "installApp", "listInstalledApps", "upgradeApp", "getInstallationChat"} {
		for _, kind := range []graph.ScopeKind{graph.ScopeTeam, graph.ScopeUser, graph.ScopeChat} {
			named = append(named, taiRequiredPermission(op, kind, false), taiRequiredPermission(op, kind, true))
		}
	}
	for _, doc := range []string{"../../docs/install.md", "../../docs/usage.md", "../../docs/troubleshooting.md"} {
		b, err := os.ReadFile(doc)
		g.Expect(err).NotTo(HaveOccurred())
		named = append(named, string(b))
	}
	for _, text := range named {
		for _, p := range permissionRE.FindAllString(text, -1) {
			g.Expect(documentedAppPermissions).To(HaveKey(p), "%q names %s", text[:min(len(text), 80)], p)
		}
	}
}

// A missing permission is looked at soon, then at growing intervals (issue 13, item 6).
func TestExternalRecheckGrowsForAMissingPermission(t *testing.T) {
	g := NewWithT(t)
	denied := outcome.StallExternal(teamsv1alpha1.PermissionDeniedReason, "grant it")
	target := &teamsv1alpha1.ConversationTarget{}
	g.Expect(externalRecheck(target, denied, time.Hour)).To(Equal(permissionRecheckMin), "first denial")
	for _, c := range []struct{ since, want time.Duration }{
		{time.Second, permissionRecheckMin}, {time.Minute, time.Minute}, {4 * time.Minute, 4 * time.Minute},
		{time.Hour, permissionRecheckMax},
	} {
		target.Status.Conditions = []metav1.Condition{{Type: teamsv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: teamsv1alpha1.PermissionDeniedReason, LastTransitionTime: metav1.NewTime(time.Now().Add(-c.since))}}
		g.Expect(externalRecheck(target, denied, time.Hour)).To(BeNumerically("~", c.want, time.Second))
	}
	g.Expect(externalRecheck(target, outcome.StallExternal(teamsv1alpha1.AppNotFoundReason, "x"), time.Hour)).
		To(Equal(time.Hour), "other stalls keep their recheck")
}
