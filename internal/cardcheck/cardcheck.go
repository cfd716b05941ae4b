// Package cardcheck checks an Adaptive Card against what Microsoft Teams renders, before it is
// sent: Teams accepts a card it cannot render (the send succeeds) and then shows people an
// error or an empty card, so the manager refuses such a card with the JSON path of the first
// problem, and the preview command lists every problem.
//
// The rules, from Microsoft's Teams documentation:
//   - version: "Teams platform supports v1.5 or earlier of Adaptive Card features for bot sent
//     cards" (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#support-for-adaptive-cards).
//   - elements: the element types Teams lists as valid in its card schema (the `fallback` values of
//     https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/charts-in-adaptive-cards):
//     the Adaptive Card 1.5 elements plus Teams' own (charts, CodeBlock, Icon, Rating,
//     CompoundButton). An element of another type renders only through its own `fallback`
//     (https://adaptivecards.io/explorer/TextBlock.html, "fallback").
//   - actions: Action.OpenUrl, Action.Submit, Action.ShowCard, Action.ToggleVisibility and
//     Action.Execute (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-actions);
//     Action.Http belongs to Outlook's Actionable Messages and Teams does not run it.
//   - mentions: each entity in msteams.entities must name a user (mentioned.id) and its text
//     (<at>name</at>) must appear in a TextBlock or a FactSet fact, the only places Teams
//     renders a card mention (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format#mention-support-within-adaptive-cards).
//   - size: the whole activity, counted as Teams counts it (delivery.TeamsSize).
//
// Where the documentation is open (Media: "currently not supported" on one page, documented on
// another), the card is accepted: the operator must work either way.
package cardcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxVersion is the newest Adaptive Card schema Teams renders.
const MaxVersion = "1.5"

// maxDepth bounds how deeply elements may nest (containers, columns, ShowCard cards); deeper
// input is refused rather than walked.
const maxDepth = 32

// maxProblems bounds how many problems one check reports.
const maxProblems = 20

// Problem is one thing Teams would not render, at a JSON path of the card ($ is the card).
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// Problems lists every problem in err (an *Error, or several joined), one line each; any other
// error is one line.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	if ce, ok := errors.AsType[*Error](err); ok {
		prefix := strings.TrimSuffix(err.Error(), ce.Error()) // "attachment 1: " when there are several
		out := make([]string, 0, len(ce.Problems))
		for _, p := range ce.Problems {
			out = append(out, prefix+p.String())
		}
		return out
	}
	return []string{err.Error()}
}

// Error is a card Teams would not render: its first problem, and how many there are.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid Adaptive Card"
	}
	msg := e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// elements are the element types Teams renders (see the package comment).
var elements = []string{
	"TextBlock", "Image", "Media", "RichTextBlock", "Container", "ColumnSet", "FactSet", "ImageSet",
	"ActionSet", "Table",
	"Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet",
	// Teams' own elements.
	"Input.Rating", "Rating", "CompoundButton", "Icon", "CodeBlock",
	"Chart.Donut", "Chart.Pie", "Chart.VerticalBar", "Chart.VerticalBar.Grouped", "Chart.HorizontalBar",
	"Chart.HorizontalBar.Stacked", "Chart.Line", "Chart.Gauge",
}

// showCard is the action that opens a card inside the card.
const showCard = "Action.ShowCard"

// actions are the action types Teams runs on a bot's card.
var actions = []string{
	"Action.OpenUrl", "Action.Submit", showCard, "Action.ToggleVisibility", "Action.Execute",
}

// Card checks the content of an Adaptive Card attachment. It returns nil or an *Error.
func Card(raw []byte) error {
	var card any
	if err := json.Unmarshal(raw, &card); err != nil {
		return &Error{Problems: []Problem{{Path: "$", Message: "not JSON: " + err.Error()}}}
	}
	c := &checker{}
	c.card(card, "$", 0, true)
	if root, ok := card.(map[string]any); ok {
		c.mentions(root)
	}
	if len(c.problems) == 0 {
		return nil
	}
	return &Error{Problems: c.problems}
}

type checker struct {
	problems []Problem
	// texts are the TextBlock texts and fact titles and values, where a mention may appear.
	texts []string
}

func (c *checker) add(path, format string, a ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, a...)})
	}
}

// card checks an AdaptiveCard object: the root (which must name its version) or the card of an
// Action.ShowCard.
func (c *checker) card(v any, path string, depth int, root bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.add(path, "an Adaptive Card must be a JSON object")
		return
	}
	if t, _ := m["type"].(string); t != "AdaptiveCard" {
		c.add(path+".type", "must be \"AdaptiveCard\", not %s", quote(m["type"]))
	}
	if root {
		c.version(m["version"], path+".version")
	}
	c.elementList(m["body"], path+".body", depth)
	c.actionList(m["actions"], path+".actions", depth)
	if sa, ok := m["selectAction"]; ok {
		c.selectAction(sa, path+".selectAction", depth)
	}
}

func (c *checker) version(v any, path string) {
	s, ok := v.(string)
	if !ok {
		c.add(path, "the card must name its schema version as a string, \"1.0\" to \"%s\"", MaxVersion)
		return
	}
	major, minor, ok := parseVersion(s)
	if !ok {
		c.add(path, "%q is not a schema version (\"1.0\" to \"%s\")", s, MaxVersion)
		return
	}
	if major != 1 || minor > 5 {
		c.add(path, "Adaptive Card %s is newer than Teams renders: Teams supports %s or earlier for cards a bot sends",
			s, MaxVersion)
	}
}

func parseVersion(s string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil && major >= 0 && minor >= 0
}

func (c *checker) elementList(v any, path string, depth int) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		c.add(path, "must be a list of elements")
		return
	}
	for i, e := range list {
		c.element(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
	}
}

