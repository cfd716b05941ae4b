package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

func TestValidateInstallationSpec(t *testing.T) {
	team := teamsv1alpha1.InstallationScope{Team: &teamsv1alpha1.TeamScope{ID: "t"}}
	app := teamsv1alpha1.TeamsAppReference{TeamsAppID: "a"}
	tests := map[string]struct {
		spec    teamsv1alpha1.TeamsAppInstallationSpec
		wantErr string
	}{
		"valid team install": {spec: teamsv1alpha1.TeamsAppInstallationSpec{App: app, Scope: team}},
		"no app": {
			spec:    teamsv1alpha1.TeamsAppInstallationSpec{Scope: team},
			wantErr: "exactly one of app.teamsAppId or app.externalId must be set",
		},
		"both app ids": {
			spec: teamsv1alpha1.TeamsAppInstallationSpec{
				App: teamsv1alpha1.TeamsAppReference{TeamsAppID: "a", ExternalID: "b"}, Scope: team},
			wantErr: "exactly one of app.teamsAppId or app.externalId must be set",
		},
		"no scope": {
			spec:    teamsv1alpha1.TeamsAppInstallationSpec{App: app},
			wantErr: "exactly one of scope.team, scope.user or scope.chat must be set",
		},
		"two scopes": {
			spec: teamsv1alpha1.TeamsAppInstallationSpec{App: app, Scope: teamsv1alpha1.InstallationScope{
				Team: &teamsv1alpha1.TeamScope{ID: "t"}, Chat: &teamsv1alpha1.ChatScope{ID: "19:c@thread.v2"}}},
			wantErr: "exactly one of scope.team, scope.user or scope.chat must be set",
		},
		"user with id and UPN": {
			spec: teamsv1alpha1.TeamsAppInstallationSpec{App: app, Scope: teamsv1alpha1.InstallationScope{
				User: &teamsv1alpha1.UserScope{ID: "u", UserPrincipalName: "a@b"}}},
			wantErr: "exactly one of scope.user.id or scope.user.userPrincipalName must be set",
		},
		"interval too short": {
			spec: teamsv1alpha1.TeamsAppInstallationSpec{App: app, Scope: team,
				Interval: &metav1.Duration{Duration: 30 * time.Second}},
			wantErr: "interval must be between 1m and 168h",
		},
		"interval too long": {
			spec: teamsv1alpha1.TeamsAppInstallationSpec{App: app, Scope: team,
				Interval: &metav1.Duration{Duration: 169 * time.Hour}},
			wantErr: "interval must be between 1m and 168h",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := validateInstallationSpec(&tc.spec)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

func TestRequiredPermission(t *testing.T) {
	tests := map[string]struct {
		op      string
		kind    graph.ScopeKind
		consent bool
		want    string
	}{
		"catalog by id":       {op: "getCatalogApp", kind: graph.ScopeTeam, want: "AppCatalog.Read.All"},
		"catalog by external": {op: "listCatalogApps", kind: graph.ScopeUser, want: "AppCatalog.Read.All"},
		"user lookup":         {op: "getUser", kind: graph.ScopeUser, want: "User.Read.All"},
		"team install":        {op: "installApp", kind: graph.ScopeTeam, want: "TeamsAppInstallation.ReadWriteSelfForTeam.All (when the app's manifest has webApplicationInfo.id = the bot's app id; otherwise TeamsAppInstallation.ReadWriteForTeam.All)"},
		"user list":           {op: "listInstalledApps", kind: graph.ScopeUser, want: "TeamsAppInstallation.ReadWriteSelfForUser.All (when the app's manifest has webApplicationInfo.id = the bot's app id; otherwise TeamsAppInstallation.ReadWriteForUser.All)"},
		"chat upgrade":        {op: "upgradeApp", kind: graph.ScopeChat, want: "TeamsAppInstallation.ReadWriteSelfForChat.All (when the app's manifest has webApplicationInfo.id = the bot's app id; otherwise TeamsAppInstallation.ReadWriteForChat.All)"},
		"chat install with RSC": {op: "installApp", kind: graph.ScopeChat, consent: true,
			want: "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All (when the app's manifest has webApplicationInfo.id = the bot's app id; otherwise TeamsAppInstallation.ReadWriteAndConsentForChat.All)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(taiRequiredPermission(tc.op, tc.kind, tc.consent)).To(Equal(tc.want))
		})
	}
}

func TestJitterStaysWithinAQuarter(t *testing.T) {
	tests := map[string]struct {
		f    float64
		want time.Duration
	}{
		"lowest":  {f: 0, want: 75 * time.Second},
		"middle":  {f: 0.5, want: 100 * time.Second},
		"highest": {f: 0.999, want: 124950 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(taiJitter(100*time.Second, tc.f)).To(Equal(tc.want))
		})
	}
}

func TestPermissionsDiffer(t *testing.T) {
	read := teamsv1alpha1.ResourceSpecificPermission{PermissionValue: "ChatMessage.Read.Chat", PermissionType: "Application"}
	untyped := teamsv1alpha1.ResourceSpecificPermission{PermissionValue: "ChatMessage.Read.Chat"}
	member := teamsv1alpha1.ResourceSpecificPermission{PermissionValue: "ChatMember.Read.Chat", PermissionType: "Application"}
	gRead := graph.ResourceSpecificPermission{PermissionValue: "ChatMessage.Read.Chat", PermissionType: "Application"}
	tests := map[string]struct {
		spec []teamsv1alpha1.ResourceSpecificPermission
		have []graph.ResourceSpecificPermission
		want bool
	}{
		"spec asks for nothing":        {spec: nil, have: []graph.ResourceSpecificPermission{gRead}, want: false},
		"same set":                     {spec: []teamsv1alpha1.ResourceSpecificPermission{read}, have: []graph.ResourceSpecificPermission{gRead}},
		"type defaults to Application": {spec: []teamsv1alpha1.ResourceSpecificPermission{untyped}, have: []graph.ResourceSpecificPermission{gRead}},
		"one more in spec": {
			spec: []teamsv1alpha1.ResourceSpecificPermission{read, member}, have: []graph.ResourceSpecificPermission{gRead}, want: true},
		"nothing consented yet": {spec: []teamsv1alpha1.ResourceSpecificPermission{read}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(taiPermissionsDiffer(tc.spec, tc.have)).To(Equal(tc.want))
		})
	}
}

