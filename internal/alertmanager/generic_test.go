package alertmanager

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// ciCard is a generic template set for a CI tool's run notifications.
var ciCard = map[string]string{
	TemplateKey: `{"type": "AdaptiveCard", "version": "1.5", "body": [
  {"type": "TextBlock", "weight": "Bolder", "text": {{ json (printf "%s #%v: %s" .Data.pipeline .Data.run (upper .Status)) }}},
  {"type": "TextBlock", "wrap": true, "text": {{ json .Data.message }}}
], "actions": [{"type": "Action.OpenUrl", "title": "Open run", "url": {{ json .Data.url }}}]}`,
	KeyTemplateKey:    `{{ .Data.pipeline }}/{{ .Data.run }}`,
	StatusTemplateKey: `{{ if eq .Data.state "passed" }}succeeded{{ else if eq .Data.state "running" }}progressing{{ else }}failed{{ end }}`,
	TitleTemplateKey:  `{{ .Data.pipeline }} #{{ .Data.run }}`,
}

func ciRun(state, message string) []byte {
	return []byte(`{"pipeline": "build", "run": 42, "state": "` + state + `", "message": "` + message +
		`", "url": "https://ci.example/build/42"}`)
}

func genericFixture(t *testing.T, templates map[string]map[string]string) *fixture {
	t.Helper()
	var objs []client.Object
	for name, data := range templates {
		objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}, Data: data})
	}
	return newFixture(t, objs...)
}

const genericPath = "/generic/v1/namespaces/alerts/targets/oncall"

// A run's notifications edit one message, keyed by the key template; the card, status and
// summary are the templates'.
func TestGenericLifecycle(t *testing.T) {
	g := NewWithT(t)
	f := genericFixture(t, map[string]map[string]string{"ci": ciCard})
	r := f.post(t, genericPath+"?template=ci", testToken, ciRun("running", "started by alice"))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(r.body.Result).To(Equal(ResultCreated))
	g.Expect(r.body.Name).To(HavePrefix("gn-"))
	pm := &teamsv1alpha1.ProactiveMessage{}
	get := func() *teamsv1alpha1.ProactiveMessage {
		g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
		return pm
	}
	g.Expect(get().Spec.Summary).To(Equal("[PROGRESSING] build #42"))
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, NoticeProgressing))
	g.Expect(pm.Annotations).To(HaveKeyWithValue(GroupKeyAnnotation, "build/42"))
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("build #42: PROGRESSING"))

	done := f.post(t, genericPath+"?template=ci", testToken, ciRun("passed", "all green"))
	g.Expect(done.body).To(Equal(response{Result: ResultUpdated, Name: r.body.Name}))
	g.Expect(cardText(t, get().Spec.AdaptiveCard)).To(ContainSubstring("all green"))
	g.Expect(pm.Spec.TTLAfterFinished).NotTo(BeNil())
}

// Without a key template, only an identical body finds the same message.
func TestGenericWithoutKey(t *testing.T) {
	g := NewWithT(t)
	f := genericFixture(t, map[string]map[string]string{"card-only": {TemplateKey: ciCard[TemplateKey]}})
	a := f.post(t, genericPath+"?template=card-only", testToken, ciRun("passed", "a"))
	g.Expect(a.body.Result).To(Equal(ResultCreated))
	g.Expect(f.post(t, genericPath+"?template=card-only", testToken, ciRun("passed", "a")).body.Result).To(Equal(ResultUnchanged))
	b := f.post(t, genericPath+"?template=card-only", testToken, ciRun("passed", "b"))
	g.Expect(b.body.Result).To(Equal(ResultCreated))
	g.Expect(b.body.Name).NotTo(Equal(a.body.Name))
}

// Bad input gets a clear 4xx; a bad template, within the budget, falls back to the built-in
// card, key, status or title and says so in the answer's warnings; the next request works.
func TestGenericRefusals(t *testing.T) {
	bad := func(key, text string) map[string]string {
		m := map[string]string{TemplateKey: ciCard[TemplateKey]}
		m[key] = text
		return m
	}
	f := genericFixture(t, map[string]map[string]string{
		"ci":         ciCard,
		"loops":      bad(TemplateKey, `{{ range 1000000000 }}{{ range 1000000000 }}x{{ end }}{{ end }}`),
		"megabytes":  bad(TemplateKey, `{{ range 100000 }}{{ printf "%1000s" "x" }}{{ end }}`),
		"huge-text":  bad(TemplateKey, strings.Repeat("x", 1<<20)),
		"key-loop":   bad(KeyTemplateKey, `{{ range 1000000000 }}k{{ end }}`),
		"long-key":   bad(KeyTemplateKey, `{{ range 5000 }}k{{ end }}`),
		"bad-status": bad(StatusTemplateKey, `not a label!`),
		"not-a-card": bad(TemplateKey, `{"hello": "world"}`),
		"no-card":    {KeyTemplateKey: "x"},
	})
	tests := map[string]struct {
		query, body string
		wantCode    int
		wantReason  string
		wantMsg     string
	}{
		"no template":          {query: "", wantCode: 400, wantReason: ReasonBadPath, wantMsg: "needs ?template=<ConfigMap>"},
		"missing ConfigMap":    {query: "?template=nope", wantCode: 422, wantReason: ReasonTemplate, wantMsg: "not found"},
		"no card key":          {query: "?template=no-card", wantCode: 200, wantMsg: `has no key "card.tmpl"`},
		"malformed JSON":       {query: "?template=ci", body: `{"pipeline":`, wantCode: 400, wantReason: ReasonMalformed, wantMsg: "malformed JSON"},
		"two JSON values":      {query: "?template=ci", body: `{} {}`, wantCode: 400, wantReason: ReasonMalformed, wantMsg: "more than one JSON value"},
		"a looping template":   {query: "?template=loops", wantCode: 200, wantMsg: "exceeds its budget"},
		"megabytes of output":  {query: "?template=megabytes", wantCode: 200, wantMsg: "exceeds its budget"},
		"a megabyte template":  {query: "?template=huge-text", wantCode: 200, wantMsg: "more than 65536"},
		"a looping key":        {query: "?template=key-loop", wantCode: 200, wantMsg: "key.tmpl: card template: the template exceeds its budget"},
		"a key too long":       {query: "?template=long-key", wantCode: 200, wantMsg: "longer than 4096"},
		"a status not a label": {query: "?template=bad-status", wantCode: 200, wantMsg: "is not a label value"},
		"not a card":           {query: "?template=not-a-card", wantCode: 200, wantMsg: "not an Adaptive Card"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			body := []byte(tc.body)
			if tc.body == "" {
				body = ciRun("passed", "ok")
			}
			start := time.Now()
			r := f.post(t, genericPath+tc.query, testToken, body)
			g.Expect(r.code).To(Equal(tc.wantCode), "%+v", r.body)
			g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "bounded by the template budget")
			if tc.wantCode == http.StatusOK {
				g.Expect(r.body.Warnings).To(ContainElement(And(ContainSubstring(tc.wantMsg), ContainSubstring("was used"))))
				return
			}
			g.Expect(r.body.Reason).To(Equal(tc.wantReason))
			g.Expect(r.body.Message).To(ContainSubstring(tc.wantMsg))
		})
	}
	g := NewWithT(t)
	g.Expect(f.post(t, genericPath+"?template=ci", testToken, ciRun("passed", "after the bombs")).code).To(Equal(http.StatusOK))
}
