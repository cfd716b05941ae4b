package alertmanager

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func templateCM(src string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "card",
		Labels: map[string]string{TemplateLabel: src}}, Data: data}
}

// noticeTemplate is a card every notice source renders (Flux, Argo CD, generic, CloudEvents).
const noticeTemplate = `{"type": "AdaptiveCard", "version": "1.5", "body": [
  {"type": "TextBlock", "text": {{ json (printf "%s: %s" (upper .Status) .Title) }}},
  {"type": "TextBlock", "text": {{ json .Text }}}]}`

// Working templates have no problem on each source's built-in sample (the documentation's
// payloads, samples.go) or on their own sample.json.
func TestCheckTemplatesAcceptsWorkingTemplates(t *testing.T) {
	ci := map[string]string{SampleKey: string(ciRun("passed", "all green"))}
	maps.Copy(ci, ciCard)
	for name, cm := range map[string]*corev1.ConfigMap{
		"alertmanager":                 templateCM(SourceAlertmanager, map[string]string{TemplateKey: customTemplate}),
		"grafana":                      templateCM(SourceGrafana, map[string]string{TemplateKey: customTemplate}),
		"flux":                         templateCM(SourceFlux, map[string]string{TemplateKey: noticeTemplate}),
		"argocd":                       templateCM(SourceArgoCD, map[string]string{TemplateKey: noticeTemplate}),
		"generic with its sample.json": templateCM(SourceGeneric, ci),
		"cloudevents": templateCM(SourceCloudEvents, map[string]string{TemplateKey: noticeTemplate,
			KeyTemplateKey: `{{ .Data.Source }}/{{ .Data.Subject }}`, TitleTemplateKey: `PR {{ .Data.Subject }}`}),
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(CheckTemplates(cm, DefaultLimits)).To(BeEmpty())
		})
	}
	// Every built-in sample is a body its source accepts.
	for src, body := range builtinSamples {
		g := NewWithT(t)
		g.Expect(json.Valid([]byte(body))).To(BeTrue(), src)
		g.Expect(CheckTemplates(templateCM(src, map[string]string{TemplateKey: noticeOrView(src)}), DefaultLimits)).To(BeEmpty(), src)
	}
}

func noticeOrView(src string) string {
	if src == SourceAlertmanager || src == SourceGrafana {
		return customTemplate
	}
	return noticeTemplate
}