func TestPublishedVersion(t *testing.T) {
	tests := map[string]struct {
		defs []graph.AppDefinition
		want string
	}{
		"none":      {want: ""},
		"published": {defs: []graph.AppDefinition{{Version: "1.0.0", PublishingState: "published"}}, want: "1.0.0"},
		"a submitted update is not published yet": {defs: []graph.AppDefinition{
			{Version: "1.0.0", PublishingState: "published"}, {Version: "1.1.0", PublishingState: "submitted"}}, want: "1.0.0"},
		"the latest published wins": {defs: []graph.AppDefinition{
			{Version: "1.0.0", PublishingState: "published"}, {Version: "1.2.0", PublishingState: "published"}}, want: "1.2.0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(taiPublishedVersion(graph.TeamsApp{Definitions: tc.defs})).To(Equal(tc.want))
		})
	}
}

// TestHandleError checks the mapping of failures to conditions and results, which decides
// between retrying, waiting and asking a person.
func TestHandleError(t *testing.T) {
	graphErr := func(op string, status int) error {
		return fmt.Errorf("doing %s: %w", op, &msapi.APIError{API: msapi.APIGraph, Operation: op, Status: status,
			Code: "X", Message: "refused", RetryAfter: 2 * time.Second, HasRetryAfter: status == 429})
	}
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "teams.operator.dev", Resource: "teamsappinstallations"},
		"x", errors.New("changed"))
	tests := map[string]struct {
		err         error
		wantReason  string // "" : conditions untouched
		wantStalled bool
		wantResult  ctrl.Result
		wantErr     bool
	}{
		"stall asking for a spec change": {err: outcome.Stall(teamsv1alpha1.InvalidSpecReason, "bad"),
			wantReason: teamsv1alpha1.InvalidSpecReason, wantStalled: true},
		"stall fixed outside the cluster is checked again": {err: outcome.StallExternal(teamsv1alpha1.AppNotFoundReason, "x"),
			wantReason: teamsv1alpha1.AppNotFoundReason, wantStalled: true, wantResult: ctrl.Result{RequeueAfter: 3 * time.Minute}},
		"API server conflict requeues quietly": {err: fmt.Errorf("adding finalizer: %w", conflict),
			wantResult: ctrl.Result{RequeueAfter: time.Second}},
		"missing Secret waits for the watch": {err: &CredentialsError{Reason: teamsv1alpha1.CredentialsNotFoundReason, Message: "m"},
			wantReason: teamsv1alpha1.CredentialsNotFoundReason, wantStalled: true},
		"throttled waits Retry-After": {err: graphErr("installApp", 429),
			wantReason: teamsv1alpha1.ThrottledReason, wantResult: ctrl.Result{RequeueAfter: 2 * time.Second}},
		"forbidden is stalled and checked again soon (a grant takes a new token)": {err: graphErr("installApp", 403),
			wantReason: teamsv1alpha1.PermissionDeniedReason, wantStalled: true, wantResult: ctrl.Result{RequeueAfter: permissionRecheckMin}},
		"server error with Retry-After waits that long": {err: graphErr("listInstalledApps", 500),
			wantReason: teamsv1alpha1.ProgressingWithRetryReason, wantResult: ctrl.Result{RequeueAfter: 2 * time.Second}},
		"server error without Retry-After is retried with backoff": {err: &msapi.APIError{API: msapi.APIGraph,
			Operation: "listInstalledApps", Status: 503}, wantReason: teamsv1alpha1.ProgressingWithRetryReason, wantErr: true},
		"bad request outside install needs a spec change": {err: graphErr("upgradeApp", 400),
			wantReason: teamsv1alpha1.InvalidSpecReason, wantStalled: true},
		"network failure is retried": {err: &msapi.RequestError{API: msapi.APIGraph, Err: errors.New("refused")},
			wantReason: teamsv1alpha1.ProgressingWithRetryReason, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := &TeamsAppInstallationReconciler{Interval: 3 * time.Minute}
			obj := &teamsv1alpha1.TeamsAppInstallation{}
			obj.Spec.Scope.Team = &teamsv1alpha1.TeamScope{ID: "t"}
			res, err := r.handleError(context.Background(), &taiScope{obj: obj}, tc.err)
			g.Expect(res).To(Equal(tc.wantResult))
			g.Expect(err != nil).To(Equal(tc.wantErr))
			g.Expect(err != nil && !res.IsZero()).To(BeFalse(), "never a result together with an error")
			ready := meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition)
			if tc.wantReason == "" {
				g.Expect(ready).To(BeNil())
				return
			}
			g.Expect(ready.Reason).To(Equal(tc.wantReason))
			g.Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.StalledCondition)).To(Equal(tc.wantStalled))
		})
	}
}

