package alertmanager

import (
	"context"
	"maps"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// A broken override never loses the notification: Alertmanager's group is shown with the
// built-in card (the same card as without ?template=), the answer's warnings say why, and
// teams_operator_receiver_template_fallbacks_total counts it. A missing ConfigMap is still a 422.
func TestBrokenCardTemplateFallsBackToBuiltin(t *testing.T) {
	for name, tc := range map[string]struct{ tmpl, want string }{
		"does not parse":               {"broken-card", `template ConfigMap alerts/broken-card: card.tmpl: card template: template: card.tmpl:1: unexpected "}" in operand; the built-in card was used`},
		"has no card.tmpl":             {"no-key", `template ConfigMap alerts/no-key has no key "card.tmpl"; the built-in card was used`},
		"renders a card Teams refuses": {"teams-refuses", `card.tmpl: card template: Teams would not render the card: $.body[0].type: `},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := genericFixture(t, map[string]map[string]string{"teams-refuses": {
				TemplateKey: `{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Marquee", "text": "x"}]}`}})
			before := testutil.ToFloat64(templateFallbacksTotal.WithLabelValues(SourceAlertmanager))
			payload := samplePayload(StatusFiring, 2)
			r := f.post(t, targetPath+"?template="+tc.tmpl, testToken, mustJSON(t, payload))
			g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
			g.Expect(r.body.Result).To(Equal(ResultCreated))
			g.Expect(r.body.Warnings).To(ConsistOf(ContainSubstring(tc.want)))
			g.Expect(testutil.ToFloat64(templateFallbacksTotal.WithLabelValues(SourceAlertmanager))).To(Equal(before + 1))
			pm := &teamsv1alpha1.ProactiveMessage{}
			g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
			builtin, err := BuiltinCard(NewView(payload, testNS, "oncall", DefaultLimits), DefaultLimits)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pm.Spec.AdaptiveCard).To(Equal(builtin))
			g.Expect(f.recorder.Events).NotTo(Receive(), "nothing was refused")
		})
	}
	g := NewWithT(t)
	r := newFixture(t).post(t, targetPath+"?template=missing", testToken, mustJSON(t, samplePayload(StatusFiring, 1)))
	g.Expect(r.code).To(Equal(http.StatusUnprocessableEntity), "a wrong URL is not a broken template")
}

// Generic JSON: a broken card template shows the body with the built-in card, under the title
// and status of the templates that work; a broken key template falls back to the body's hash.
func TestGenericBrokenTemplatesFallBack(t *testing.T) {
	g := NewWithT(t)
	broken := map[string]string{}
	maps.Copy(broken, ciCard)
	broken[TemplateKey] = `{{ range 1000000000 }}x{{ end }}`
	broken[KeyTemplateKey] = `{{ .Data.pipeline `
	f := genericFixture(t, map[string]map[string]string{"ci": broken})
	r := f.post(t, genericPath+"?template=ci", testToken, ciRun("running", "started by alice"))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(r.body.Warnings).To(ConsistOf(
		And(HavePrefix("template ConfigMap alerts/ci: key.tmpl: "), HaveSuffix("the default key was used")),
		And(ContainSubstring("card.tmpl: card template: the template exceeds its budget"), HaveSuffix("the built-in card was used"))))
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
	g.Expect(pm.Spec.Summary).To(Equal("[PROGRESSING] build #42"), "the title and status templates still work")
	g.Expect(pm.Annotations[GroupKeyAnnotation]).To(HavePrefix("body:"))
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(And(ContainSubstring("PROGRESSING: build #42"), ContainSubstring("started by alice")))
}

// CloudEvents: a broken key template keeps the event's own key (source and subject), so events
// about one subject still edit one message.
func TestCloudEventsBrokenKeyKeepsTheEventsKey(t *testing.T) {
	g := NewWithT(t)
	f := genericFixture(t, map[string]map[string]string{"ce": {
		TemplateKey:    `{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": {{ json .Data.Type }}}]}`,
		KeyTemplateKey: `{{ range 5000 }}k{{ end }}`,
	}})
	post := func() response {
		r := f.postWith(t, "/cloudevents/v1/namespaces/alerts/targets/oncall?template=ce",
			http.Header{"Content-Type": {"application/cloudevents+json"}}, []byte(ceStructured))
		g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
		return r.body
	}
	first := post()
	g.Expect(first.Warnings).To(ConsistOf(ContainSubstring("key.tmpl: the output is longer than 4096 characters; the default key was used")))
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: first.Name}, pm)).To(Succeed())
	g.Expect(pm.Annotations[GroupKeyAnnotation]).To(Equal("https://github.com/cloudevents/spec/pull 123"))
	g.Expect(post().Result).To(Equal(ResultUnchanged))
}
