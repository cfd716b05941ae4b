package crd

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	guid  = "2f1e9c54-6a0b-4c1e-9d7a-3b5e8f0a1c21"
	appID = "6d7c1b3e-0f4a-4d8b-a2c9-5e1f7a3b9c0d"
)

func installation(spec string) string {
	return "apiVersion: teams.operator.dev/v1alpha1\nkind: TeamsAppInstallation\nmetadata:\n  name: bad\nspec:\n" + indent(spec)
}

func target(spec string) string {
	return "apiVersion: teams.operator.dev/v1alpha1\nkind: ConversationTarget\nmetadata:\n  name: bad\nspec:\n" + indent(spec)
}

func message(spec string) string {
	return "apiVersion: teams.operator.dev/v1alpha1\nkind: ProactiveMessage\nmetadata:\n  name: bad\nspec:\n" + indent(spec)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// teamScope is a valid scope, for cases about other fields.
var teamScope = "scope:\n  team:\n    id: " + guid

// expectRejected creates doc and asserts the API server refuses it as invalid, naming the
// field and the rule that fired.
func expectRejected(doc string, field, message string) {
	ns := newNamespace()
	obj := parse(doc, ns)
	err := k8sClient.Create(ctx, obj)
	Expect(err).To(HaveOccurred(), "the API server accepted a bad object:\n%s", doc)
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got: %v", err)
	Expect(err.Error()).To(ContainSubstring(field))
	Expect(err.Error()).To(ContainSubstring(message))
}

var _ = Describe("bad input is refused by the API server", func() {
	DescribeTable("TeamsAppInstallation",
		expectRejected,
		Entry("both app ids", installation("app:\n  teamsAppId: app-a\n  externalId: app-b\n"+teamScope),
			"spec.app", "exactly one of app.teamsAppId or app.externalId must be set"),
		Entry("no app id", installation("app: {}\n"+teamScope),
			"spec.app", "exactly one of app.teamsAppId or app.externalId must be set"),
		Entry("no scope", installation("app:\n  externalId: "+appID+"\nscope: {}"),
			"spec.scope", "exactly one of scope.team, scope.user or scope.chat must be set"),
		Entry("two scopes", installation("app:\n  externalId: "+appID+"\nscope:\n  team:\n    id: "+guid+"\n  chat:\n    id: '19:abc@thread.v2'"),
			"spec.scope", "exactly one of scope.team, scope.user or scope.chat must be set"),
		Entry("team id that is not a GUID", installation("app:\n  externalId: "+appID+"\nscope:\n  team:\n    id: platform"),
			"spec.scope.team.id", "should match"),
		Entry("user with both id and UPN", installation("app:\n  externalId: "+appID+"\nscope:\n  user:\n    id: "+guid+"\n    userPrincipalName: a@b.c"),
			"spec.scope.user", "exactly one of scope.user.id or scope.user.userPrincipalName must be set"),
		Entry("UPN without a domain", installation("app:\n  externalId: "+appID+"\nscope:\n  user:\n    userPrincipalName: adele"),
			"spec.scope.user.userPrincipalName", "should match"),
		Entry("chat id that is not a Teams chat id", installation("app:\n  externalId: "+appID+"\nscope:\n  chat:\n    id: general"),
			"spec.scope.chat.id", "should match '^19:"),
		Entry("unknown deletion policy", installation("app:\n  externalId: "+appID+"\n"+teamScope+"\ndeletionPolicy: Remove"),
			"spec.deletionPolicy", `Unsupported value: "Remove": supported values: "Delete", "Orphan"`),
		Entry("interval too short", installation("app:\n  externalId: "+appID+"\n"+teamScope+"\ninterval: 30s"),
			"spec.interval", "interval must be between 1m and 168h"),
		Entry("interval that is not a duration", installation("app:\n  externalId: "+appID+"\n"+teamScope+"\ninterval: tomorrow"),
			"spec.interval", "should match"),
		Entry("credentials name that is not a DNS name", installation("app:\n  externalId: "+appID+"\n"+teamScope+"\ncredentialsRef:\n  name: Bad_Name"),
			"spec.credentialsRef.name", "should match"),
		Entry("the same RSC permission twice", installation("app:\n  externalId: "+appID+"\n"+teamScope+"\nconsentedPermissions:\n- permissionValue: ChannelMessage.Read.Group\n- permissionValue: ChannelMessage.Read.Group"),
			"spec.consentedPermissions[1]", "Duplicate value"),
		Entry("catalog id too long", installation("app:\n  teamsAppId: "+strings.Repeat("a", 129)+"\n"+teamScope),
			"spec.app.teamsAppId", "may not be more than 128"),
	)

	DescribeTable("ConversationTarget",
		expectRejected,
		Entry("no target", target("tenantId: "+guid),
			"spec", "exactly one of user, channel, chat, conversation, installationRef or audience must be set"),
		Entry("two targets", target("user:\n  id: "+guid+"\nchat:\n  id: '19:abc@thread.v2'"),
			"spec", "exactly one of user, channel, chat, conversation, installationRef or audience must be set"),
		Entry("user id that is neither a GUID nor a 29: id", target("user:\n  id: bob"),
			"spec.user.id", "user.id must be an Entra object id (a GUID) or a Teams user id starting with 29:"),
		Entry("user with neither id nor UPN", target("user: {}"),
			"spec.user", "exactly one of user.id or user.userPrincipalName must be set"),
		Entry("plain-http service URL", target("conversation:\n  id: 'a:1'\nserviceUrl: http://smba.trafficmanager.net/teams/"),
			"spec.serviceUrl", "serviceUrl must be an absolute https URL"),
		Entry("service URL that is not a URL", target("conversation:\n  id: 'a:1'\nserviceUrl: smba.trafficmanager.net"),
			"spec.serviceUrl", "serviceUrl must be an absolute https URL"),
		Entry("channel without a team", target("channel:\n  channelId: '19:abc@thread.tacv2'"),
			"spec.channel.teamId", "Required value"),
		Entry("channel id that is a name", target("channel:\n  teamId: "+guid+"\n  channelId: alerts"),
			"spec.channel.channelId", "should match"),
		Entry("tenant id that is a domain", target("user:\n  id: "+guid+"\ntenantId: contoso.onmicrosoft.com"),
			"spec.tenantId", "should match"),
		Entry("conversation id with spaces", target("conversation:\n  id: 'a b'"),
			"spec.conversation.id", "should match"),
		Entry("audience of nobody", target("audience: {}"),
			"spec.audience", "exactly one of audience.team, audience.group or audience.users must be set"),
		Entry("audience of a team and a group", target("audience:\n  team:\n    id: "+guid+"\n  group:\n    id: "+guid),
			"spec.audience", "exactly one of audience.team, audience.group or audience.users must be set"),
		Entry("audience group that is a name", target("audience:\n  group:\n    id: everyone"),
			"spec.audience.group.id", "should match"),
		Entry("audience user with neither id nor UPN", target("audience:\n  users:\n  - {}"),
			"spec.audience.users[0]", "exactly one of user.id or user.userPrincipalName must be set"),
		Entry("audience of an empty list", target("audience:\n  users: []"),
			"spec.audience.users", "should have at least 1 items"),
		Entry("audience larger than the bound", target("audience:\n  team:\n    id: "+guid+"\n  maxSize: 2000000"),
			"spec.audience.maxSize", "should be less than or equal to 1000000"),
		Entry("audience and a user", target("user:\n  id: "+guid+"\naudience:\n  group:\n    id: "+guid),
			"spec", "exactly one of user, channel, chat, conversation, installationRef or audience must be set"),
	)

	DescribeTable("ProactiveMessage",
		expectRejected,
		Entry("no content", message("targetRef:\n  name: t\nsummary: hi"),
			"spec", "exactly one of text or adaptiveCard must be set"),
		Entry("text and card together", message("targetRef:\n  name: t\ntext: hi\nadaptiveCard:\n  type: AdaptiveCard\n  version: '1.5'"),
			"spec", "exactly one of text or adaptiveCard must be set"),
		Entry("empty text", message("targetRef:\n  name: t\ntext: ''"),
			"spec.text", "should be at least 1 chars long"),
		Entry("no target", message("text: hi"),
			"spec.targetRef", "Required value"),
		Entry("a card that is not an Adaptive Card", message("targetRef:\n  name: t\nadaptiveCard:\n  type: MessageCard\n  version: '1.5'"),
			"spec.adaptiveCard.type", `Unsupported value: "MessageCard": supported values: "AdaptiveCard"`),
		Entry("card version Teams does not render", message("targetRef:\n  name: t\nadaptiveCard:\n  type: AdaptiveCard\n  version: '1.6'"),
			"spec.adaptiveCard.version", `Unsupported value: "1.6": supported values: "1.0", "1.1", "1.2", "1.3", "1.4", "1.5"`),
		Entry("card version as a number", message("targetRef:\n  name: t\nadaptiveCard:\n  type: AdaptiveCard\n  version: 1.5"),
			"spec.adaptiveCard.version", "must be of type string"),
		Entry("a card with too many elements", message("targetRef:\n  name: t\nadaptiveCard:\n  type: AdaptiveCard\n  version: '1.5'\n  body:\n"+manyElements(201)),
			"spec.adaptiveCard.body", "must have at most 200 items"),
		Entry("unknown text format", message("targetRef:\n  name: t\ntext: hi\ntextFormat: html"),
			"spec.textFormat", `Unsupported value: "html"`),
		Entry("expiry before the scheduled time", message("targetRef:\n  name: t\ntext: hi\nsendAt: '2030-01-02T00:00:00Z'\nexpiresAt: '2030-01-01T00:00:00Z'"),
			"spec", "expiresAt must be after sendAt"),
		Entry("a mention missing from the text", message("targetRef:\n  name: t\ntext: hello team\nmentions:\n- id: "+guid+"\n  name: Megan Bowen"),
			"spec", "every mention's name must appear in text as <at>name</at>"),
		Entry("text longer than Teams accepts", message("targetRef:\n  name: t\ntext: "+strings.Repeat("x", 40001)),
			"spec.text", "may not be more than 40000"),
		Entry("too many mentions", message("targetRef:\n  name: t\ntext: hi\nmentions:\n"+manyMentions(11)),
			"spec.mentions", "must have at most 10 items"),
		Entry("unknown delivery guarantee", message("targetRef:\n  name: t\ntext: hi\ndeliveryGuarantee: ExactlyOnce"),
			"spec.deliveryGuarantee", `Unsupported value: "ExactlyOnce"`),
		Entry("ttl that is not a duration", message("targetRef:\n  name: t\ntext: hi\nttlAfterFinished: 1 day"),
			"spec.ttlAfterFinished", "should match"),
		Entry("unknown deletion policy", message("targetRef:\n  name: t\ntext: hi\ndeletionPolicy: Orphan"),
			"spec.deletionPolicy", `Unsupported value: "Orphan": supported values: "Retain", "Delete"`),
	)
})

func manyElements(n int) string {
	return strings.Repeat("  - type: TextBlock\n    text: x\n", n)
}

func manyMentions(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- id: '29:%d'\n  name: u%d\n", i, i)
	}
	return b.String()
}