func TestInstallBadRequestsGoTerminalAfterTheBudget(t *testing.T) {
	g := NewWithT(t)
	r := &TeamsAppInstallationReconciler{Interval: time.Minute}
	obj := &teamsv1alpha1.TeamsAppInstallation{}
	obj.UID = "uid-1"
	obj.Spec.Scope.Team = &teamsv1alpha1.TeamScope{ID: "t"}
	err := &msapi.APIError{API: msapi.APIGraph, Operation: "installApp", Status: 400, Code: "BadRequest"}
	for attempt := 1; attempt < 3; attempt++ {
		_, got := r.handleError(context.Background(), &taiScope{obj: obj}, err)
		g.Expect(got).To(HaveOccurred(), "attempt %d is retried", attempt)
		g.Expect(meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition).Reason).
			To(Equal(teamsv1alpha1.ProgressingWithRetryReason))
	}
	res, got := r.handleError(context.Background(), &taiScope{obj: obj}, err)
	g.Expect(got).NotTo(HaveOccurred())
	g.Expect(res.IsZero()).To(BeTrue())
	g.Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.StalledCondition)).To(BeTrue())
	g.Expect(meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition).Message).
		To(ContainSubstring("3 times"))
}

// observeFixture runs the observe step against a Graph fake, with deletionPolicy Orphan so
// that no finalizer write (and so no API server) is involved.
type observeFixture struct {
	r        *TeamsAppInstallationReconciler
	rec      *events.FakeRecorder
	lists    [][]graph.Installation // answers of successive ListInstalledApps calls (the last repeats)
	listed   int
	installs int
	install  error
}

func newObserveFixture(install error, lists ...[]graph.Installation) *observeFixture {
	rec := events.NewFakeRecorder(10)
	return &observeFixture{r: &TeamsAppInstallationReconciler{Recorder: rec, Interval: time.Minute}, rec: rec,
		lists: lists, install: install}
}

func (f *observeFixture) observe(obj *teamsv1alpha1.TeamsAppInstallation) (ctrl.Result, error) {
	fake := &graph.Fake{
		ListInstalledAppsFunc: func(context.Context, graph.Scope, string) ([]graph.Installation, error) {
			i := min(f.listed, len(f.lists)-1)
			f.listed++
			return f.lists[i], nil
		},
		InstallAppFunc: func(context.Context, graph.Scope, string, []graph.ResourceSpecificPermission) error {
			f.installs++
			return f.install
		},
	}
	s := &taiScope{obj: obj, clients: &Clients{Graph: fake}, app: graph.TeamsApp{ID: "app"},
		target: graph.Scope{Kind: graph.ScopeTeam, ID: "team"}, recordedInstallation: obj.Status.InstallationID}
	return f.r.handleError(context.Background(), s, f.r.observe(context.Background(), s))
}

