package controller_test

import (
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// Helpers of the TeamsAppInstallation specs. Each spec gets its own world in the shared
// emulator: its own bot app registration (with its own secret and Graph roles), its own
// catalog app whose bot is that registration, and its own team, user and chat. So revoking
// a role or uninstalling an app never touches what other specs use.

const taiSecretName = "tai-credentials"

type taiWorld struct {
	setup                  taiSetup
	ns                     string
	clientID, secret       string
	teamsAppID, externalID string
	teamID, userID, upn    string
	chatID                 string
	// privateID and sharedID are the team's private and shared channels (no app added).
	privateID, sharedID string
}

// taiSetup is one of the two tenant setups the docs allow (reference 1.4): an app whose manifest
// has webApplicationInfo (id = the bot's Entra app) granted the "Self" permissions, or an app
// without webApplicationInfo granted the broader ones.
type taiSetup struct {
	name    string
	selfApp bool
	roles   []string
}

var (
	taiSelfSetup  = taiSetup{name: "webApplicationInfo and the Self permissions", selfApp: true, roles: emulator.DefaultGraphRoles}
	taiBroadSetup = taiSetup{name: "no webApplicationInfo and the broader permissions", roles: emulator.DefaultNotifierGraphRoles}
)

func newTAIWorld() *taiWorld { return newTAIWorldFor(taiSelfSetup) }

// catalogApp is the world's Teams app at a version.
func (w *taiWorld) catalogApp(version string, rsc ...emulator.RSCPermission) emulator.CatalogAppSeed {
	app := emulator.CatalogAppSeed{
		ID: w.teamsAppID, ExternalID: w.externalID, DisplayName: "TAI app " + w.teamsAppID[:8],
		Version: version, BotID: w.clientID, RSCPermissions: rsc,
	}
	if w.setup.selfApp {
		app.WebApplicationInfoID = w.clientID
	}
	return app
}

func newTAIWorldFor(setup taiSetup) *taiWorld {
	hex := func() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }
	w := &taiWorld{
		setup:    setup,
		ns:       newNamespace(),
		clientID: uuid.NewString(), secret: "tai-secret-" + hex(),
		teamsAppID: uuid.NewString(), externalID: uuid.NewString(),
		teamID: uuid.NewString(), userID: uuid.NewString(),
		chatID:    "19:" + hex() + "@thread.v2",
		privateID: "19:" + hex() + "@thread.tacv2", sharedID: "19:" + hex() + "@thread.tacv2",
	}
	w.upn = "tai-" + w.userID[:8] + "@" + emulator.DefaultTenantDomain
	Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID: emulator.DefaultTenantID,
		Apps: []emulator.AppSeed{{
			ClientID: w.clientID, DisplayName: "TAI bot " + w.clientID[:8], Bot: true, Secrets: []string{w.secret},
			GraphRoles: append([]string(nil), setup.roles...),
		}},
		Catalog: []emulator.CatalogAppSeed{w.catalogApp("1.0.0")},
		Users:   []emulator.UserSeed{{ID: w.userID, UserPrincipalName: w.upn, DisplayName: "TAI " + w.userID[:8]}},
		Teams: []emulator.TeamSeed{{
			ID: w.teamID, DisplayName: "TAI " + w.teamID[:8], GeneralChannelID: "19:" + hex() + "@thread.tacv2",
			Members: []string{w.userID},
			Channels: []emulator.ChannelSeed{
				{ID: w.privateID, DisplayName: "private", MembershipType: emulator.ChannelPrivate},
				{ID: w.sharedID, DisplayName: "shared", MembershipType: emulator.ChannelShared},
			},
		}},
		Chats: []emulator.ChatSeed{{ID: w.chatID, Topic: "TAI", Members: []string{w.userID}}},
	}}})).To(Succeed())
	return w
}

// credentials creates the Secret of the world's bot app.
func (w *taiWorld) credentials() *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: taiSecretName},
		StringData: map[string]string{
			"tenantId": emulator.DefaultTenantID, "clientId": w.clientID, "clientSecret": w.secret,
		},
	}
	Expect(k8sClient.Create(ctx, s)).To(Succeed())
	return s
}

