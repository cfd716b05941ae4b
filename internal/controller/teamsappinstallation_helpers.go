package controller

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
)

// validateInstallationSpec mirrors the CRD's CEL rules (same messages), for API servers
// that do not enforce them.
func validateInstallationSpec(spec *teamsv1alpha1.TeamsAppInstallationSpec) error {
	var errs []error
	if (spec.App.TeamsAppID != "") == (spec.App.ExternalID != "") {
		errs = append(errs, errors.New("exactly one of app.teamsAppId or app.externalId must be set"))
	}
	sc := spec.Scope
	n := 0
	for _, set := range []bool{sc.Team != nil, sc.User != nil, sc.Chat != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, errors.New("exactly one of scope.team, scope.user or scope.chat must be set"))
	}
	if sc.User != nil && (sc.User.ID != "") == (sc.User.UserPrincipalName != "") {
		errs = append(errs, errors.New("exactly one of scope.user.id or scope.user.userPrincipalName must be set"))
	}
	if spec.Interval != nil && (spec.Interval.Duration < time.Minute || spec.Interval.Duration > 168*time.Hour) {
		errs = append(errs, errors.New("interval must be between 1m and 168h"))
	}
	return errors.Join(errs...)
}

// scopeKind is the Graph scope kind the spec names.
func taiScopeKind(obj *teamsv1alpha1.TeamsAppInstallation) graph.ScopeKind {
	switch {
	case obj.Spec.Scope.User != nil:
		return graph.ScopeUser
	case obj.Spec.Scope.Chat != nil:
		return graph.ScopeChat
	}
	return graph.ScopeTeam
}

// taiScopeText names the scope for people: "team <id>", "user <upn or id>", "chat <id>".
func taiScopeText(obj *teamsv1alpha1.TeamsAppInstallation) string {
	sc := obj.Spec.Scope
	switch {
	case sc.Team != nil:
		return "team " + sc.Team.ID
	case sc.Chat != nil:
		return "chat " + sc.Chat.ID
	case sc.User != nil && sc.User.UserPrincipalName != "":
		return "user " + sc.User.UserPrincipalName
	case sc.User != nil:
		return "user " + sc.User.ID
	}
	return "an unset scope"
}

// taiPublishedVersion is the version of the app's latest published definition ("" if none).
func taiPublishedVersion(app graph.TeamsApp) string {
	version := ""
	for _, d := range app.Definitions {
		if d.PublishingState == "" || d.PublishingState == "published" {
			version = d.Version
		}
	}
	return version
}

// taiGraphPermissions converts the spec's RSC permissions (type defaults to Application).
func taiGraphPermissions(perms []teamsv1alpha1.ResourceSpecificPermission) []graph.ResourceSpecificPermission {
	if len(perms) == 0 {
		return nil
	}
	out := make([]graph.ResourceSpecificPermission, 0, len(perms))
	for _, p := range perms {
		t := p.PermissionType
		if t == "" {
			t = "Application"
		}
		out = append(out, graph.ResourceSpecificPermission{PermissionValue: p.PermissionValue, PermissionType: t})
	}
	return out
}

// taiPermissionsDiffer reports whether the spec asks for a consented set other than the
// installation's. An empty spec asks for nothing, so it never differs.
func taiPermissionsDiffer(spec []teamsv1alpha1.ResourceSpecificPermission, have []graph.ResourceSpecificPermission) bool {
	if len(spec) == 0 {
		return false
	}
	// Graph answers permissionType in lower case ("application"), whatever was sent
	// (team-get-installedapps, example "get the names of the RSC permissions consented").
	key := func(p graph.ResourceSpecificPermission) string {
		return strings.ToLower(p.PermissionValue + "/" + p.PermissionType)
	}
	want := make([]string, 0, len(spec))
	for _, p := range taiGraphPermissions(spec) {
		want = append(want, key(p))
	}
	got := make([]string, 0, len(have))
	for _, p := range have {
		got = append(got, key(p))
	}
	slices.Sort(want)
	slices.Sort(got)
	return !slices.Equal(slices.Compact(want), slices.Compact(got))
}

// jitter spreads d by ±25 %: f in [0, 1) maps to [0.75·d, 1.25·d).
func taiJitter(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * (0.75 + 0.5*f))
}

// taiCounter counts per object; safe for concurrent reconciles.
type taiCounter struct {
	mu sync.Mutex
	m  map[types.UID]int
}

func (c *taiCounter) inc(uid types.UID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.UID]int{}
	}
	c.m[uid]++
	return c.m[uid]
}

func (c *taiCounter) reset(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, uid)
}

// taiTimes remembers one time per object; safe for concurrent reconciles.
type taiTimes struct {
	mu sync.Mutex
	m  map[types.UID]time.Time
}

func (t *taiTimes) get(uid types.UID) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.m[uid]
	return at, ok
}

func (t *taiTimes) set(uid types.UID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[types.UID]time.Time{}
	}
	t.m[uid] = at
}

func (t *taiTimes) reset(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, uid)
}