var _ = Describe("immutable fields", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	create := func(doc string) *unstructured.Unstructured {
		obj := parse(doc, ns)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		return obj
	}
	expectUpdateRejected := func(obj *unstructured.Unstructured, mutate func(*unstructured.Unstructured), field, want string) {
		patch := client.MergeFrom(obj.DeepCopy())
		mutate(obj)
		err := k8sClient.Patch(ctx, obj, patch)
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got: %v", err)
		Expect(err.Error()).To(ContainSubstring(field))
		Expect(err.Error()).To(ContainSubstring(want))
	}

	It("refuses a new targetRef", func() {
		obj := create(message("targetRef:\n  name: a\ntext: hi"))
		expectUpdateRejected(obj, func(o *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(o.Object, "b", "spec", "targetRef", "name")).To(Succeed())
		}, "spec.targetRef", "targetRef is immutable")
	})

	It("refuses adding replyTo after creation", func() {
		obj := create(message("targetRef:\n  name: a\ntext: hi"))
		expectUpdateRejected(obj, func(o *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(o.Object, "root", "spec", "replyTo", "name")).To(Succeed())
		}, "spec", "replyTo cannot be added or removed after creation")
	})

	It("refuses a new replyTo", func() {
		obj := create(message("targetRef:\n  name: a\ntext: hi\nreplyTo:\n  name: root"))
		expectUpdateRejected(obj, func(o *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(o.Object, "other", "spec", "replyTo", "name")).To(Succeed())
		}, "spec.replyTo", "replyTo is immutable")
	})

	It("refuses a new installation scope", func() {
		obj := create(installation("app:\n  externalId: x\nscope:\n  team:\n    id: " + guid))
		expectUpdateRejected(obj, func(o *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(o.Object, appID, "spec", "scope", "team", "id")).To(Succeed())
		}, "spec.scope", "scope is immutable: create a new TeamsAppInstallation for another scope")
	})

	It("refuses a new installation app", func() {
		obj := create(installation("app:\n  externalId: x\nscope:\n  team:\n    id: " + guid))
		expectUpdateRejected(obj, func(o *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(o.Object, "y", "spec", "app", "externalId")).To(Succeed())
		}, "spec.app", "app is immutable: create a new TeamsAppInstallation for another app")
	})

	It("allows changing an installation's upgrade policy", func() {
		obj := create(installation("app:\n  externalId: x\nscope:\n  team:\n    id: " + guid))
		patch := client.MergeFrom(obj.DeepCopy())
		Expect(unstructured.SetNestedField(obj.Object, "Manual", "spec", "upgradePolicy")).To(Succeed())
		Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
	})

	It("allows editing the content of a message", func() {
		obj := create(message("targetRef:\n  name: a\ntext: hi"))
		patch := client.MergeFrom(obj.DeepCopy())
		Expect(unstructured.SetNestedField(obj.Object, "hello again", "spec", "text")).To(Succeed())
		Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
	})
})
