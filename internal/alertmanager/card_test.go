package alertmanager

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

// cardText is every string in the card's JSON, joined, for "the card says ..." checks.
func cardText(t *testing.T, c *teamsv1alpha1.AdaptiveCard) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(mustJSON(t, c), &v); err != nil {
		t.Fatal(err)
	}
	var parts []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			parts = append(parts, x)
		}
	}
	walk(v)
	return strings.Join(parts, "\n")
}

func builtin(t *testing.T, p *Payload, lim Limits) (*teamsv1alpha1.AdaptiveCard, string) {
	t.Helper()
	card, err := BuiltinCard(NewView(p, "alerts", "oncall", lim), lim)
	if err != nil {
		t.Fatal(err)
	}
	return card, cardText(t, card)
}

func TestBuiltinCard(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := map[string]struct {
		payload  func() *Payload
		lim      Limits
		contains []string
		excludes []string
	}{
		"firing": {
			payload: func() *Payload { return samplePayload(StatusFiring, 2) },
			contains: []string{"FIRING:2 HighLatency", "critical", "2 firing, 0 resolved", "web-00 answers slowly",
				"p99 above 2s for 5m", "web-01", "https://runbooks.example/high-latency",
				"http://prometheus.example:9090/graph?g0.expr=up", "http://alertmanager.example:9093", "Attention",
				"since 2026-11-26 10:00 UTC"},
			excludes: []string{"more", "RESOLVED"},
		},
		"resolved": {
			payload:  func() *Payload { return samplePayload(StatusResolved, 1) },
			contains: []string{"RESOLVED:1 HighLatency", "Good", "0 firing, 1 resolved", "resolved 2026-11-26 11:00 UTC"},
			excludes: []string{"FIRING"},
		},
		"capped at MaxAlerts": {
			payload:  func() *Payload { return samplePayload(StatusFiring, 25) },
			contains: []string{"FIRING:25", "web-19", "and 5 more"},
			excludes: []string{"web-20", "web-24"},
		},
		"Alertmanager's truncated alerts count as more": {
			payload: func() *Payload {
				p := samplePayload(StatusFiring, 2)
				p.TruncatedAlerts = 7
				return p
			},
			contains: []string{"and 7 more"},
		},
		"long values truncated": {
			payload: func() *Payload {
				p := samplePayload(StatusFiring, 1)
				p.Alerts[0].Labels["pod"] = long
				p.Alerts[0].Annotations["description"] = long
				return p
			},
			contains: []string{strings.Repeat("x", 511) + "…"},
			excludes: []string{strings.Repeat("x", 513)},
		},
		"unsafe links dropped": {
			payload: func() *Payload {
				p := samplePayload(StatusFiring, 1)
				p.Alerts[0].GeneratorURL = "javascript:alert(1)"
				p.Alerts[0].Annotations["runbook_url"] = "/relative/path"
				p.ExternalURL = "ftp://alertmanager"
				return p
			},
			excludes: []string{"javascript:", "/relative/path", "ftp://", "Action.OpenUrl"},
		},
		"shrinks to the size cap": {
			payload: func() *Payload {
				p := samplePayload(StatusFiring, 20)
				for i := range p.Alerts {
					p.Alerts[i].Annotations["description"] = strings.Repeat("d", 500)
				}
				return p
			},
			lim:      Limits{MaxAlerts: 20, MaxValueLen: 512, MaxCardBytes: 8 * 1024},
			contains: []string{"FIRING:20", "web-00", "more"},
			excludes: []string{"web-19"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			lim := tc.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			card, text := builtin(t, tc.payload(), lim)
			for _, s := range tc.contains {
				g.Expect(text).To(ContainSubstring(s))
			}
			for _, s := range tc.excludes {
				g.Expect(text).NotTo(ContainSubstring(s))
			}
			g.Expect(len(mustJSON(t, card))).To(BeNumerically("<=", lim.MaxCardBytes))
			g.Expect(checkCard(card)).To(Succeed(), "the CRD's rules and Teams' size limit")
		})
	}
}

