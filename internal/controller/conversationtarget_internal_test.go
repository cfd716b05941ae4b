package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

func TestValidateConversationTargetSpec(t *testing.T) {
	const guid = "b60f0e6e-0d76-42f6-aef3-48a02608386f"
	tests := map[string]struct {
		spec    teamsv1alpha1.ConversationTargetSpec
		wantErr string
	}{
		"user by object id": {spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: guid}}},
		"user by 29: id":    {spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: "29:1abc"}}},
		"user by UPN": {spec: teamsv1alpha1.ConversationTargetSpec{
			User: &teamsv1alpha1.UserTarget{UserPrincipalName: "adele@contoso.com"}}},
		"channel": {spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
			TeamID: guid, ChannelID: "19:abc@thread.tacv2"}}},
		"installationRef with tenant and service URL": {spec: teamsv1alpha1.ConversationTargetSpec{
			InstallationRef: &teamsv1alpha1.LocalObjectReference{Name: "x"}, TenantID: guid,
			ServiceURL: "https://smba.trafficmanager.net/emea/"}},
		"nothing set": {wantErr: "exactly one of user, channel"},
		"two kinds": {spec: teamsv1alpha1.ConversationTargetSpec{
			Chat: &teamsv1alpha1.ChatTarget{ID: "19:a@thread.v2"}, Conversation: &teamsv1alpha1.KnownConversation{ID: "a:1"}},
			wantErr: "exactly one of user, channel"},
		"user with id and UPN": {spec: teamsv1alpha1.ConversationTargetSpec{
			User: &teamsv1alpha1.UserTarget{ID: guid, UserPrincipalName: "a@b"}}, wantErr: "exactly one of user.id"},
		"user id neither GUID nor 29:": {spec: teamsv1alpha1.ConversationTargetSpec{
			User: &teamsv1alpha1.UserTarget{ID: "adele"}}, wantErr: "user.id must be"},
		"UPN without @": {spec: teamsv1alpha1.ConversationTargetSpec{
			User: &teamsv1alpha1.UserTarget{UserPrincipalName: "adele"}}, wantErr: "userPrincipalName"},
		"team id not a GUID": {spec: teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: "platform"}}, wantErr: "channel.teamId"},
		"channel id with a path": {spec: teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: guid, ChannelID: "19:a/b@thread.tacv2"}}, wantErr: "channel.channelId"},
		"chat id not 19:": {spec: teamsv1alpha1.ConversationTargetSpec{
			Chat: &teamsv1alpha1.ChatTarget{ID: "a:1"}}, wantErr: "chat.id"},
		"conversation id with a query": {spec: teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: "a:1?x=y"}}, wantErr: "conversation.id"},
		"tenant not a GUID": {spec: teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: "a:1"}, TenantID: "contoso"}, wantErr: "tenantId"},
		"plain http service URL": {spec: teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: "a:1"}, ServiceURL: "http://smba.trafficmanager.net/teams/"},
			wantErr: "serviceUrl must be an absolute https URL"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := validateConversationTargetSpec(&tc.spec)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

func TestTargetConversationKind(t *testing.T) {
	tests := map[string]struct {
		id   string
		want string
	}{
		"a: personal":             {id: "a:1qhNLq", want: targetKindPersonal},
		"Graph 1:1 chat":          {id: "19:bot_user@unq.gbl.spaces", want: targetKindPersonal},
		"group chat":              {id: "19:abc@thread.v2", want: targetKindGroupChat},
		"channel":                 {id: "19:abc@thread.tacv2", want: targetKindChannel},
		"legacy channel":          {id: "19:abc@thread.skype", want: targetKindChannel},
		"channel thread":          {id: "19:abc@thread.tacv2;messageid=1795726484992", want: targetKindChannel},
		"unknown form is omitted": {id: "conversation-42", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(targetConversationKind(tc.id)).To(Equal(tc.want))
		})
	}
}

