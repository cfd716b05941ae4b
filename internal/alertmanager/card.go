package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

// Limits keep a card readable and within what Teams and the API server accept.
type Limits struct {
	// MaxAlerts is the most alerts a card lists; the rest are "and N more".
	MaxAlerts int
	// MaxValueLen caps each label and annotation value, in runes.
	MaxValueLen int
	// MaxCardBytes caps the built-in card's JSON; alerts are dropped from the list until it fits.
	MaxCardBytes int
	// Template bounds each execution of a user's card template; zero: DefaultTemplateBudget.
	Template TemplateBudget
}

// DefaultLimits: 20 alerts, 512-rune values, and 24 KiB of card, under the ~28 KB Teams gives
// cards sent through connectors and far under the ~100 KB bot message limit
// (delivery.MaxActivityBytes), so a card never fails at Teams for its size.
var DefaultLimits = Limits{MaxAlerts: 20, MaxValueLen: 512, MaxCardBytes: 24 * 1024}

// View is what a card template sees: the notification, with its alerts sorted (firing first,
// then by start time and labels), capped and their values truncated.
type View struct {
	// Namespace and Target name the ConversationTarget the message goes to.
	Namespace, Target string
	// Status is the group's status: firing or resolved.
	Status            string
	Receiver          string
	GroupKey          string
	Title, Severity   string
	Firing, Resolved  int
	GroupLabels       map[string]string
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	ExternalURL       string
	// Alerts are the alerts shown.
	Alerts []Alert
	// More counts the alerts not shown: over MaxAlerts, or left out by Alertmanager.
	More int
	// Source is the sender: "alertmanager" or "grafana".
	Source string
	// exactCommonLabels are the common labels as sent (not truncated): a silence's matchers.
	exactCommonLabels map[string]string
}

// NewView sorts, caps and truncates the payload's alerts for a card.
func NewView(p *Payload, namespace, target string, lim Limits) *View {
	firing, resolved := p.Counts()
	alerts := make([]Alert, len(p.Alerts))
	for i, a := range p.Alerts {
		a.Labels = truncateValues(a.Labels, lim.MaxValueLen)
		a.Annotations = truncateValues(a.Annotations, lim.MaxValueLen)
		alerts[i] = a
	}
	// Alertmanager's order may change between notifications; the card must not, or every
	// repeat would be an edit.
	slices.SortStableFunc(alerts, func(a, b Alert) int {
		if a.Status != b.Status {
			if a.Status == StatusFiring {
				return -1
			}
			return 1
		}
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(labelString(a.Labels), labelString(b.Labels))
	})
	more := p.TruncatedAlerts
	if len(alerts) > lim.MaxAlerts {
		more += len(alerts) - lim.MaxAlerts
		alerts = alerts[:lim.MaxAlerts]
	}
	return &View{
		Namespace: namespace, Target: target, Status: p.Status, Receiver: p.Receiver, GroupKey: p.GroupKey,
		Title: truncate(p.Title(), lim.MaxValueLen), Severity: truncate(p.Severity(), lim.MaxValueLen),
		Firing: firing, Resolved: resolved,
		GroupLabels:       truncateValues(p.GroupLabels, lim.MaxValueLen),
		CommonLabels:      truncateValues(p.CommonLabels, lim.MaxValueLen),
		CommonAnnotations: truncateValues(p.CommonAnnotations, lim.MaxValueLen),
		ExternalURL:       p.ExternalURL, Alerts: alerts, More: more, Source: p.sourceName(),
		exactCommonLabels: p.CommonLabels,
	}
}

// Summary is the message's activity-feed text, e.g. "[FIRING:2] HighLatency".
func (v *View) Summary() string {
	n := v.Firing
	if v.Status == StatusResolved {
		n = v.Resolved
	}
	return truncate(fmt.Sprintf("[%s:%d] %s", strings.ToUpper(v.Status), n, v.Title), 1024)
}

// BuiltinCard renders the built-in card, listing fewer alerts until it fits lim.MaxCardBytes.
func BuiltinCard(v *View, lim Limits) (*teamsv1alpha1.AdaptiveCard, error) {
	shown := *v
	for {
		card := builtinCard(&shown)
		b, err := json.Marshal(card)
		if err != nil {
			return nil, fmt.Errorf("encoding the card: %w", err)
		}
		if len(b) <= lim.MaxCardBytes {
			return card, nil
		}
		if len(shown.Alerts) == 0 {
			return nil, fmt.Errorf("the card is %d bytes even without alerts, more than %d", len(b), lim.MaxCardBytes)
		}
		// Drop a quarter of the list (at least one) per round: few rounds, and the card stays close to the limit.
		drop := max(1, len(shown.Alerts)/4)
		shown.Alerts = shown.Alerts[:len(shown.Alerts)-drop]
		shown.More += drop
	}
}

