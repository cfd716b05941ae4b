package alertmanager

import (
	"context"
	"net/http"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

func TestParseMatcher(t *testing.T) {
	g := NewWithT(t)
	// Examples of Alertmanager's matcher documentation
	// (https://prometheus.io/docs/alerting/latest/configuration/#matcher).
	for _, tc := range []struct {
		in    string
		lbls  map[string]string
		match bool
	}{
		{`foo = bar`, map[string]string{"foo": "bar"}, true},
		{`dings!=bums`, map[string]string{"dings": "bums"}, false},
		{`baz=~".*qux"`, map[string]string{"baz": "aqux"}, true},
		{`baz=~".*qux"`, map[string]string{"baz": "quxa"}, false},
		{`fizz!~"foobar|baz"`, map[string]string{"fizz": "foobar"}, false},
		{`fizz!~"foobar|baz"`, map[string]string{"fizz": "foo"}, true},
		{`severity="critical"`, map[string]string{}, false},
		{`severity!="critical"`, map[string]string{}, true},
		{`team=""`, map[string]string{}, true},
		{`msg="a \"quoted\" word"`, map[string]string{"msg": `a "quoted" word`}, true},
	} {
		m, err := ParseMatcher(tc.in)
		g.Expect(err).NotTo(HaveOccurred(), tc.in)
		g.Expect(m.Matches(tc.lbls)).To(Equal(tc.match), "%s on %v", tc.in, tc.lbls)
	}
	for _, bad := range []string{`foo`, `=bar`, `1foo=bar`, `foo<bar`, `foo=~"("`, `foo="unterminated`} {
		_, err := ParseMatcher(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

const routeYAML = `
routes:
  - matchers: ['severity="critical"']
    targets: [oncall]
    continue: true
  - matchers: ['team=~"db|storage"', 'env!="dev"']
    targets: [db]
  - matchers: ['team="db"']
    targets: [never]
default: [general]
personLabel: owner
`

// Overlapping rules: the first match wins unless it continues; the default takes the rest.
func TestRouteTargets(t *testing.T) {
	g := NewWithT(t)
	r, err := ParseRoute(routeYAML)
	g.Expect(err).NotTo(HaveOccurred())
	for _, tc := range []struct {
		lbls map[string]string
		want []string
	}{
		{map[string]string{"severity": "critical", "team": "db"}, []string{"oncall", "db"}},
		{map[string]string{"severity": "critical", "team": "web"}, []string{"oncall"}},
		{map[string]string{"team": "storage"}, []string{"db"}},
		{map[string]string{"team": "db", "env": "dev"}, []string{"never"}},
		{map[string]string{"team": "web"}, []string{"general"}},
	} {
		g.Expect(r.Targets(tc.lbls)).To(Equal(tc.want), "%v", tc.lbls)
	}
	for name, bad := range map[string]string{
		"not YAML":        `routes: [`,
		"unknown field":   `routes: [{matchers: [], targets: [a], proceed: true}]`,
		"bad matcher":     `routes: [{matchers: ['a~b'], targets: [a]}]`,
		"no targets":      `routes: [{matchers: ['a="b"']}]`,
		"bad target name": `default: [UPPER]`,
		"bad person":      `personLabel: "a b"`,
	} {
		_, err := ParseRoute(bad)
		g.Expect(err).To(HaveOccurred(), name)
	}
}

func routeFixture(t *testing.T, allowPeople bool) *fixture {
	t.Helper()
	targets := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "by-team"}, Data: map[string]string{RouteKey: routeYAML}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "broken-route"}, Data: map[string]string{RouteKey: "routes: ["}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS, Labels: map[string]string{"people": "yes"}}},
	}
	for _, name := range []string{"db", "general", "never"} {
		targets = append(targets, &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}})
	}
	f := newFixture(t, targets...)
	if allowPeople {
		f.handler = NewHandler(Options{Reader: f.client, Writer: f.client, RatePerSecond: 1e6,
			PersonNamespaces: labels.SelectorFromSet(labels.Set{"people": "yes"})})
	}
	return f
}

const amRoutePath = "/alertmanager/v1/namespaces/alerts/routes/by-team"

func groupWith(lbls map[string]string) *Payload {
	p := samplePayload(StatusFiring, 1)
	p.CommonLabels = lbls
	return p
}

