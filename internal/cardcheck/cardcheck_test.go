package cardcheck_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

func TestCardsTeamsRejects(t *testing.T) {
	cases := map[string]struct {
		card string
		path string
		text string
	}{
		"unknown element": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"a"},{"type":"Carousel","pages":[]}]}`,
			path: "$.body[1].type", text: `element type "Carousel"`,
		},
		"unknown element in a column": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"Badge"}]}]}]}`,
			path: "$.body[0].columns[0].items[0].type", text: `"Badge"`,
		},
		"unknown element whose fallback is unknown too": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Foo","fallback":{"type":"Bar"}}]}`,
			path: "$.body[0].fallback.type", text: `"Bar"`,
		},
		"version 1.6": {
			card: `{"type":"AdaptiveCard","version":"1.6","body":[{"type":"TextBlock","text":"a"}]}`,
			path: "$.version", text: "1.6 is newer than Teams renders",
		},
		"version 1.10 is newer than 1.5": {
			card: `{"type":"AdaptiveCard","version":"1.10"}`,
			path: "$.version", text: "newer than Teams renders",
		},
		"version 2.0":   {card: `{"type":"AdaptiveCard","version":"2.0"}`, path: "$.version", text: "newer"},
		"no version":    {card: `{"type":"AdaptiveCard"}`, path: "$.version", text: "must name its schema version"},
		"not a version": {card: `{"type":"AdaptiveCard","version":"latest"}`, path: "$.version", text: "not a schema version"},
		"not a card":    {card: `{"type":"HeroCard","version":"1.5"}`, path: "$.type", text: `not "HeroCard"`},
		"Action.Http, which only Outlook runs": {
			card: `{"type":"AdaptiveCard","version":"1.5","actions":[{"type":"Action.Http","method":"POST","url":"https://example.com"}]}`,
			path: "$.actions[0].type", text: `action type "Action.Http"`,
		},
		"an unsupported action inside a ShowCard": {
			card: `{"type":"AdaptiveCard","version":"1.5","actions":[{"type":"Action.ShowCard","title":"more","card":{"type":"AdaptiveCard","actions":[{"type":"Action.Http"}]}}]}`,
			path: "$.actions[0].card.actions[0].type", text: `"Action.Http"`,
		},
		"an unsupported action in an ActionSet": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"ActionSet","actions":[{"type":"Action.ResetInputs"}]}]}`,
			path: "$.body[0].actions[0].type", text: `"Action.ResetInputs"`,
		},
		"ShowCard as a selectAction": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Container","items":[],"selectAction":{"type":"Action.ShowCard"}}]}`,
			path: "$.body[0].selectAction.type", text: "cannot be a selectAction",
		},
		"a mention whose text is missing from the card": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hello Ada"}],
			        "msteams":{"entities":[{"type":"mention","text":"<at>Ada</at>","mentioned":{"id":"29:1","name":"Ada"}}]}}`,
			path: "$.msteams.entities[0].text", text: "<at>Ada</at> appears in no TextBlock",
		},
		"a mention only in a RichTextBlock, where Teams shows none": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"RichTextBlock","inlines":[{"type":"TextRun","text":"<at>Ada</at>"}]}],
			        "msteams":{"entities":[{"type":"mention","text":"<at>Ada</at>","mentioned":{"id":"29:1","name":"Ada"}}]}}`,
			path: "$.msteams.entities[0].text", text: "appears in no TextBlock",
		},
		"a mention without a user": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"<at>Ada</at>"}],
			        "msteams":{"entities":[{"type":"mention","text":"<at>Ada</at>","mentioned":{"name":"Ada"}}]}}`,
			path: "$.msteams.entities[0].mentioned.id", text: "names no user id",
		},
		"an element that is not an object": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":["text"]}`, path: "$.body[0]", text: "JSON object",
		},
		"nesting without end": {
			card: `{"type":"AdaptiveCard","version":"1.5","body":[` + strings.Repeat(`{"type":"Container","items":[`, 40) +
				strings.Repeat(`]}`, 40) + `]}`,
			path: "$.body[0]", text: "nest more than 32 deep",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := cardcheck.Card([]byte(tc.card))
			var ce *cardcheck.Error
			g.Expect(errors.As(err, &ce)).To(BeTrue(), "Teams would not render this card: %v", err)
			g.Expect(ce.Problems[0].Path).To(HavePrefix(tc.path))
			g.Expect(ce.Problems[0].Message).To(ContainSubstring(tc.text))
			g.Expect(err.Error()).To(HavePrefix(ce.Problems[0].Path + ": "))
		})
	}
}

func TestProblemsListsEveryOne(t *testing.T) {
	g := NewWithT(t)
	err := cardcheck.Card([]byte(`{"type":"AdaptiveCard","version":"1.6","body":[{"type":"Badge"}]}`))
	g.Expect(err).To(MatchError(ContainSubstring("(and 1 more)")))
	g.Expect(cardcheck.Problems(err)).To(HaveExactElements(HavePrefix("$.version: "), HavePrefix("$.body[0].type: ")))
	g.Expect(cardcheck.Problems(errors.Join(err, errors.New("other")))).To(HaveLen(3))
	g.Expect(cardcheck.Problems(nil)).To(BeEmpty())
}