func builtinCard(v *View) *teamsv1alpha1.AdaptiveCard {
	style, color, word := "attention", "Attention", "FIRING"
	count := v.Firing
	if v.Status == StatusResolved {
		style, color, word = "good", "Good", "RESOLVED"
		count = v.Resolved
	}
	body := []any{
		map[string]any{kType: "Container", "style": style, "bleed": true, "items": []any{
			textBlock(fmt.Sprintf("%s:%d %s", word, count, v.Title), map[string]any{
				"weight": "Bolder", "size": "Large", "color": color}),
		}},
	}
	facts := []fact{}
	if v.Severity != "" {
		facts = append(facts, fact{"Severity", v.Severity})
	}
	facts = append(facts, fact{"Alerts", fmt.Sprintf("%d firing, %d resolved", v.Firing, v.Resolved)})
	for _, k := range sortedKeys(v.GroupLabels) {
		facts = append(facts, fact{k, v.GroupLabels[k]})
	}
	body = append(body, factSet(facts))
	for _, a := range v.Alerts {
		body = append(body, alertContainer(a))
	}
	if v.More > 0 {
		body = append(body, textBlock(fmt.Sprintf("and %d more", v.More), map[string]any{"isSubtle": true, "separator": true}))
	}
	card := &teamsv1alpha1.AdaptiveCard{
		Type: "AdaptiveCard", Version: "1.5",
		Body:         rawList(body),
		FallbackText: v.Summary(),
		MSTeams:      raw(map[string]any{"width": "Full"}),
	}
	if u, ok := safeURL(v.ExternalURL); ok {
		card.Actions = rawList([]any{openURL("Open "+sourceTitle(v.Source), u)})
	}
	return card
}

func alertContainer(a Alert) map[string]any {
	name := a.Labels["alertname"]
	if name == "" {
		name = "alert"
	}
	since := "since " + a.StartsAt.UTC().Format("2006-01-02 15:04 MST")
	if a.Status == StatusResolved && !a.EndsAt.IsZero() {
		since = "resolved " + a.EndsAt.UTC().Format("2006-01-02 15:04 MST")
	}
	color := "Attention"
	if a.Status == StatusResolved {
		color = "Good"
	}
	items := []any{textBlock(fmt.Sprintf("**%s** (%s, %s)", name, a.Status, since), map[string]any{"color": color})}
	if s := a.Annotations["summary"]; s != "" {
		items = append(items, textBlock(s, nil))
	}
	if d := a.Annotations["description"]; d != "" {
		items = append(items, textBlock(d, map[string]any{"isSubtle": true}))
	}
	var facts []fact
	for _, k := range sortedKeys(a.Labels) {
		if k != "alertname" {
			facts = append(facts, fact{k, a.Labels[k]})
		}
	}
	if len(a.Values) > 0 {
		facts = append(facts, fact{"Values", formatValues(a.Values)})
	}
	if len(facts) > 0 {
		items = append(items, factSet(facts))
	}
	var links []any
	for _, l := range []struct{ title, url string }{
		{"Source", a.GeneratorURL}, {"Runbook", a.Annotations["runbook_url"]}, {"Dashboard", a.Annotations["dashboard_url"]},
		// Grafana's own links (grafana.go); Alertmanager sends none.
		{"Dashboard", a.DashboardURL}, {"Panel", a.PanelURL}, {"Silence", a.SilenceURL},
	} {
		if u, ok := safeURL(l.url); ok {
			links = append(links, openURL(l.title, u))
		}
	}
	if len(links) > 0 {
		items = append(items, map[string]any{kType: "ActionSet", "actions": links})
	}
	return map[string]any{kType: "Container", "separator": true, "items": items}
}

// Adaptive Card property names used many times.
const (
	kType  = "type"
	kTitle = "title"
)

type fact struct{ title, value string }

func factSet(facts []fact) map[string]any {
	out := make([]any, len(facts))
	for i, f := range facts {
		out[i] = map[string]any{kTitle: f.title, "value": f.value}
	}
	return map[string]any{kType: "FactSet", "facts": out}
}

func textBlock(text string, extra map[string]any) map[string]any {
	tb := map[string]any{kType: "TextBlock", "text": text, "wrap": true}
	maps.Copy(tb, extra)
	return tb
}

func openURL(title, u string) map[string]any {
	return map[string]any{kType: "Action.OpenUrl", kTitle: title, "url": u}
}