// publish makes version the catalog app's published version.
func (w *taiWorld) publish(version string) {
	Expect(emu.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID:      emulator.DefaultTenantID,
		Catalog: []emulator.CatalogAppSeed{w.catalogApp(version)},
	}}})).To(Succeed())
}

func (w *taiWorld) teamScope() teamsv1alpha1.InstallationScope {
	return teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: w.teamID}}
}

// create creates a TeamsAppInstallation of the world's app (by externalId) in its team,
// with its credentials; mutate adjusts the spec first.
func (w *taiWorld) create(name string, mutate func(*teamsv1alpha1.TeamsAppInstallationSpec)) client.ObjectKey {
	obj := &teamsv1alpha1.TeamsAppInstallation{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: teamsv1alpha1.TeamsAppInstallationSpec{
			App:            teamsv1alpha1.TeamsAppReference{ExternalID: w.externalID},
			Scope:          w.teamScope(),
			CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: taiSecretName},
		},
	}
	if mutate != nil {
		mutate(&obj.Spec)
	}
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	// Deleting stops the object's drift checks, which would otherwise load the shared
	// emulator for the rest of the suite.
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed()) })
	return client.ObjectKeyFromObject(obj)
}

// teamInstalls returns the apps installed in the world's team, as the emulator holds them.
func (w *taiWorld) teamInstalls() []emulator.InstallState {
	for _, t := range emu.State().Tenants {
		for _, tm := range t.Teams {
			if tm.ID == w.teamID {
				return tm.InstalledApps
			}
		}
	}
	return nil
}

func (w *taiWorld) userInstalls() []emulator.InstallState {
	for _, t := range emu.State().Tenants {
		for _, u := range t.Users {
			if u.ID == w.userID {
				return u.InstalledApps
			}
		}
	}
	return nil
}

func (w *taiWorld) chatInstalls() []emulator.InstallState {
	for _, t := range emu.State().Tenants {
		for _, c := range t.Chats {
			if c.ID == w.chatID {
				return c.InstalledApps
			}
		}
	}
	return nil
}

// taiRequests returns the journal entries of one Graph operation whose path contains s.
func taiRequests(operation, s string) []emulator.JournalEntry {
	var out []emulator.JournalEntry
	for _, e := range emu.Requests() {
		if e.Operation == operation && strings.Contains(e.Path, s) {
			out = append(out, e)
		}
	}
	return out
}

// taiEventually waits until Ready has this status and reason for the current generation.
func taiEventually(key client.ObjectKey, ready metav1.ConditionStatus, reason string) *teamsv1alpha1.TeamsAppInstallation {
	obj := &teamsv1alpha1.TeamsAppInstallation{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, obj)).To(Succeed())
		c := meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(c.Status).To(Equal(ready), c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(obj.Generation))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return obj
}

// taiReady waits for Ready=True/Installed and checks the kstatus contract that
// `kubectl wait --for=condition=Ready` and GitOps health checks rely on.
func taiReady(key client.ObjectKey) *teamsv1alpha1.TeamsAppInstallation {
	obj := taiEventually(key, metav1.ConditionTrue, teamsv1alpha1.InstalledReason)
	Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
	Expect(meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeNil())
	Expect(meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(BeNil())
	return obj
}

func taiStalled(key client.ObjectKey, reason string) *teamsv1alpha1.TeamsAppInstallation {
	obj := taiEventually(key, metav1.ConditionFalse, reason)
	Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
	Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
	return obj
}

func taiMessage(obj *teamsv1alpha1.TeamsAppInstallation) string {
	return meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition).Message
}

// taiEvents returns "Type/Reason" of the events recorded about one TeamsAppInstallation.
func taiEvents(g Gomega, key client.ObjectKey) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(key.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "TeamsAppInstallation" && e.Regarding.Name == key.Name {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

func taiDelete(key client.ObjectKey) {
	obj := &teamsv1alpha1.TeamsAppInstallation{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, key, &teamsv1alpha1.TeamsAppInstallation{}))
	}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the object is deleted")
}