// What the receiver would fall back on is each a problem naming the key, within the budget.
func TestCheckTemplatesReportsProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		data map[string]string
		want []string
	}{
		"not parsing": {SourceAlertmanager, map[string]string{TemplateKey: `{{ .Status `},
			[]string{`card.tmpl: card template: template: card.tmpl:1: unclosed action; the built-in card was used`}},
		"no card.tmpl": {SourceFlux, map[string]string{"card": noticeTemplate},
			[]string{`has no key "card.tmpl"; the built-in card was used`}},
		"a field Alertmanager's view lacks": {SourceAlertmanager, map[string]string{TemplateKey: `{{ .Nope }}`},
			[]string{`card.tmpl: card template: template: card.tmpl:1:3: executing "card.tmpl" at <.Nope>: can't evaluate field Nope`}},
		"a loop": {SourceGrafana, map[string]string{TemplateKey: `{{ range 1000000000 }}{{ range 1000000000 }}x{{ end }}{{ end }}`},
			[]string{"card.tmpl: card template: the template exceeds its budget"}},
		"megabytes": {SourceArgoCD, map[string]string{TemplateKey: `{{ range 100000 }}{{ printf "%1000s" "x" }}{{ end }}`},
			[]string{"card.tmpl: card template: the template exceeds its budget: its output is more than 262144 bytes"}},
		"a card Teams does not render": {SourceCloudEvents, map[string]string{
			TemplateKey: `{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Marquee"}]}`},
			[]string{`card.tmpl: card template: Teams would not render the card: $.body[0].type: `}},
		"not a card": {SourceFlux, map[string]string{TemplateKey: `{"hello": "world"}`},
			[]string{`card.tmpl: card template: the output is not an Adaptive Card: json: unknown field "hello"`}},
		"key, status and title": {SourceGeneric, map[string]string{TemplateKey: noticeTemplate,
			KeyTemplateKey: `{{ range 5000 }}k{{ end }}`, StatusTemplateKey: `not a label!`, TitleTemplateKey: `{{ template "x" }}`},
			[]string{`title.tmpl: card template: template: title.tmpl:1:12: executing "title.tmpl" at <{{template "x"}}>: template "x" not defined; the default title was used`,
				"key.tmpl: the output is longer than 4096 characters; the default key was used",
				`status.tmpl: status "not a label!" is not a label value`}},
		"a bad sample": {SourceAlertmanager, map[string]string{TemplateKey: customTemplate, SampleKey: `{"version": "3"}`},
			[]string{`sample.json: version must be "4"`}},
		"an unknown source": {"nagios", map[string]string{TemplateKey: customTemplate},
			[]string{`label alertmanager.teams.operator.dev/template must name a source (alertmanager, grafana, flux, argocd, generic, cloudevents), not "nagios"`}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			start := time.Now()
			got := CheckTemplates(templateCM(tc.src, tc.data), DefaultLimits)
			g.Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second), "bounded by the template budget")
			matchers := make([]any, len(tc.want))
			for i, w := range tc.want {
				matchers[i] = ContainSubstring(w)
			}
			g.Expect(got).To(ConsistOf(matchers...))
			for _, p := range got {
				g.Expect(p).NotTo(HavePrefix("template ConfigMap"), "the event is on the ConfigMap already")
				g.Expect(len(p)).To(BeNumerically("<", 2000))
			}
		})
	}
}

// A megabyte template is refused before it is parsed.
func TestCheckTemplatesBoundsTheText(t *testing.T) {
	g := NewWithT(t)
	got := CheckTemplates(templateCM(SourceGeneric, map[string]string{TemplateKey: strings.Repeat("x", 1<<20)}), DefaultLimits)
	g.Expect(got).To(ConsistOf(ContainSubstring("the template is 1048576 bytes, more than 65536")))
}

// docConfigMap is the ConfigMap of the yaml block of docs/sources.md whose first line is "# name".
func docConfigMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	g := NewWithT(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources.md"))
	g.Expect(err).NotTo(HaveOccurred())
	_, rest, ok := strings.Cut(string(doc), "```yaml\n# "+name+"\n")
	g.Expect(ok).To(BeTrue(), "docs/sources.md has the %s block", name)
	block, _, _ := strings.Cut(rest, "```")
	cm := &corev1.ConfigMap{}
	g.Expect(yaml.UnmarshalStrict([]byte(block), cm)).To(Succeed())
	return cm
}

// The documented template ConfigMaps pass the check: the labelled example, and the generic
// example with its documented run.json as the sample.
func TestCheckTemplatesOnTheDocsExamples(t *testing.T) {
	g := NewWithT(t)
	g.Expect(CheckTemplates(docConfigMap(t, "ci-card-checked.yaml"), DefaultLimits)).To(BeEmpty())
	ci := docConfigMap(t, "ci-card.yaml")
	ci.Labels = map[string]string{TemplateLabel: SourceGeneric}
	ci.Data[SampleKey] = string(ciRun("passed", "all green"))
	g.Expect(CheckTemplates(ci, DefaultLimits)).To(BeEmpty())
	// Broken, the same example is reported.
	ci.Data[StatusTemplateKey] = `{{ .Data.state`
	g.Expect(CheckTemplates(ci, DefaultLimits)).To(ConsistOf(HavePrefix("status.tmpl: card template: template: status.tmpl:1: unclosed action")))
}