// The "and N more" line counts exactly the alerts the shrunk card leaves out.
func TestBuiltinCardMoreCountsWhatIsLeftOut(t *testing.T) {
	g := NewWithT(t)
	p := samplePayload(StatusFiring, 20)
	for i := range p.Alerts {
		p.Alerts[i].Annotations["description"] = strings.Repeat("d", 500)
	}
	_, text := builtin(t, p, Limits{MaxAlerts: 20, MaxValueLen: 512, MaxCardBytes: 8 * 1024})
	shown := len(regexp.MustCompile(`answers slowly`).FindAllString(text, -1))
	more := regexp.MustCompile(`and (\d+) more`).FindStringSubmatch(text)
	g.Expect(more).To(HaveLen(2))
	g.Expect(shown).To(BeNumerically(">", 0))
	g.Expect(more[1]).To(Equal(itoa(20 - shown)))
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A repeat in another order renders the same card, so it writes nothing.
func TestBuiltinCardIsStable(t *testing.T) {
	g := NewWithT(t)
	a := samplePayload(StatusFiring, 5)
	b := samplePayload(StatusFiring, 5)
	for i, j := 0, len(b.Alerts)-1; i < j; i, j = i+1, j-1 {
		b.Alerts[i], b.Alerts[j] = b.Alerts[j], b.Alerts[i]
	}
	b.Alerts[0].Status, a.Alerts[4].Status = StatusResolved, StatusResolved // same alert, resolved in both
	ca, _ := builtin(t, a, DefaultLimits)
	cb, _ := builtin(t, b, DefaultLimits)
	g.Expect(mustJSON(t, ca)).To(MatchJSON(mustJSON(t, cb)))
	g.Expect(sameJSON(ca, cb)).To(BeTrue())

	// Firing alerts come before resolved ones.
	text := cardText(t, ca)
	g.Expect(strings.Index(text, "web-03 answers")).To(BeNumerically("<", strings.Index(text, "web-04 answers")))
}

func TestSummary(t *testing.T) {
	g := NewWithT(t)
	g.Expect(NewView(samplePayload(StatusFiring, 3), "a", "b", DefaultLimits).Summary()).To(Equal("[FIRING:3] HighLatency"))
	g.Expect(NewView(samplePayload(StatusResolved, 2), "a", "b", DefaultLimits).Summary()).To(Equal("[RESOLVED:2] HighLatency"))
	p := samplePayload(StatusFiring, 1)
	p.CommonLabels["alertname"] = strings.Repeat("n", 3000)
	g.Expect([]rune(NewView(p, "a", "b", Limits{MaxAlerts: 1, MaxValueLen: 5000}).Summary())).To(HaveLen(1024))
}

const customTemplate = `{
  "type": "AdaptiveCard", "version": "1.4",
  "body": [
    {"type": "TextBlock", "text": {{ json (printf "%s: %s" (upper .Status) .Title) }}, "weight": "Bolder"},
    {"type": "TextBlock", "text": {{ json (printf "target %s/%s, severity %s" .Namespace .Target (title .Severity)) }}}
    {{- range .Alerts }},
    {"type": "TextBlock", "text": {{ json (truncate 12 .Annotations.summary) }}}
    {{- end }}
    {{- if .More }},
    {"type": "TextBlock", "text": {{ json (printf "and %d more" .More) }}}
    {{- end }}
  ]
}`

func TestRenderTemplate(t *testing.T) {
	tests := map[string]struct {
		template string
		alerts   int
		big      bool // 6000-rune descriptions, with the card caps lifted
		want     []string
		wantErr  string
	}{
		"custom card": {
			template: customTemplate, alerts: 32,
			want: []string{"FIRING: HighLatency", "target alerts/oncall, severity Critical", "web-00 answ…", "web-29 answ…", "and 2 more"},
		},
		"quotes and newlines escaped by json": {
			template: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":{{ json .GroupKey }}}]}`,
			alerts:   1, want: []string{`{}:{alertname="HighLatency"}`},
		},
		"parse error":      {template: `{{ .Status `, wantErr: "card template: template: mine:1: unclosed action"},
		"unknown function": {template: `{{ env "HOME" }}`, wantErr: `function "env" not defined`},
		"exec error":       {template: `{{ index .Alerts 99 }}`, alerts: 1, wantErr: "error calling index"},
		"not JSON":         {template: `FIRING`, alerts: 1, wantErr: "the output is not an Adaptive Card"},
		"two values":       {template: `{"type":"AdaptiveCard","version":"1.5"} {}`, alerts: 1, wantErr: "more than one JSON value"},
		"unknown property": {template: `{"type":"AdaptiveCard","version":"1.5","colour":"red"}`, alerts: 1, wantErr: `unknown field "colour"`},
		"wrong type":       {template: `{"type":"MessageCard","version":"1.5"}`, alerts: 1, wantErr: `type must be "AdaptiveCard"`},
		"version 1.6":      {template: `{"type":"AdaptiveCard","version":"1.6"}`, alerts: 1, wantErr: `version must be "1.0" to "1.5"`},
		"too many actions": {
			template: `{"type":"AdaptiveCard","version":"1.5","actions":[{{ range $i, $a := .Alerts }}{{ if $i }},{{ end }}{"type":"Action.OpenUrl","url":"https://x"}{{ end }}]}`,
			alerts:   21, wantErr: "actions has 21 elements",
		},
		"larger than Teams accepts": {
			template: `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"{{ range .Alerts }}{{ .Annotations.description }}{{ end }}"}]}`,
			alerts:   20, big: true, wantErr: "message too large",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := samplePayload(StatusFiring, max(tc.alerts, 1))
			lim := Limits{MaxAlerts: 30, MaxValueLen: 512, MaxCardBytes: 24 * 1024}
			if tc.big {
				lim.MaxValueLen, lim.MaxCardBytes = 10000, 100_000 // so Teams' size limit decides
				for i := range p.Alerts {
					p.Alerts[i].Annotations["description"] = strings.Repeat("y", 6000)
				}
			}
			tmpl, err := ParseTemplate("mine", tc.template)
			var card *teamsv1alpha1.AdaptiveCard
			if err == nil {
				card, err = RenderTemplate(tmpl, NewView(p, "alerts", "oncall", lim), lim)
			}
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(err).To(MatchError(ErrTemplate))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			text := cardText(t, card)
			for _, s := range tc.want {
				g.Expect(text).To(ContainSubstring(s))
			}
		})
	}
}

