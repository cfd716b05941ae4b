package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// sourceCase is one endpoint with a body its sender documents (cited where each is defined:
// samplePayload is Alertmanager's format, grafanaDocsPayload Grafana's docs, fluxDocsEvent
// Flux's docs, builtinSamples[argocd] docs/sources.md's Argo CD body, ciRun docs/sources.md's
// run.json, ceStructured the CloudEvents spec's example).
type sourceCase struct {
	path   string
	header http.Header
	body   func(t *testing.T) []byte
}

func everySource() map[string]sourceCase {
	ce := http.Header{"Content-Type": {"application/cloudevents+json"}}
	return map[string]sourceCase{
		SourceAlertmanager: {targetPath, nil, func(t *testing.T) []byte { return mustJSON(t, samplePayload(StatusFiring, 2)) }},
		SourceGrafana:      {grafanaPath, nil, func(*testing.T) []byte { return []byte(grafanaDocsPayload) }},
		SourceFlux:         {fluxPath, nil, func(*testing.T) []byte { return []byte(fluxDocsEvent) }},
		SourceArgoCD:       {argoPath, nil, func(*testing.T) []byte { return []byte(builtinSamples[SourceArgoCD]) }},
		SourceGeneric:      {genericPath + "?template=ci", nil, func(*testing.T) []byte { return ciRun("passed", "ok") }},
		SourceCloudEvents:  {"/cloudevents/v1/namespaces/alerts/targets/oncall", ce, func(*testing.T) []byte { return []byte(ceStructured) }},
	}
}

// Bad input for every endpoint gets a clear 4xx and writes nothing, and the same endpoint then
// takes its sender's documented body: malformed JSON, another source's body (a wrong version
// or shape), a body over the cap, a JSON array (many events where one is expected).
func TestEverySourceRefusesBadInput(t *testing.T) {
	f := genericFixture(t, map[string]map[string]string{"ci": ciCard})
	for name, src := range everySource() {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			good := src.body(t)
			other := []byte(fluxDocsEvent)
			if name == SourceFlux {
				other = mustJSON(t, samplePayload(StatusFiring, 1))
			}
			for bad, tc := range map[string]struct {
				body   []byte
				code   int
				reason string
			}{
				"malformed JSON":        {good[:len(good)/2], http.StatusBadRequest, ReasonMalformed},
				"oversized body":        {append(bytes.Clone(good), bytes.Repeat([]byte(" "), 64<<10)...), http.StatusRequestEntityTooLarge, ReasonTooLarge},
				"an array of bodies":    {[]byte("[" + string(good) + "," + string(good) + "]"), http.StatusBadRequest, ReasonMalformed},
				"another source's body": {other, http.StatusBadRequest, ReasonMalformed},
			} {
				if name == SourceGeneric && (bad == "an array of bodies" || bad == "another source's body") {
					continue // generic JSON takes any JSON: its templates decide
				}
				before := f.writes.Load()
				r := f.postWith(t, src.path, src.header, tc.body)
				g.Expect(r.code).To(Equal(tc.code), "%s: %+v", bad, r.body)
				g.Expect(r.body.Reason).To(Equal(tc.reason), bad)
				g.Expect(r.body.Message).NotTo(BeEmpty(), "%s: the answer says what is wrong", bad)
				g.Expect(f.writes.Load()).To(Equal(before), "%s: nothing written", bad)
			}
			r := f.postWith(t, src.path, src.header, good)
			g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
		})
	}
}

// A card template that loops or renders megabytes, named by any source's URL, is stopped by the
// budget: the notification is shown with the built-in card, within a bounded time.
func TestEverySourceBoundsTemplateBombs(t *testing.T) {
	bombs := map[string]string{
		"loops":     `{{ range 1000000000 }}{{ range 1000000000 }}x{{ end }}{{ end }}`,
		"megabytes": `{{ range 100000 }}{{ printf "%1000s" "x" }}{{ end }}`,
	}
	cms := map[string]map[string]string{"ci": ciCard}
	for name, text := range bombs {
		cms[name] = map[string]string{TemplateKey: text, KeyTemplateKey: ciCard[KeyTemplateKey]}
	}
	f := genericFixture(t, cms)
	for name, src := range everySource() {
		for bomb := range bombs {
			t.Run(name+" "+bomb, func(t *testing.T) {
				g := NewWithT(t)
				path := strings.Replace(src.path, "?template=ci", "", 1) + "?template=" + bomb
				start := time.Now()
				r := f.postWith(t, path, src.header, src.body(t))
				g.Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
				g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
				g.Expect(r.body.Warnings).To(ContainElement(And(ContainSubstring("the template exceeds its budget"),
					HaveSuffix("the built-in card was used"))))
			})
		}
	}
}

// Too many alerts in one group (Alertmanager, Grafana) is a bounded card: the first 20 and
// "and N more", within the card's size cap.
func TestManyAlertsAreABoundedCard(t *testing.T) {
	grafana := map[string]any{}
	NewWithT(t).Expect(json.Unmarshal([]byte(grafanaDocsPayload), &grafana)).To(Succeed())
	alerts := grafana["alerts"].([]any)
	for len(alerts) < 60 {
		alerts = append(alerts, alerts[len(alerts)%2])
	}
	grafana["alerts"] = alerts
	for name, tc := range map[string]struct {
		path string
		body []byte
		more string
	}{
		SourceAlertmanager: {targetPath, mustJSON(t, samplePayload(StatusFiring, 150)), "and 130 more"},
		SourceGrafana:      {grafanaPath, mustJSON(t, grafana), "and 40 more"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			g.Expect(len(tc.body)).To(BeNumerically("<", 64<<10), "under the fixture's body cap")
			r := f.postWith(t, tc.path, nil, tc.body)
			g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
			pm := f.message(t, r.body.Name)
			g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring(tc.more))
			b, err := json.Marshal(pm.Spec.AdaptiveCard)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(len(b)).To(BeNumerically("<=", DefaultLimits.MaxCardBytes))
		})
	}
}

func (f *fixture) message(t *testing.T, name string) *teamsv1alpha1.ProactiveMessage {
	t.Helper()
	pm := &teamsv1alpha1.ProactiveMessage{}
	NewWithT(t).Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
	return pm
}