// TestTargetAPIFailure checks how a failed Microsoft call maps to conditions and a result.
func TestTargetAPIFailure(t *testing.T) {
	graphErr := func(status int) error {
		return &msapi.APIError{API: msapi.APIGraph, Operation: "getUser", Status: status, Message: "m", RequestID: "req-1"}
	}
	botErr := func(status int, code string) error {
		return &msapi.APIError{API: msapi.APIBotFramework, Operation: "createConversation", Status: status, Code: code}
	}
	tests := map[string]struct {
		err         error
		wantReason  string
		wantStalled bool
		wantRequeue time.Duration
		wantErr     bool
		wantMessage string
	}{
		"throttled waits Retry-After": {
			err:        &msapi.APIError{API: msapi.APIBotFramework, Status: 429, RetryAfter: 3 * time.Second},
			wantReason: teamsv1alpha1.ThrottledReason, wantRequeue: 3 * time.Second,
		},
		"throttled without Retry-After backs off from a second": {
			err: botErr(429, "Throttled"), wantReason: teamsv1alpha1.ThrottledReason, wantRequeue: time.Second,
		},
		"throttled for hours waits at most an hour": {
			err:        &msapi.APIError{API: msapi.APIGraph, Status: 429, RetryAfter: 5 * time.Hour},
			wantReason: teamsv1alpha1.ThrottledReason, wantRequeue: time.Hour,
		},
		"transient goes back to the workqueue": {
			err: graphErr(500), wantReason: teamsv1alpha1.ProgressingWithRetryReason, wantErr: true,
		},
		"network failure goes back to the workqueue": {
			err: errors.New("connection refused"), wantReason: teamsv1alpha1.ProgressingWithRetryReason, wantErr: true,
		},
		"Graph 403 names the permission": {
			err: graphErr(403), wantReason: teamsv1alpha1.PermissionDeniedReason, wantStalled: true,
			wantRequeue: 5 * time.Minute, wantMessage: "User.Read.All",
		},
		"blocked by the user": {
			err: botErr(403, "ConversationBlockedByUser"), wantReason: teamsv1alpha1.BlockedByUserReason, wantStalled: true,
		},
		"disabled by an admin": {
			err: botErr(403, "BotDisabledByAdmin"), wantReason: teamsv1alpha1.BotDisabledReason, wantStalled: true,
		},
		"token rejected": {
			err: fmt.Errorf("acquiring token: %w", auth.ErrTokenRejected),
			// Fixed in Entra or in the Secret: looked at again, as for every kind.
			wantReason: teamsv1alpha1.AuthenticationFailedReason, wantStalled: true, wantMessage: "credentials Secret",
			wantRequeue: 5 * time.Minute,
		},
		"Connector 401": {
			err: botErr(401, "Unauthorized"), wantReason: teamsv1alpha1.AuthenticationFailedReason, wantStalled: true,
		},
		"service URL refused by the client": {
			err:        &botframework.ServiceURLError{Rule: botframework.RuleHost, Host: "evil.example", Detail: "d"},
			wantReason: teamsv1alpha1.ServiceURLRefusedReason, wantStalled: true,
		},
		"a refused conversation is a spec to fix, with a declared reason": {
			err: botErr(400, "BadArgument"), wantReason: teamsv1alpha1.InvalidSpecReason, wantStalled: true,
		},
		"an unlisted terminal answer gets a declared reason": {
			err: botErr(418, "Teapot"), wantReason: teamsv1alpha1.InternalErrorReason, wantStalled: true,
			wantRequeue: 5 * time.Minute,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			target := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
			r := &ConversationTargetReconciler{}
			res, err := outcome.Apply(context.Background(), target, targetPermissionRecheck,
				r.apiFailure(context.Background(), &targetScope{target: target}, tc.err, "User.Read.All"))
			g.Expect(err != nil).To(Equal(tc.wantErr))
			if err != nil {
				g.Expect(res).To(BeZero(), "never a result with an error")
			}
			// The one default for a 429 without Retry-After: backoff from 1s, with up to 20% jitter.
			g.Expect(res.RequeueAfter).To(BeNumerically("~", tc.wantRequeue+tc.wantRequeue/10, tc.wantRequeue/10+1))
			ready := meta.FindStatusCondition(target.Status.Conditions, teamsv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(tc.wantReason))
			g.Expect(ready.Message).To(ContainSubstring(tc.wantMessage))
			g.Expect(ready.Message).NotTo(ContainSubstring("req-1"), "request ids go to logs, not conditions")
			g.Expect(meta.IsStatusConditionTrue(target.Status.Conditions, teamsv1alpha1.StalledCondition)).To(Equal(tc.wantStalled))
			g.Expect(meta.IsStatusConditionTrue(target.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(Equal(!tc.wantStalled))
		})
	}
}