var _ = Describe("TeamsAppInstallation", func() {
	var w *taiWorld

	BeforeEach(func() {
		w = newTAIWorld()
	})

	Context("installing", func() {
		BeforeEach(func() { w.credentials() })

		It("installs in a team by externalId and records the ids", func() {
			key := w.create("team", nil)

			obj := taiReady(key)
			Expect(obj.Status.TeamsAppID).To(Equal(w.teamsAppID), "externalId resolved to the catalog id")
			Expect(obj.Status.Version).To(Equal("1.0.0"))
			Expect(taiMessage(obj)).To(Equal("Installed in team " + w.teamID + ", version 1.0.0"))
			Expect(obj.Finalizers).To(ContainElement(teamsv1alpha1.Finalizer))
			installs := w.teamInstalls()
			Expect(installs).To(HaveLen(1))
			Expect(installs[0].TeamsAppID).To(Equal(w.teamsAppID))
			Expect(obj.Status.InstallationID).To(Equal(installs[0].ID))
			Expect(obj.Status.ChatID).To(BeEmpty(), "a team has no single chat")
			Expect(taiRequests("installApp", w.teamID)).To(HaveLen(1))
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElement("Normal/Installed"))
		})

		It("installs for a user named by UPN and records the user's chat with the bot", func() {
			key := w.create("user", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.Scope = teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{UserPrincipalName: w.upn}}
			})

			obj := taiReady(key)
			Expect(obj.Status.UserID).To(Equal(w.userID), "UPN resolved to the object id")
			Expect(obj.Status.ChatID).To(Equal(emulator.PersonalChatID(w.clientID, w.userID)))
			installs := w.userInstalls()
			Expect(installs).To(HaveLen(1))
			Expect(obj.Status.InstallationID).To(Equal(installs[0].ID))
			Expect(taiMessage(obj)).To(ContainSubstring("user " + w.upn))
		})

		It("installs in a group chat and records the chat as the conversation", func() {
			key := w.create("chat", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.App = teamsv1alpha1.TeamsAppReference{TeamsAppID: w.teamsAppID}
				s.Scope = teamsv1alpha1.InstallationScope{Chat: &teamsv1alpha1.ChatScope{ID: w.chatID}}
			})

			obj := taiReady(key)
			Expect(obj.Status.ChatID).To(Equal(w.chatID))
			installs := w.chatInstalls()
			Expect(installs).To(HaveLen(1))
			Expect(obj.Status.InstallationID).To(Equal(installs[0].ID))
		})

		It("adopts an installation that already exists without installing again", func() {
			id, err := emu.Install(emulator.ScopeTeam, w.teamID, w.teamsAppID)
			Expect(err).NotTo(HaveOccurred())

			key := w.create("adopt", nil)

			obj := taiReady(key)
			Expect(obj.Status.InstallationID).To(Equal(id))
			Expect(taiRequests("installApp", w.teamID)).To(BeEmpty(), "no POST install for an adopted app")
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElement("Normal/Adopted"))
		})

		It("upgrades to the catalog's new version at the next check", func() {
			key := w.create("upgrade", nil)
			taiReady(key)

			w.publish("1.1.0")

			Eventually(func(g Gomega) {
				obj := &teamsv1alpha1.TeamsAppInstallation{}
				g.Expect(k8sClient.Get(ctx, key, obj)).To(Succeed())
				g.Expect(obj.Status.Version).To(Equal("1.1.0"))
				g.Expect(taiMessage(obj)).To(HaveSuffix("version 1.1.0"))
			}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
			Expect(w.teamInstalls()).To(ConsistOf(HaveField("Version", "1.1.0")))
			Expect(taiRequests("upgradeApp", w.teamID)).To(HaveLen(1))
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElement("Normal/Upgraded"))
		})

		It("never upgrades with upgradePolicy Manual", func() {
			key := w.create("manual", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.UpgradePolicy = teamsv1alpha1.UpgradePolicyManual
			})
			taiReady(key)
			w.publish("2.0.0")
			checks := len(taiRequests("listInstalledApps", w.teamID))

			Consistently(func(g Gomega) {
				obj := &teamsv1alpha1.TeamsAppInstallation{}
				g.Expect(k8sClient.Get(ctx, key, obj)).To(Succeed())
				g.Expect(obj.Status.Version).To(Equal("1.0.0"))
			}, 5*time.Second, 200*time.Millisecond).Should(Succeed())
			Expect(len(taiRequests("listInstalledApps", w.teamID))-checks).To(BeNumerically(">=", 1),
				"a drift check ran meanwhile")
			Expect(taiRequests("upgradeApp", w.teamID)).To(BeEmpty())
			Expect(w.teamInstalls()).To(ConsistOf(HaveField("Version", "1.0.0")))
		})

		It("stalls with AppNotFound when the app is not in the catalog", func() {
			missing := uuid.NewString()
			key := w.create("missing-app", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.App = teamsv1alpha1.TeamsAppReference{TeamsAppID: missing}
			})

			obj := taiStalled(key, teamsv1alpha1.AppNotFoundReason)
			Expect(taiMessage(obj)).To(ContainSubstring("App " + missing + " is not in the organization's app catalog"))
			Expect(taiMessage(obj)).To(ContainSubstring("publish it"))
			Expect(taiRequests("installApp", w.teamID)).To(BeEmpty())
			Expect(obj.Finalizers).To(BeEmpty(), "nothing was installed, so nothing holds the object")
		})

		It("stalls with PermissionDenied naming the permission, and recovers once it is granted", func() {
			const role = "TeamsAppInstallation.ReadWriteSelfForTeam.All"
			Expect(emu.RevokeRoles(emulator.DefaultTenantID, w.clientID, role)).To(Succeed())
			key := w.create("forbidden", nil)

			obj := taiStalled(key, teamsv1alpha1.PermissionDeniedReason)
			Expect(taiMessage(obj)).To(ContainSubstring(role))
			Expect(w.teamInstalls()).To(BeEmpty())

			Expect(emu.GrantRoles(emulator.DefaultTenantID, w.clientID, role)).To(Succeed())
			taiReady(key)
			Expect(w.teamInstalls()).To(HaveLen(1))
		})

		It("goes terminal after Graph refuses the install three times in a row", func() {
			emu.AddFault(emulator.Fault{API: "graph", Operation: "installApp", PathContains: w.teamID, Status: 400})
			DeferCleanup(func() {
				for _, f := range emu.Faults() {
					if f.PathContains == w.teamID {
						emu.RemoveFault(f.ID)
					}
				}
			})
			key := w.create("bad-request", nil)

			obj := taiStalled(key, teamsv1alpha1.InvalidSpecReason)
			Expect(taiMessage(obj)).To(ContainSubstring("refused the request 3 times"))
			Consistently(func() []emulator.JournalEntry { return taiRequests("installApp", w.teamID) },
				2*time.Second, 200*time.Millisecond).Should(HaveLen(3), "no attempt after the budget")
		})

		It("waits for Retry-After when Graph throttles the install", func() {
			emu.AddFault(emulator.Fault{API: "graph", Operation: "installApp", PathContains: w.teamID,
				Status: 429, RetryAfter: "1", Count: 1})
			DeferCleanup(func() {
				for _, f := range emu.Faults() {
					if f.PathContains == w.teamID {
						emu.RemoveFault(f.ID)
					}
				}
			})
			key := w.create("throttled", nil)

			taiReady(key)
			reqs := taiRequests("installApp", w.teamID)
			Expect(reqs).To(HaveLen(2))
			Expect(reqs[0].Status).To(Equal(429))
			Expect(reqs[1].Status).To(BeNumerically("<", 300))
			Expect(reqs[1].Time.Sub(reqs[0].Time)).To(BeNumerically(">=", 900*time.Millisecond), "Retry-After honoured")
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElements("Normal/Throttled", "Normal/Installed"))
		})

		It("reinstalls an app removed in Teams at the next drift check", func() {
			key := w.create("drift", nil)
			before := taiReady(key)
			Expect(emu.Uninstall(emulator.ScopeTeam, w.teamID, w.teamsAppID)).To(Succeed())

			Eventually(w.teamInstalls, 20*time.Second, 100*time.Millisecond).Should(HaveLen(1))
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElement("Normal/Reinstalled"))
			after := taiReady(key)
			Expect(after.Status.InstallationID).To(Equal(w.teamInstalls()[0].ID))
			Expect(before.Status.InstallationID).NotTo(BeEmpty())
			Expect(taiRequests("installApp", w.teamID)).To(HaveLen(2))
		})

		It("writes nothing to the API server when a drift check finds everything in place", func() {
			key := w.create("quiet", nil)
			taiReady(key)
			// Let the reconcile that set Ready finish its write.
			var n int
			Eventually(func(g Gomega) {
				n = writes.For("teamsappinstallations", key.Namespace, key.Name)
				g.Consistently(func() int {
					return writes.For("teamsappinstallations", key.Namespace, key.Name)
				}, time.Second, 100*time.Millisecond).Should(Equal(n))
			}, 10*time.Second).Should(Succeed())
			checks := len(taiRequests("listInstalledApps", w.teamID))

			Consistently(func() int {
				return writes.For("teamsappinstallations", key.Namespace, key.Name)
			}, 9*time.Second, 200*time.Millisecond).Should(Equal(n))
			Expect(len(taiRequests("listInstalledApps", w.teamID))-checks).To(BeNumerically(">=", 2),
				"at least two drift checks ran meanwhile")
		})

		It("uninstalls the app when the object is deleted", func() {
			key := w.create("delete", nil)
			taiReady(key)

			taiDelete(key)
			Expect(w.teamInstalls()).To(BeEmpty())
			Expect(taiRequests("uninstallApp", w.teamID)).To(HaveLen(1))
			Eventually(func(g Gomega) []string { return taiEvents(g, key) }, 10*time.Second).
				Should(ContainElement("Normal/Uninstalled"))
		})

		It("leaves the app installed when deletionPolicy is Orphan", func() {
			key := w.create("orphan", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
				s.DeletionPolicy = teamsv1alpha1.DeletionPolicyOrphan
			})
			obj := taiReady(key)
			Expect(obj.Finalizers).To(BeEmpty(), "Orphan needs no cleanup")

			taiDelete(key)
			Expect(w.teamInstalls()).To(HaveLen(1))
			Expect(taiRequests("uninstallApp", w.teamID)).To(BeEmpty())
		})
		It("keeps retrying the uninstall while the credentials are gone, and says how to give up", func() {
			secret := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: taiSecretName}, secret)).To(Succeed())
			key := w.create("no-creds-delete", nil)
			taiReady(key)
			Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
			Expect(k8sClient.Delete(ctx, &teamsv1alpha1.TeamsAppInstallation{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})).To(Succeed())

			Eventually(func(g Gomega) {
				obj := &teamsv1alpha1.TeamsAppInstallation{}
				g.Expect(k8sClient.Get(ctx, key, obj)).To(Succeed())
				c := meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition)
				g.Expect(c.Reason).To(Equal(teamsv1alpha1.DeletingReason))
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Message).To(ContainSubstring(teamsv1alpha1.CredentialsNotFoundReason))
				g.Expect(c.Message).To(ContainSubstring("remove the finalizer " + teamsv1alpha1.Finalizer))
			}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
			Consistently(func() error { return k8sClient.Get(ctx, key, &teamsv1alpha1.TeamsAppInstallation{}) },
				2*time.Second, 200*time.Millisecond).Should(Succeed(), "not released before the uninstall")
			Expect(w.teamInstalls()).To(HaveLen(1))

			w.credentials()
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, key, &teamsv1alpha1.TeamsAppInstallation{}))
			}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
			Expect(w.teamInstalls()).To(BeEmpty())
		})
	})

	Context("credentials", func() {
		It("waits for a missing credentials Secret and becomes Ready once it exists", func() {
			key := w.create("late-secret", nil)

			obj := taiStalled(key, teamsv1alpha1.CredentialsNotFoundReason)
			Expect(taiMessage(obj)).To(ContainSubstring(w.ns + "/" + taiSecretName))

			w.credentials()
			taiReady(key)
			Expect(w.teamInstalls()).To(HaveLen(1))
		})

		It("follows a rotated Secret without a restart", func() {
			secret := w.credentials()
			key := w.create("rotate", nil)
			taiReady(key)

			secret.StringData = map[string]string{"clientSecret": "wrong-" + w.secret}
			Expect(k8sClient.Update(ctx, secret)).To(Succeed())
			obj := taiStalled(key, teamsv1alpha1.AuthenticationFailedReason)
			Expect(taiMessage(obj)).To(ContainSubstring("Secret " + w.ns + "/" + taiSecretName))
			Expect(taiMessage(obj)).NotTo(ContainSubstring(w.secret), "no secret in conditions")

			secret.StringData = map[string]string{"clientSecret": w.secret}
			Expect(k8sClient.Update(ctx, secret)).To(Succeed())
			taiReady(key)
		})
	})
})