func TestName(t *testing.T) {
	g := NewWithT(t)
	n := Name(`{}:{alertname="A"}`, "oncall")
	g.Expect(n).To(MatchRegexp(`^am-[0-9a-f]{16}$`))
	g.Expect(validation.IsDNS1123Subdomain(n)).To(BeEmpty())
	g.Expect(Name(`{}:{alertname="A"}`, "oncall")).To(Equal(n), "the same group and target: the same object")
	g.Expect(Name(`{}:{alertname="B"}`, "oncall")).NotTo(Equal(n))
	g.Expect(Name(`{}:{alertname="A"}`, "platform")).NotTo(Equal(n))
	// The separator keeps (key+target) pairs apart that concatenate alike.
	g.Expect(Name("ab", "c")).NotTo(Equal(Name("a", "bc")))
}

func TestMessage(t *testing.T) {
	g := NewWithT(t)
	firing := NewView(samplePayload(StatusFiring, 1), "alerts", "oncall", DefaultLimits)
	card, err := BuiltinCard(firing, DefaultLimits)
	g.Expect(err).NotTo(HaveOccurred())
	pm := Message(firing, card, "", 24*time.Hour)
	g.Expect(pm.Namespace).To(Equal("alerts"))
	g.Expect(pm.Name).To(Equal(Name(firing.GroupKey, "oncall")))
	g.Expect(pm.Spec.TargetRef.Name).To(Equal("oncall"))
	g.Expect(pm.Spec.OnUpdate).To(Equal(teamsv1alpha1.OnUpdateEdit))
	g.Expect(pm.Spec.TTLAfterFinished).To(BeNil(), "a firing group's message must stay until it resolves")
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, StatusFiring))
	g.Expect(pm.Annotations).To(HaveKeyWithValue(GroupKeyAnnotation, firing.GroupKey))
	g.Expect(pm.Annotations).NotTo(HaveKey(TemplateAnnotation))
	g.Expect(delivery.Validate(&pm.Spec)).To(Succeed())

	resolved := NewView(samplePayload(StatusResolved, 1), "alerts", "oncall", DefaultLimits)
	rpm := Message(resolved, card, "my-card", 24*time.Hour)
	g.Expect(rpm.Name).To(Equal(pm.Name), "resolved edits the firing group's message")
	g.Expect(rpm.Spec.TTLAfterFinished.Duration).To(Equal(24 * time.Hour))
	g.Expect(rpm.Annotations).To(HaveKeyWithValue(TemplateAnnotation, "my-card"))
	g.Expect(Message(resolved, card, "", 0).Spec.TTLAfterFinished).To(BeNil())

	// apply: the same content changes nothing; a new card, status or template does.
	have := pm.DeepCopy()
	have.Labels["other"] = "kept"
	g.Expect(apply(have, pm.DeepCopy())).To(BeFalse())
	g.Expect(apply(have, rpm)).To(BeTrue())
	g.Expect(have.Labels).To(HaveKeyWithValue("other", "kept"))
	g.Expect(have.Labels).To(HaveKeyWithValue(StatusLabel, StatusResolved))
	g.Expect(have.Spec.TTLAfterFinished).NotTo(BeNil())
	g.Expect(apply(have, rpm.DeepCopy())).To(BeFalse())
	g.Expect(apply(have, Message(resolved, card, "", 24*time.Hour))).To(BeTrue(), "dropping the template is a change")
	g.Expect(have.Annotations).NotTo(HaveKey(TemplateAnnotation))
}