// safeURL accepts only absolute http(s) URLs: a card link is clicked by people.
func safeURL(s string) (string, bool) {
	if s == "" || len(s) > 2048 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return u.String(), true
}

// ErrTemplate marks a user template that fails: a configuration error of the target's owner.
var ErrTemplate = errors.New("card template")

// TemplateFuncs are the functions a card template may call, besides text/template's own.
var TemplateFuncs = template.FuncMap{
	// json encodes a value as JSON: {{ json .Title }} is a quoted, escaped string.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":     func(sep string, s []string) string { return strings.Join(s, sep) },
	"upper":    strings.ToUpper,
	"lower":    strings.ToLower,
	kTitle:     title,
	"truncate": func(n int, s string) string { return truncate(s, n) },
}

// ParseTemplate parses a user's card template and instruments it for RenderTemplate's budget.
func ParseTemplate(name, text string) (*template.Template, error) {
	if limit := DefaultTemplateBudget.MaxSourceBytes; len(text) > limit {
		return nil, fmt.Errorf("%w: %w: the template is %d bytes, more than %d", ErrTemplate, ErrTemplateBudget, len(text), limit)
	}
	t, err := template.New(name).Funcs(TemplateFuncs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	instrument(t)
	return t, nil
}

// RenderTemplate runs a user's template (from ParseTemplate) on v under lim.Template's budget
// and decodes the result as an Adaptive Card.
func RenderTemplate(t *template.Template, v any, lim Limits) (*teamsv1alpha1.AdaptiveCard, error) {
	buf, err := ExecuteTemplate(t, v, lim)
	if err != nil {
		return nil, err
	}
	out := struct{ buf []byte }{buf}
	// A user's card may be larger than the built-in one, but not unbounded.
	if n := len(out.buf); n > lim.MaxCardBytes*4 {
		return nil, fmt.Errorf("%w: the card is %d bytes, more than %d", ErrTemplate, n, lim.MaxCardBytes*4)
	}
	dec := json.NewDecoder(bytes.NewReader(out.buf))
	dec.DisallowUnknownFields()
	card := &teamsv1alpha1.AdaptiveCard{}
	if err := dec.Decode(card); err != nil {
		return nil, fmt.Errorf("%w: the output is not an Adaptive Card: %w", ErrTemplate, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: the output has more than one JSON value", ErrTemplate)
	}
	if err := checkCard(card); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return card, nil
}

// ExecuteTemplate runs a user's template (from ParseTemplate) on v under lim.Template's budget
// and returns what it wrote.
func ExecuteTemplate(t *template.Template, v any, lim Limits) ([]byte, error) {
	b := lim.Template
	if b == (TemplateBudget{}) {
		b = DefaultTemplateBudget
	}
	s := &budgetState{b: b, deadline: time.Now().Add(b.Timeout)}
	run, err := t.Clone()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	run.Funcs(s.funcs())
	out := &limitedWriter{s: s}
	err = run.Execute(out, v)
	if s.err != nil { // the budget's reason is clearer than text/template's wrapping of it
		return nil, fmt.Errorf("%w: %w", ErrTemplate, s.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return out.buf, nil
}

// checkCard mirrors the CRD's rules on adaptiveCard, so a bad template gets a clear error here
// rather than the API server's.
func checkCard(c *teamsv1alpha1.AdaptiveCard) error {
	switch {
	case c.Type != "AdaptiveCard":
		return fmt.Errorf("type must be \"AdaptiveCard\", not %q", c.Type)
	case c.Version < "1.0" || c.Version > "1.5" || len(c.Version) != 3:
		return fmt.Errorf("version must be \"1.0\" to \"1.5\", not %q", c.Version)
	case len(c.Body) > 200:
		return fmt.Errorf("body has %d elements, at most 200 are allowed", len(c.Body))
	case len(c.Actions) > 20:
		return fmt.Errorf("actions has %d elements, at most 20 are allowed", len(c.Actions))
	}
	_, err := delivery.CheckSize(&teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: c})
	return err
}

func raw(v any) *apiextensionsv1.JSON {
	b, _ := json.Marshal(v) // maps of strings, numbers and bools always encode
	return &apiextensionsv1.JSON{Raw: b}
}

func rawList(vs []any) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, len(vs))
	for i, v := range vs {
		out[i] = *raw(v)
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(0, n-1)]) + "…"
}

func truncateValues(m map[string]string, n int) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[truncate(k, n)] = truncate(v, n)
	}
	return out
}

func title(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[size:]
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func labelString(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		b.WriteString(k + "=" + m[k] + ",")
	}
	return b.String()
}
