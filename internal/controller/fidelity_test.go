package controller_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// Specs of behaviours Microsoft documents (issue 13, docs/dev/contracts.md), run against the
// emulator over TLS.

var _ = Describe("Both tenant setups", func() {
	for _, setup := range []taiSetup{taiSelfSetup, taiBroadSetup} {
		Context("an app with "+setup.name, func() {
			var w *taiWorld

			BeforeEach(func() {
				w = newTAIWorldFor(setup)
				w.credentials()
			})

			credentials := func() *teamsv1alpha1.LocalObjectReference {
				return &teamsv1alpha1.LocalObjectReference{Name: taiSecretName}
			}

			It("installs in a team, and a channel target of the team finds the bot by its bot id", func() {
				taiReady(w.create("team", nil))
				key := ctCreate(w.ns, "channel", teamsv1alpha1.ConversationTargetSpec{
					Channel: &teamsv1alpha1.ChannelTarget{TeamID: w.teamID}, CredentialsRef: credentials(),
				})
				Expect(ctReady(key, teamsv1alpha1.ResolvedReason).Status.Kind).To(Equal("Channel"))
			})

			It("reaches a private or a shared channel only once the app was added to the channel", func() {
				taiReady(w.create("team", nil))
				target := func(name, channelID string) client.ObjectKey {
					return ctCreate(w.ns, name, teamsv1alpha1.ConversationTargetSpec{
						Channel: &teamsv1alpha1.ChannelTarget{TeamID: w.teamID, ChannelID: channelID}, CredentialsRef: credentials(),
					})
				}
				private, shared := target("private", w.privateID), target("shared", w.sharedID)
				if setup.selfApp {
					// The Self permissions cannot list a channel's apps: Ready, saying so; Teams decides.
					for key, kind := range map[client.ObjectKey]string{private: "private", shared: "shared"} {
						t := ctReady(key, teamsv1alpha1.ResolvedReason)
						Expect(t.Status.ChannelType).To(Equal(kind))
						Expect(ctReadyMessage(t)).To(ContainSubstring("could not check"))
					}
					pmMessage(w.ns, "refused", "private", nil)
					refused := pmEventuallyPhase(w.ns, "refused", teamsv1alpha1.PhaseFailed)
					Expect(pmReady(refused).Reason).To(Equal(teamsv1alpha1.BotNotInRosterReason))
					Expect(pmReady(refused).Message).To(ContainSubstring("private channel"))
				} else {
					for key, kind := range map[client.ObjectKey]string{private: "private", shared: "shared"} {
						Expect(ctReadyMessage(ctStalled(key, teamsv1alpha1.AppNotInChannelReason))).
							To(ContainSubstring("is a " + kind + " channel and the app is not added to it"))
					}
				}
				Expect(emu.EnableAppInChannel(w.privateID, w.teamsAppID, true)).To(Succeed())
				t := ctReady(private, teamsv1alpha1.ResolvedReason)
				Expect(t.Status.ConversationID).To(Equal(w.privateID))
				pmMessage(w.ns, "delivered", "private", nil)
				pmEventuallyPhase(w.ns, "delivered", teamsv1alpha1.PhaseDelivered)
			})

			It("installs in a group chat, and a chat target finds the bot by its bot id", func() {
				taiReady(w.create("chat", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
					s.Scope = teamsv1alpha1.InstallationScope{Chat: &teamsv1alpha1.ChatScope{ID: w.chatID}}
				}))
				key := ctCreate(w.ns, "chat", teamsv1alpha1.ConversationTargetSpec{
					Chat: &teamsv1alpha1.ChatTarget{ID: w.chatID}, CredentialsRef: credentials(),
				})
				Expect(ctReady(key, teamsv1alpha1.ResolvedReason).Status.ConversationID).To(Equal(w.chatID))
			})

			It("installs for a user, and targets of the user and of the installation become Ready", func() {
				taiReady(w.create("user", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
					s.Scope = teamsv1alpha1.InstallationScope{User: &teamsv1alpha1.UserScope{ID: w.userID}}
				}))
				byRef := ctCreate(w.ns, "by-ref", teamsv1alpha1.ConversationTargetSpec{
					InstallationRef: &teamsv1alpha1.LocalObjectReference{Name: "user"}, CredentialsRef: credentials(),
				})
				Expect(ctReady(byRef, teamsv1alpha1.ResolvedReason).Status.ConversationID).
					To(Equal(emulator.PersonalChatID(w.clientID, w.userID)))
				byUser := ctCreate(w.ns, "by-user", teamsv1alpha1.ConversationTargetSpec{
					User: &teamsv1alpha1.UserTarget{ID: w.userID}, CredentialsRef: credentials(),
				})
				ctReady(byUser, teamsv1alpha1.ConversationCreatedReason)
			})

			It("sees the consent of a consented installation and upgrades nothing on later drift checks", func() {
				rsc := emulator.RSCPermission{PermissionValue: "ChatMessage.Read.Chat", PermissionType: "Application"}
				ctMerge(emulator.TenantSeed{Catalog: []emulator.CatalogAppSeed{w.catalogApp("1.0.0", rsc)}})
				consent := "TeamsAppInstallation.ReadWriteAndConsentForChat.All"
				if setup.selfApp {
					consent = "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All"
				}
				Expect(emu.GrantRoles(emulator.DefaultTenantID, w.clientID, consent)).To(Succeed())
				taiReady(w.create("consented", func(s *teamsv1alpha1.TeamsAppInstallationSpec) {
					s.Scope = teamsv1alpha1.InstallationScope{Chat: &teamsv1alpha1.ChatScope{ID: w.chatID}}
					s.ConsentedPermissions = []teamsv1alpha1.ResourceSpecificPermission{{PermissionValue: rsc.PermissionValue}}
				}))
				Expect(taiRequests("installApp", w.chatID)).To(HaveLen(1))
				// Drift checks run every 3 s here: wait for three more of them.
				checks := len(taiRequests("listInstalledApps", w.chatID))
				Eventually(func() int { return len(taiRequests("listInstalledApps", w.chatID)) }).
					WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(BeNumerically(">=", checks+3))
				Expect(taiRequests("upgradeApp", w.chatID)).To(BeEmpty(), "the consent matches: nothing to upgrade")
			})
		})
	}
})