func orphanObject() *teamsv1alpha1.TeamsAppInstallation {
	obj := &teamsv1alpha1.TeamsAppInstallation{}
	obj.UID = "uid-observe"
	obj.Spec.Scope.Team = &teamsv1alpha1.TeamScope{ID: "team"}
	obj.Spec.DeletionPolicy = teamsv1alpha1.DeletionPolicyOrphan
	return obj
}

func TestObserve(t *testing.T) {
	inst := graph.Installation{ID: "inst-1", Definition: graph.AppDefinition{Version: "1.2.3"}}
	conflict := &msapi.APIError{API: msapi.APIGraph, Operation: "installApp", Status: 409, Code: "Conflict"}

	t.Run("an existing installation is adopted without installing", func(t *testing.T) {
		g := NewWithT(t)
		f := newObserveFixture(nil, []graph.Installation{inst})
		obj := orphanObject()
		res, err := f.observe(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.IsZero()).To(BeTrue())
		g.Expect(f.installs).To(BeZero())
		g.Expect(obj.Status.InstallationID).To(Equal("inst-1"))
		g.Expect(obj.Status.Version).To(Equal("1.2.3"))
		g.Expect(f.rec.Events).To(Receive(ContainSubstring("Adopted")))
	})

	t.Run("a 409 on install means installed, and the installation is listed again", func(t *testing.T) {
		g := NewWithT(t)
		f := newObserveFixture(fmt.Errorf("installing: %w", conflict), nil, []graph.Installation{inst})
		obj := orphanObject()
		res, err := f.observe(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.IsZero()).To(BeTrue())
		g.Expect(f.installs).To(Equal(1))
		g.Expect(f.listed).To(Equal(2))
		g.Expect(obj.Status.InstallationID).To(Equal("inst-1"))
		g.Expect(f.rec.Events).NotTo(Receive(), "not adopted: the operator installed it")
	})

	t.Run("an install not listed yet is waited for, never repeated", func(t *testing.T) {
		g := NewWithT(t)
		f := newObserveFixture(nil, nil)
		obj := orphanObject()
		for range 3 {
			res, err := f.observe(obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.RequeueAfter).To(Equal(installPollInterval))
		}
		g.Expect(f.installs).To(Equal(1))
		g.Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(BeTrue())
	})

	t.Run("two installations are an adoption conflict", func(t *testing.T) {
		g := NewWithT(t)
		f := newObserveFixture(nil, []graph.Installation{inst, {ID: "inst-2"}})
		obj := orphanObject()
		_, err := f.observe(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.StalledCondition).Reason).
			To(Equal(teamsv1alpha1.AdoptionConflictReason))
		g.Expect(f.installs).To(BeZero())
	})

	t.Run("a missing installation that was recorded is installed again and announced", func(t *testing.T) {
		g := NewWithT(t)
		f := newObserveFixture(nil, nil, []graph.Installation{inst})
		obj := orphanObject()
		obj.UID = "uid-reinstall"
		obj.Status.InstallationID = "inst-1"
		_, err := f.observe(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.installs).To(Equal(1))
		g.Expect(f.rec.Events).To(Receive(ContainSubstring("Reinstalled")))
	})
}

func TestARecordedInstallationThatIsGoneIsForgotten(t *testing.T) {
	g := NewWithT(t)
	notFound := &msapi.APIError{API: msapi.APIGraph, Operation: "getInstallationChat", Status: 404, Code: "NotFound"}
	fake := &graph.Fake{GetInstallationChatFunc: func(context.Context, string, string) (string, error) { return "", notFound }}
	obj := &teamsv1alpha1.TeamsAppInstallation{}
	obj.Spec.Scope.User = &teamsv1alpha1.UserScope{ID: "user"}
	obj.Status.InstallationID, obj.Status.Version, obj.Status.ChatID = "old", "1.0.0", "19:old@unq.gbl.spaces"
	s := &taiScope{obj: obj, clients: &Clients{Graph: fake}, target: graph.Scope{Kind: graph.ScopeUser, ID: "user"},
		inst: &graph.Installation{ID: "new"}, recordedInstallation: "old"}

	r := &TeamsAppInstallationReconciler{}
	res, err := r.handleError(context.Background(), s, r.reportChat(context.Background(), s))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(time.Second), "observed again shortly")
	g.Expect(obj.Status.InstallationID).To(BeEmpty())
	g.Expect(obj.Status.ChatID).To(BeEmpty())
	g.Expect(obj.Status.Version).To(BeEmpty())
}