func TestCardsTeamsAccepts(t *testing.T) {
	cases := map[string]string{
		"every 1.5 element and action": `{"type":"AdaptiveCard","version":"1.5","body":[
			{"type":"TextBlock","text":"Hi <at>Ada</at>"},
			{"type":"Image","url":"https://example.com/a.png","selectAction":{"type":"Action.OpenUrl","url":"https://example.com"}},
			{"type":"Media","sources":[{"mimeType":"video/mp4","url":"https://example.com/v.mp4"}]},
			{"type":"RichTextBlock","inlines":["plain",{"type":"TextRun","text":"run"}]},
			{"type":"Container","items":[{"type":"FactSet","facts":[{"title":"Owner","value":"<at>Bo</at>"}]}]},
			{"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"ImageSet","images":[]}]},{"items":[]}]},
			{"type":"Table","columns":[{"width":1}],"rows":[{"type":"TableRow","cells":[{"type":"TableCell","items":[{"type":"TextBlock","text":"c"}]}]}]},
			{"type":"ActionSet","actions":[{"type":"Action.ToggleVisibility","targetElements":["x"]}]},
			{"type":"Input.Text","id":"t"},{"type":"Input.Number","id":"n"},{"type":"Input.Date","id":"d"},
			{"type":"Input.Time","id":"ti"},{"type":"Input.Toggle","id":"to","title":"t"},{"type":"Input.ChoiceSet","id":"c","choices":[]},
			{"type":"CodeBlock","codeSnippet":"x"},{"type":"Chart.Donut","data":[]},{"type":"Icon","name":"Alert"}
		],"actions":[
			{"type":"Action.OpenUrl","url":"https://example.com"},{"type":"Action.Submit","data":{}},
			{"type":"Action.Execute","verb":"ack"},
			{"type":"Action.ShowCard","card":{"type":"AdaptiveCard","body":[{"type":"Input.Text","id":"c"}],"actions":[{"type":"Action.Submit"}]}}
		],"msteams":{"width":"Full","entities":[
			{"type":"mention","text":"<at>Ada</at>","mentioned":{"id":"29:1","name":"Ada"}},
			{"type":"mention","text":"<at>Bo</at>","mentioned":{"id":"bo@contoso.com","name":"Bo"}}
		]}}`,
		"version 1.0":                        `{"type":"AdaptiveCard","version":"1.0","body":[{"type":"TextBlock","text":"a"}]}`,
		"an unknown element with a fallback": `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Carousel","fallback":{"type":"TextBlock","text":"a"}}]}`,
		"an unknown element dropped":         `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Carousel","fallback":"drop"}]}`,
		"an unknown action with a fallback":  `{"type":"AdaptiveCard","version":"1.5","actions":[{"type":"Action.Popover","fallback":{"type":"Action.OpenUrl","url":"https://example.com"}}]}`,
	}
	for name, card := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(cardcheck.Card([]byte(card))).To(Succeed())
		})
	}
}

// Every card in the samples and the docs, as the manager would send it, passes.
func TestSamplesAndDocsPass(t *testing.T) {
	g := NewWithT(t)
	var specs []teamsv1alpha1.ProactiveMessageSpec
	files, err := filepath.Glob("../../config/samples/*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range files {
		specs = append(specs, messagesIn(t, f, readFile(t, f))...)
	}
	docs, err := filepath.Glob("../../docs/*.md")
	g.Expect(err).NotTo(HaveOccurred())
	block := regexp.MustCompile("(?s)```ya?ml\n(.*?)```")
	for _, f := range append(docs, "../../README.md") {
		for _, m := range block.FindAllStringSubmatch(readFile(t, f), -1) {
			specs = append(specs, messagesIn(t, f, m[1])...)
		}
	}
	cards := 0
	for _, spec := range specs {
		if spec.AdaptiveCard == nil {
			continue
		}
		cards++
		a, err := delivery.BuildActivity(&spec)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cardcheck.Activity(a)).To(Succeed())
	}
	g.Expect(cards).To(BeNumerically(">", 0), "the samples have a card")
}

// The Alertmanager receiver's built-in card passes.
func TestAlertmanagerCardPasses(t *testing.T) {
	g := NewWithT(t)
	p := &alertmanager.Payload{Status: "firing", Receiver: "teams", GroupLabels: map[string]string{"alertname": "Disk"},
		CommonLabels: map[string]string{"alertname": "Disk", "severity": "critical"}, ExternalURL: "https://am.example.com",
		Alerts: []alertmanager.Alert{{Status: "firing", Labels: map[string]string{"alertname": "Disk"},
			Annotations: map[string]string{"summary": "disk full"}, StartsAt: time.Unix(1700000000, 0),
			GeneratorURL: "https://prom.example.com/graph"}}}
	card, err := alertmanager.BuiltinCard(alertmanager.NewView(p, "ns", "target", alertmanager.DefaultLimits), alertmanager.DefaultLimits)
	g.Expect(err).NotTo(HaveOccurred())
	a, err := delivery.BuildActivity(&teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: card})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cardcheck.Activity(a)).To(Succeed())
}

func TestActivityChecksSize(t *testing.T) {
	g := NewWithT(t)
	spec := &teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5",
		FallbackText: strings.Repeat("é", 60*1024)}}
	a, err := delivery.BuildActivity(spec)
	g.Expect(err).NotTo(HaveOccurred())
	err = cardcheck.Activity(a)
	g.Expect(err).To(MatchError(ContainSubstring("as Teams counts it (UTF-16)")))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// messagesIn returns the ProactiveMessage specs in a YAML stream.
func messagesIn(t *testing.T, name, stream string) []teamsv1alpha1.ProactiveMessageSpec {
	t.Helper()
	var out []teamsv1alpha1.ProactiveMessageSpec
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(stream, -1) {
		var m teamsv1alpha1.ProactiveMessage
		if !strings.Contains(doc, "kind: ProactiveMessage") {
			continue
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Logf("%s: skipping a YAML block that does not parse: %v", name, err)
			continue
		}
		out = append(out, m.Spec)
	}
	return out
}