var _ = Describe("Conversation ids and tenants on the wire", func() {
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	It("posts into a known thread ({channel};messageid=) instead of creating a conversation, with the tenant on every request", func() {
		userID, _ := pmUser()
		teamID, channelID := pmTeam(userID)
		pmReadyTarget(ns, "channel", teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID}}, "Channel", channelID)
		pmMessage(ns, "root", "channel", nil)
		root := pmEventuallyPhase(ns, "root", teamsv1alpha1.PhaseDelivered)
		thread := root.Status.ConversationID
		Expect(thread).To(Equal(channelID + ";messageid=" + root.Status.ActivityID))

		// A known conversation whose id is a thread resolves to kind Channel; it is still a thread.
		pmReadyTarget(ns, "thread", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: thread}}, "Channel", thread)
		pmMessage(ns, "in-thread", "thread", nil)
		in := pmEventuallyPhase(ns, "in-thread", teamsv1alpha1.PhaseDelivered)
		Expect(in.Status.ConversationID).To(Equal(thread))

		stored := pmLive(thread)
		Expect(stored).To(HaveLen(2))
		Expect(stored[0].Operation).To(Equal("createConversation"))
		Expect(stored[1].Operation).To(Equal("sendActivity"))
		Expect(stored[1].ThreadID).To(Equal(root.Status.ActivityID), "the message is in the root's thread")
		for _, a := range stored {
			Expect(a.MissingTenant).To(BeEmpty(), "%s lacks the tenant", a.Operation)
		}
		Expect(pmActivity(stored[1])).To(HaveKeyWithValue("conversation",
			HaveKeyWithValue("tenantId", emulator.DefaultTenantID)))
	})
})

var _ = Describe("Message size as Teams counts it", func() {
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	pmWarnings := func(g Gomega, name string) []string {
		list := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Type == "Warning" {
				out = append(out, e.Reason)
			}
		}
		return out
	}

	It("sends 40000 CJK characters (UTF-16), warns above 80 KB, and refuses above 100 KB before any request", func() {
		chatID := pmPersonalTarget(ns, "user")
		pmMessage(ns, "cjk", "user", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = strings.Repeat("漢", 40000) })
		pmMessage(ns, "emoji-large", "user", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = strings.Repeat("😀", 22000) })
		pmMessage(ns, "emoji-too-large", "user", func(s *teamsv1alpha1.ProactiveMessageSpec) { s.Text = strings.Repeat("😀", 26000) })

		pmEventuallyPhase(ns, "cjk", teamsv1alpha1.PhaseDelivered)
		pmEventuallyPhase(ns, "emoji-large", teamsv1alpha1.PhaseDelivered)
		Eventually(func(g Gomega) []string { return pmWarnings(g, "emoji-large") }).WithTimeout(pmTimeout).
			Should(ContainElement("MessageLarge"))
		Expect(pmWarnings(Default, "cjk")).NotTo(ContainElement("MessageLarge"), "80 000 bytes is within 80 KB")

		Eventually(func(g Gomega) {
			ready := pmReady(pmGet(g, ns, "emoji-too-large"))
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(teamsv1alpha1.MessageTooLargeReason))
			g.Expect(ready.Message).To(ContainSubstring("UTF-16"))
		}).WithTimeout(pmTimeout).Should(Succeed())
		Expect(pmLive(chatID)).To(HaveLen(2), "the refused message was never sent")
	})
})