func (c *checker) actionList(v any, path string, depth int) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		c.add(path, "must be a list of actions")
		return
	}
	for i, a := range list {
		c.action(a, fmt.Sprintf("%s[%d]", path, i), depth+1)
	}
}

// element checks one element and what it contains.
func (c *checker) element(v any, path string, depth int) {
	if depth > maxDepth {
		c.add(path, "elements nest more than %d deep", maxDepth)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.add(path, "an element must be a JSON object")
		return
	}
	t, _ := m["type"].(string)
	if !slices.Contains(elements, t) {
		c.unknown(m, t, path, depth, "element", c.element)
		return
	}
	c.contents(m, t, path, depth)
	if sa, ok := m["selectAction"]; ok {
		c.selectAction(sa, path+".selectAction", depth)
	}
	if fb, ok := m["fallback"].(map[string]any); ok {
		c.element(fb, path+".fallback", depth+1)
	}
}

// unknown handles an element or action of a type Teams does not render: it is fine only with
// a fallback (an object of a known type, or "drop").
func (c *checker) unknown(m map[string]any, t, path string, depth int, kind string, check func(any, string, int)) {
	if t == "" {
		c.add(path+".type", "every %s needs a type", kind)
		return
	}
	switch fb := m["fallback"].(type) {
	case string:
		if fb == "drop" {
			return
		}
	case map[string]any:
		check(fb, path+".fallback", depth+1)
		return
	}
	c.add(path+".type", "Teams does not render the %s type %q: use one it does (docs/usage.md lists them) or give it "+
		"a fallback (one Teams renders, or \"drop\")", kind, t)
}

// contents walks what a known element holds: child elements, columns, cells, facts, actions.
func (c *checker) contents(m map[string]any, t, path string, depth int) {
	switch t {
	case "TextBlock":
		if s, ok := m["text"].(string); ok {
			c.texts = append(c.texts, s)
		}
	case "FactSet":
		facts, _ := m["facts"].([]any)
		for _, f := range facts {
			if fm, ok := f.(map[string]any); ok {
				for _, k := range []string{"title", "value"} {
					if s, ok := fm[k].(string); ok {
						c.texts = append(c.texts, s)
					}
				}
			}
		}
	case "Container":
		c.elementList(m["items"], path+".items", depth)
	case "ColumnSet":
		c.columns(m["columns"], path+".columns", depth)
	case "Table":
		c.rows(m["rows"], path+".rows", depth)
	case "ActionSet":
		c.actionList(m["actions"], path+".actions", depth)
	}
}

func (c *checker) columns(v any, path string, depth int) {
	list, _ := v.([]any)
	for i, col := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		cm, ok := col.(map[string]any)
		if !ok {
			c.add(p, "a column must be a JSON object")
			continue
		}
		if t, ok := cm["type"].(string); ok && t != "Column" {
			c.add(p+".type", "must be \"Column\", not %q", t)
		}
		c.elementList(cm["items"], p+".items", depth+1)
		if sa, ok := cm["selectAction"]; ok {
			c.selectAction(sa, p+".selectAction", depth+1)
		}
	}
}

func (c *checker) rows(v any, path string, depth int) {
	list, _ := v.([]any)
	for i, row := range list {
		rm, _ := row.(map[string]any)
		cells, _ := rm["cells"].([]any)
		for j, cell := range cells {
			cm, _ := cell.(map[string]any)
			c.elementList(cm["items"], fmt.Sprintf("%s[%d].cells[%d].items", path, i, j), depth+2)
		}
	}
}

// action checks one action; an Action.ShowCard's card is checked as a card.
func (c *checker) action(v any, path string, depth int) {
	if depth > maxDepth {
		c.add(path, "actions nest more than %d deep", maxDepth)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.add(path, "an action must be a JSON object")
		return
	}
	t, _ := m["type"].(string)
	if !slices.Contains(actions, t) {
		c.unknown(m, t, path, depth, "action", c.action)
		return
	}
	if t == showCard {
		c.card(m["card"], path+".card", depth+1, false)
	}
}

// selectAction is an action run by selecting an element; Action.ShowCard is not allowed there
// (https://adaptivecards.io/explorer/Container.html, selectAction).
func (c *checker) selectAction(v any, path string, depth int) {
	if m, ok := v.(map[string]any); ok && m["type"] == showCard {
		c.add(path+".type", "Action.ShowCard cannot be a selectAction")
		return
	}
	c.action(v, path, depth+1)
}

// mentions checks the card's mention entities against the texts where Teams shows them.
func (c *checker) mentions(root map[string]any) {
	ms, _ := root["msteams"].(map[string]any)
	entities, _ := ms["entities"].([]any)
	for i, e := range entities {
		path := fmt.Sprintf("$.msteams.entities[%d]", i)
		em, ok := e.(map[string]any)
		if !ok || em["type"] != "mention" {
			continue
		}
		text, _ := em["text"].(string)
		mentioned, _ := em["mentioned"].(map[string]any)
		id, _ := mentioned["id"].(string)
		switch {
		case text == "":
			c.add(path+".text", "a mention needs its text, <at>name</at>")
		case id == "":
			c.add(path+".mentioned.id", "the mention %s names no user id", text)
		case !c.textContains(text):
			c.add(path+".text", "%s appears in no TextBlock or fact of the card, so Teams shows no mention: "+
				"put %s in a TextBlock's text", text, text)
		}
	}
}

func (c *checker) textContains(s string) bool {
	return slices.ContainsFunc(c.texts, func(t string) bool { return strings.Contains(t, s) })
}

func quote(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 64 {
		return "another value"
	}
	return string(b)
}