func TestHandlerRoutes(t *testing.T) {
	g := NewWithT(t)
	f := routeFixture(t, false)
	list := func() []string {
		pms := &teamsv1alpha1.ProactiveMessageList{}
		g.Expect(f.client.List(context.Background(), pms)).To(Succeed())
		var out []string
		for _, pm := range pms.Items {
			out = append(out, pm.Spec.TargetRef.Name)
		}
		slices.Sort(out)
		return out
	}
	r := f.post(t, amRoutePath, testToken, mustJSON(t, groupWith(map[string]string{"severity": "critical", "team": "db", "alertname": "DiskFull"})))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(r.body.Result).To(Equal(ResultCreated))
	g.Expect(r.body.Messages).To(HaveLen(2))
	g.Expect(list()).To(Equal([]string{"db", "oncall"}), "the critical rule continues to the db rule")

	// The same group again: each target's message is found, nothing written.
	again := f.post(t, amRoutePath, testToken, mustJSON(t, groupWith(map[string]string{"severity": "critical", "team": "db", "alertname": "DiskFull"})))
	g.Expect(again.body.Result).To(Equal(ResultUnchanged))

	other := groupWith(map[string]string{"team": "web", "alertname": "Slow"})
	other.GroupKey = `{}:{alertname="Slow"}`
	g.Expect(f.post(t, amRoutePath, testToken, mustJSON(t, other)).code).To(Equal(http.StatusOK))
	g.Expect(list()).To(Equal([]string{"db", "general", "oncall"}), "no rule matched: the default")

	for name, tc := range map[string]struct {
		path       string
		wantCode   int
		wantReason string
	}{
		"no such route":  {"/alertmanager/v1/namespaces/alerts/routes/nope", 404, ReasonTargetNotFound},
		"broken route":   {"/alertmanager/v1/namespaces/alerts/routes/broken-route", 422, ReasonRoute},
		"bad route name": {"/alertmanager/v1/namespaces/alerts/routes/Bad_Name", 400, ReasonBadPath},
		"no token":       {"/alertmanager/v1/namespaces/other/routes/by-team", 401, ReasonUnauthorized},
	} {
		rej := f.post(t, tc.path, testToken, mustJSON(t, other))
		g.Expect(rej.code).To(Equal(tc.wantCode), name)
		g.Expect(rej.body.Reason).To(Equal(tc.wantReason), name)
	}
}

// A label naming a person reaches that person only where the namespace is allowed; elsewhere
// it is ignored and the answer says so.
func TestRoutePersonLabel(t *testing.T) {
	group := mustJSON(t, groupWith(map[string]string{"team": "web", "owner": "adele@contoso.example", "alertname": "Slow"}))
	t.Run("refused", func(t *testing.T) {
		g := NewWithT(t)
		f := routeFixture(t, false)
		r := f.post(t, amRoutePath, testToken, group)
		g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
		g.Expect(r.body.Warnings).To(ContainElement(ContainSubstring("may not address people by label")))
		cts := &teamsv1alpha1.ConversationTargetList{}
		g.Expect(f.client.List(context.Background(), cts)).To(Succeed())
		for _, ct := range cts.Items {
			g.Expect(ct.Spec.User).To(BeNil(), "no person target is created")
		}
	})
	t.Run("allowed", func(t *testing.T) {
		g := NewWithT(t)
		f := routeFixture(t, true)
		r := f.post(t, amRoutePath, testToken, group)
		g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
		g.Expect(r.body.Warnings).To(BeEmpty())
		g.Expect(r.body.Messages).To(HaveLen(2), "the default target and the person")
		cts := &teamsv1alpha1.ConversationTargetList{}
		g.Expect(f.client.List(context.Background(), cts)).To(Succeed())
		var person *teamsv1alpha1.ConversationTarget
		for i := range cts.Items {
			if cts.Items[i].Spec.User != nil {
				person = &cts.Items[i]
			}
		}
		g.Expect(person).NotTo(BeNil())
		g.Expect(person.Name).To(HavePrefix(personNamePrefix))
		g.Expect(person.Spec.User.UserPrincipalName).To(Equal("adele@contoso.example"))
		g.Expect(person.Labels).To(HaveKeyWithValue(ManagedByLabel, ManagedByValue))
		// Again: the receiver's target is reused.
		g.Expect(f.post(t, amRoutePath, testToken, group).body.Result).To(Equal(ResultUnchanged))
		// A value that is not a UPN is ignored, with a warning.
		odd := mustJSON(t, groupWith(map[string]string{"team": "web", "owner": "not a upn", "alertname": "Slow"}))
		g.Expect(f.post(t, amRoutePath, testToken, odd).body.Warnings).To(ContainElement(ContainSubstring("not a user principal name")))
	})
	t.Run("someone else's object holds the name", func(t *testing.T) {
		g := NewWithT(t)
		f := routeFixture(t, true)
		r := f.post(t, amRoutePath, testToken, group)
		g.Expect(r.code).To(Equal(http.StatusOK))
		cts := &teamsv1alpha1.ConversationTargetList{}
		g.Expect(f.client.List(context.Background(), cts)).To(Succeed())
		for i := range cts.Items {
			if ct := &cts.Items[i]; ct.Spec.User != nil {
				ct.Labels = nil
				g.Expect(f.client.Update(context.Background(), ct)).To(Succeed())
			}
		}
		g.Expect(f.post(t, amRoutePath, testToken, group).code).To(Equal(http.StatusConflict))
	})
}

// Every source can use a route: a Flux event's labels (kind, name, namespace, ...) choose the target.
func TestFluxRoute(t *testing.T) {
	g := NewWithT(t)
	f := routeFixture(t, false)
	r := f.post(t, "/flux/v1/namespaces/alerts/routes/by-team", testToken, helmEvent("error", "UpgradeFailed", "boom"))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
	g.Expect(pm.Spec.TargetRef.Name).To(Equal("general"))
}
