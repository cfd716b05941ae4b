package controller_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/operator"
)

// Issue 14: one namespace must not be able to fill the manager's memory or put Secret values in
// its cache.
var _ = Describe("Tenant isolation: the manager's cache", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("keeps neither a card too large to send nor kubectl's copy of it, and fails the message", func() {
		pmPersonalTarget(ns, "big")
		// 1 MiB of card, applied with kubectl (so a second copy in last-applied-configuration):
		// 90 of these filled the chart's 256 MiB before.
		body := make([]apiextensionsv1.JSON, 0, 16)
		for range 16 {
			body = append(body, apiextensionsv1.JSON{Raw: []byte(`{"type":"TextBlock","text":"` + strings.Repeat("x", 64<<10) + `"}`)})
		}
		msg := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bomb", Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: strings.Repeat("y", 200<<10),
			}},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef:    teamsv1alpha1.LocalObjectReference{Name: "big"},
				AdaptiveCard: &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5", Body: body},
			},
		}
		Expect(k8sClient.Create(ctx, msg)).To(Succeed())

		failed := pmEventuallyPhase(ns, "bomb", teamsv1alpha1.PhaseFailed)
		Expect(pmReady(failed).Reason).To(Equal(teamsv1alpha1.MessageTooLargeReason))
		Expect(pmReady(failed).Message).To(ContainSubstring("the card alone is"))
		Expect(failed.Status.Attempts).To(BeZero())

		cached := &teamsv1alpha1.ProactiveMessage{}
		Expect(mgrCache.Get(ctx, client.ObjectKeyFromObject(msg), cached)).To(Succeed())
		Expect(cached.Spec.AdaptiveCard.Body).To(BeEmpty(), "the cache holds no oversized card")
		Expect(cached.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
		Expect(cached.Annotations).To(HaveKey(teamsv1alpha1.CardDroppedAnnotation))

		// The marker lives only in the cache: the object on the API server is untouched.
		live := pmGet(Default, ns, "bomb")
		Expect(live.Spec.AdaptiveCard.Body).To(HaveLen(16))
		Expect(live.Annotations).NotTo(HaveKey(teamsv1alpha1.CardDroppedAnnotation))
		Expect(live.Annotations).To(HaveKey(corev1.LastAppliedConfigAnnotation))
	})

	It("keeps no Secret value in the Secret metadata cache", func() {
		secret := createCredentials(ns, "applied")
		base := secret.DeepCopy()
		secret.Annotations = map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"stringData":{"clientSecret":"do-not-cache-me"}}`,
		}
		Expect(k8sClient.Patch(ctx, secret, client.MergeFrom(base))).To(Succeed())
		Eventually(func(g Gomega) {
			cached := &metav1.PartialObjectMetadata{}
			cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			g.Expect(mgrCache.Get(ctx, client.ObjectKeyFromObject(secret), cached)).To(Succeed())
			g.Expect(cached.ResourceVersion).To(Equal(secret.ResourceVersion))
			g.Expect(cached.Annotations).To(BeEmpty())
		}).WithTimeout(pmTimeout).Should(Succeed())
	})
})

// Issue 14, items 2 and 6: a namespace must not be able to send as the manager's own bots.
var _ = Describe("Tenant isolation: credentials the manager holds", func() {
	// unlabelled creates a namespace the platform team did not allow.
	unlabelled := func() string {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		return ns.Name
	}

	It("refuses the default credentials to a namespace the platform team did not label", func() {
		ns := unlabelled()
		chatID := "a:" + ns
		target := &teamsv1alpha1.ConversationTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "as-someone-else"},
			Spec:       teamsv1alpha1.ConversationTargetSpec{Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}},
		}
		Expect(k8sClient.Create(ctx, target)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(target), target)).To(Succeed())
			ready := meta.FindStatusCondition(target.Status.Conditions, teamsv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(teamsv1alpha1.CredentialsNotAllowedReason))
			g.Expect(ready.Message).To(ContainSubstring("the manager's default credentials may not be used from namespace " + ns))
			g.Expect(ready.Message).To(ContainSubstring("--shared-credentials-namespace-selector"))
		}).WithTimeout(pmTimeout).Should(Succeed())

		// Once the platform team labels the namespace, the same object resolves: the label
		// change alone wakes it.
		nsObj := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		nsObj.Labels[sharedCredentialsLabel] = "true"
		Expect(k8sClient.Update(ctx, nsObj)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(target), target)).To(Succeed())
			ready := meta.FindStatusCondition(target.Status.Conditions, teamsv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).NotTo(Equal(teamsv1alpha1.CredentialsNotAllowedReason))
		}).WithTimeout(pmTimeout).Should(Succeed())
	})

	It("refuses the manager's workload identity to a Secret with only tenantId and clientId", func() {
		tokenFile := filepath.Join(GinkgoT().TempDir(), "token")
		Expect(os.WriteFile(tokenFile, []byte("federated-token"), 0o600)).To(Succeed())
		endpoints, err := cloud.Lookup(cloud.Public)
		Expect(err).NotTo(HaveOccurred())
		factory := &controller.SecretClientFactory{
			Metadata: k8sClient, Secrets: k8sClient, FederatedTokenFile: tokenFile, Endpoints: endpoints,
			HTTPClient: http.DefaultClient, Tokens: auth.NewCache(auth.Options{Endpoints: endpoints, HTTPClient: http.DefaultClient}),
			Policy: botframework.NewServiceURLPolicy(endpoints.ServiceHosts),
			Shared: &controller.SharedCredentials{Namespaces: k8sClient,
				Selector: labels.SelectorFromSet(labels.Set{sharedCredentialsLabel: "true"})},
		}
		// Any namespace can name any bot federated to the operator: only tenantId and clientId.
		someoneElses := map[string]string{"tenantId": emulator.DefaultTenantID, "clientId": "6d7c1b3e-0f4a-4d8b-a2c9-5e1f7a3b9c0d"}
		for _, tc := range []struct {
			ns      string
			allowed bool
		}{{unlabelled(), false}, {newNamespace(), true}} {
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns, Name: "federated"},
				StringData: someoneElses})).To(Succeed())
			_, err := factory.For(ctx, tc.ns, &teamsv1alpha1.LocalObjectReference{Name: "federated"})
			if tc.allowed {
				Expect(err).NotTo(HaveOccurred())
				continue
			}
			ce, ok := controller.AsCredentialsError(err)
			Expect(ok).To(BeTrue(), "want a CredentialsError, got %v", err)
			Expect(ce.Reason).To(Equal(teamsv1alpha1.CredentialsNotAllowedReason))
			Expect(ce.Message).To(ContainSubstring("has no client secret or certificate, and the manager's workload identity may not be used from namespace " + tc.ns))
		}
	})
})

// Issue 14, item 6: the documented way to narrow the manager's read of Secrets (a Role per
// namespace instead of the cluster-wide grant) must leave a manager that starts and works.
var _ = Describe("Tenant isolation: Secrets narrowed to a Role per namespace", func() {
	It("starts, reads Secrets where its Role allows, and says why elsewhere", func() {
		allowed, other := newNamespace(), newNamespace()
		createCredentials(allowed, "creds")
		createCredentials(other, "creds")

		// The manager's ClusterRole without Secrets, and a Role for Secrets in one namespace.
		user, err := testEnv.AddUser(envtest.User{Name: "narrow-manager-" + allowed}, nil)
		Expect(err).NotTo(HaveOccurred())
		role := managerRoleWithoutSecrets()
		role.Name = "narrow-" + allowed
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "narrow-manager-" + allowed}}
		Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}, Subjects: subject})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: allowed, Name: "secrets"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}}}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: allowed, Name: "secrets"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "secrets"}, Subjects: subject})).To(Succeed())

		endpoints, err := cloud.Lookup(cloud.Public)
		Expect(err).NotTo(HaveOccurred())
		opts := operator.Options{Endpoints: endpoints, SecretNamespaces: []string{allowed}}
		cacheOpts := operator.CacheOptions(opts)
		// Only these namespaces' objects, so the suite's own manager keeps the others to itself.
		cacheOpts.DefaultNamespaces = map[string]cache.Config{allowed: {}, other: {}}
		skip, syncTimeout := true, 10*time.Second
		mgr, err := ctrl.NewManager(user.Config(), ctrl.Options{
			Scheme: k8sClient.Scheme(), Cache: cacheOpts,
			Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
			Controller: config.Controller{SkipNameValidation: &skip, CacheSyncTimeout: syncTimeout},
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(operator.Setup(mgr, opts)).To(Succeed())
		mgrCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		started := make(chan error, 1)
		go func() { started <- mgr.Start(mgrCtx) }()

		// Before, the cluster-wide Secret informer could not list and the manager exited when its
		// caches did not sync.
		Expect(mgr.GetCache().WaitForCacheSync(mgrCtx)).To(BeTrue())
		Consistently(started).WithTimeout(2 * syncTimeout).ShouldNot(Receive())

		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: allowed, Name: "creds"}, secret)
		}).WithTimeout(pmTimeout).Should(Succeed())

		factory := &controller.SecretClientFactory{Metadata: mgr.GetClient(), Secrets: mgr.GetAPIReader(),
			SecretScope: controller.SecretScope{Namespaces: []string{allowed}}}
		_, err = factory.For(ctx, other, &teamsv1alpha1.LocalObjectReference{Name: "creds"})
		ce, ok := controller.AsCredentialsError(err)
		Expect(ok).To(BeTrue(), "want a CredentialsError, got %v", err)
		Expect(ce.Reason).To(Equal(teamsv1alpha1.CredentialsNotFoundReason))
		Expect(ce.Message).To(ContainSubstring("the manager reads Secrets only in the namespaces " + allowed + " (--secret-namespaces)"))
	})
})

// managerRoleWithoutSecrets is config/rbac/role.yaml without its Secrets rule.
func managerRoleWithoutSecrets() *rbacv1.ClusterRole {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.Unmarshal(raw, role)).To(Succeed())
	// As the chart does with --secret-namespaces: only "secrets" leaves the rule it shares
	// with other resources (namespaces).
	removed := 0
	rules := role.Rules[:0]
	for _, r := range role.Rules {
		if i := slices.Index(r.Resources, "secrets"); i >= 0 {
			r.Resources = slices.Delete(slices.Clone(r.Resources), i, i+1)
			removed++
		}
		if len(r.Resources) > 0 {
			rules = append(rules, r)
		}
	}
	Expect(removed).To(Equal(1))
	role.Rules = rules
	role.ObjectMeta = metav1.ObjectMeta{}
	return role
}

// Issue 14, item 4: the ids of any message of a shared bot are in its "copy link to message";
// a namespace that writes them into its own object must not be able to edit or delete it.
var _ = Describe("Tenant isolation: activity ids in annotations", func() {
	It("neither edits nor deletes another namespace's message named by typed or copied annotations", func() {
		victimNS, attackerNS := newNamespace(), newNamespace()
		chatID := pmPersonalTarget(victimNS, "victim")
		pmMessage(victimNS, "original", "victim", nil)
		victim := pmEventuallyPhase(victimNS, "original", teamsv1alpha1.PhaseDelivered)
		recorded := pmJournalEntry(victimNS, "original")

		// The attacker's target reaches the same conversation with the same (shared) bot.
		pmReadyTarget(attackerNS, "same-chat", teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: chatID}}, "Personal", chatID)
		for name, ann := range map[string]map[string]string{
			"typed": {
				teamsv1alpha1.SendAttemptAnnotation:    "2026-01-01T00:00:00Z",
				teamsv1alpha1.ActivityIDAnnotation:     victim.Status.ActivityID,
				teamsv1alpha1.ConversationIDAnnotation: chatID,
			},
			"copied": { // with the victim's own proof, from its send journal entry
				teamsv1alpha1.SendAttemptAnnotation:    recorded.Marker,
				teamsv1alpha1.ActivityIDAnnotation:     recorded.ActivityID,
				teamsv1alpha1.ConversationIDAnnotation: recorded.ConversationID,
				teamsv1alpha1.DeliveryProofAnnotation:  recorded.Proof,
			},
		} {
			attack := &teamsv1alpha1.ProactiveMessage{
				ObjectMeta: metav1.ObjectMeta{Namespace: attackerNS, Name: name, Annotations: ann,
					Finalizers: []string{teamsv1alpha1.Finalizer}},
				Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "same-chat"},
					Text: "Defaced by " + name, DeletionPolicy: teamsv1alpha1.MessageDeletionPolicyDelete},
			}
			Expect(k8sClient.Create(ctx, attack)).To(Succeed())
			failed := pmEventuallyPhase(attackerNS, name, teamsv1alpha1.PhaseFailed)
			Expect(pmReady(failed).Reason).To(Equal(teamsv1alpha1.UntrustedAnnotationsReason))
			Expect(pmReady(failed).Message).To(ContainSubstring("were not recorded by the operator for this object"))
			Expect(failed.Status.ActivityID).To(BeEmpty())

			Expect(k8sClient.Delete(ctx, attack)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(attack), &teamsv1alpha1.ProactiveMessage{}))
			}).WithTimeout(pmTimeout).Should(BeTrue())
		}
		live := pmLive(chatID)
		Expect(live).To(HaveLen(1), "the victim's message is still in Teams")
		Expect(live[0].ActivityID).To(Equal(victim.Status.ActivityID))
		Expect(pmActivity(live[0])).To(HaveKeyWithValue("text", "Message original"))
		Expect(live[0].UpdatedAt).To(BeNil(), "and it was never edited")
	})
})

// Issue 14, item 5: a TeamsAppInstallation adopts an existing installation; deleting it must not
// remove the bot from a team another namespace installed it in.
var _ = Describe("Tenant isolation: adopted installations", func() {
	It("never uninstalls an installation it adopted, whatever its deletionPolicy", func() {
		owner := newTAIWorld()
		owner.credentials()
		ownerKey := owner.create("ours", nil)
		installed := taiReady(ownerKey)
		Expect(installed.Status.Adopted).To(BeFalse(), "the owner installed it")

		// Another namespace, with credentials of the same bot, names the same team.
		attackerNS := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: attackerNS, Name: taiSecretName},
			StringData: map[string]string{"tenantId": emulator.DefaultTenantID, "clientId": owner.clientID, "clientSecret": owner.secret}})).To(Succeed())
		attack := &teamsv1alpha1.TeamsAppInstallation{
			ObjectMeta: metav1.ObjectMeta{Namespace: attackerNS, Name: "theirs"},
			Spec: teamsv1alpha1.TeamsAppInstallationSpec{
				App: teamsv1alpha1.TeamsAppReference{ExternalID: owner.externalID}, Scope: owner.teamScope(),
				CredentialsRef: &teamsv1alpha1.LocalObjectReference{Name: taiSecretName},
				DeletionPolicy: teamsv1alpha1.DeletionPolicyDelete,
			},
		}
		Expect(k8sClient.Create(ctx, attack)).To(Succeed())
		attackKey := client.ObjectKeyFromObject(attack)
		adopted := taiReady(attackKey)
		Expect(adopted.Status.Adopted).To(BeTrue())
		Expect(adopted.Status.InstallationID).To(Equal(installed.Status.InstallationID))

		taiDelete(attackKey)
		Expect(owner.teamInstalls()).To(HaveLen(1), "the owner's installation is still there")
		Expect(taiRequests("uninstallApp", owner.teamID)).To(BeEmpty())
		Eventually(func(g Gomega) []string { return taiEvents(g, attackKey) }, 10*time.Second).
			Should(ContainElement("Normal/NotUninstalled"))

		// The owner, who installed it, still uninstalls it.
		taiDelete(ownerKey)
		Expect(owner.teamInstalls()).To(BeEmpty())
	})
})
