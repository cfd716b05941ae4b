package alertmanager

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Annotations the card's buttons need on the group's ProactiveMessage.
const (
	// StateAnnotation is what people did with the card (ActionState as JSON): the source the card's
	// state section is rendered from, kept when the receiver edits the message.
	StateAnnotation = "alertmanager.teams.operator.dev/actions"
	// MatchersAnnotation is the group's common labels (JSON): a silence matches exactly these.
	MatchersAnnotation = "alertmanager.teams.operator.dev/matchers"
	// ExternalURLAnnotation is the payload's externalURL, checked against the namespace's
	// Alertmanager when a button is pressed.
	ExternalURLAnnotation = "alertmanager.teams.operator.dev/external-url"
)

// Verbs of the card's Action.Execute buttons.
const (
	VerbAcknowledge   = "alertmanager.acknowledge"
	VerbSilence       = "alertmanager.silence"
	VerbExpireSilence = "alertmanager.expireSilence"
)

// Adaptive Card words the actions element uses (the built-in card has its own).
const (
	kContainer = "Container"
	kItems     = "items"
	kSeparator = "separator"
	kColor     = "color"
	colorGood  = "Good"
	colorWarn  = "Warning"
	colorAlarm = "Attention"
)

// actionsElementID is the id of the card's last body element, the state and the buttons: the
// invoke handler replaces it without knowing the rest of the card.
const actionsElementID = "teams-operator-alertmanager-actions"

// Bounds of the matchers: a silence from a card must select exactly the group, so the labels are
// stored whole or not at all (no Silence button then).
const (
	maxMatchers          = 64
	maxMatchersJSONBytes = 16 << 10
)

// ActionState is what people did with a group's card.
type ActionState struct {
	Acknowledged *Actor        `json:"acknowledged,omitempty"`
	Silence      *SilenceState `json:"silence,omitempty"`
}

// Actor is who did something, and when.
type Actor struct {
	// Name is the Teams display name; ID the Entra object id.
	Name string    `json:"name"`
	ID   string    `json:"id,omitempty"`
	At   time.Time `json:"at"`
}

// SilenceState is the silence created from the card.
type SilenceState struct {
	Actor `json:",inline"`
	// SilenceID is Alertmanager's id of the silence.
	SilenceID string    `json:"silenceId"`
	Until     time.Time `json:"until"`
}

// stateOf reads the state annotation; a missing or unreadable one is no state.
func stateOf(annotations map[string]string) ActionState {
	var s ActionState
	if v := annotations[StateAnnotation]; v != "" {
		_ = json.Unmarshal([]byte(v), &s) // written only by the operator; a broken one shows no state
	}
	return s
}

func (s ActionState) annotation() string {
	b, _ := json.Marshal(s) // strings and times always encode
	return string(b)
}

// activeSilence is the silence, unless it has ended.
func (s ActionState) activeSilence(now time.Time) *SilenceState {
	if s.Silence == nil || !now.Before(s.Silence.Until) {
		return nil
	}
	return s.Silence
}

// matchersAnnotation encodes the labels a silence of the group matches: the common labels, which
// include the group labels. Empty when they cannot make an exact silence.
func matchersAnnotation(common map[string]string) string {
	if len(common) == 0 || len(common) > maxMatchers {
		return ""
	}
	for k, v := range common {
		if k == "" || v == "" { // an empty value would also match alerts without the label
			return ""
		}
	}
	b, err := json.Marshal(common) // map keys are sorted: stable across notifications
	if err != nil || len(b) > maxMatchersJSONBytes {
		return ""
	}
	return string(b)
}

func matchersOf(annotations map[string]string) map[string]string {
	var m map[string]string
	if v := annotations[MatchersAnnotation]; v != "" && json.Unmarshal([]byte(v), &m) == nil && len(m) <= maxMatchers {
		return m
	}
	return nil
}

// section says what the card's actions element shows.
type section struct {
	namespace, name string
	firing          bool
	state           ActionState
	// buttons: the bot endpoint is on and the namespace's Alertmanager is this group's.
	buttons bool
	// silenceable: the group's labels make an exact silence.
	silenceable bool
	durations   []time.Duration
	// note is a line for the person who pressed a button (a refusal, an error); it is in the card
	// answered to them, never in the message everyone sees.
	note, noteColor string
	// off explains why a group that could have buttons has none.
	off string
	now time.Time
}

// element renders the section as one Container; nil when there is nothing to show.
func (s *section) element() map[string]any {
	var items []any
	if a := s.state.Acknowledged; a != nil {
		items = append(items, textBlock(fmt.Sprintf("✔ Acknowledged by %s at %s", a.Name, clock(a.At)), map[string]any{kColor: colorGood}))
	}
	silence := s.state.activeSilence(s.now)
	if silence != nil {
		items = append(items, textBlock(fmt.Sprintf("🔕 Silenced until %s by %s", clock(silence.Until), silence.Name),
			map[string]any{kColor: colorWarn}))
	}
	if s.note != "" {
		items = append(items, textBlock(s.note, map[string]any{kColor: s.noteColor}))
	}
	if s.off != "" {
		items = append(items, textBlock(s.off, map[string]any{"spacing": "Small"}))
	}
	if buttons := s.buttonList(silence); len(buttons) > 0 {
		items = append(items, map[string]any{kType: "ActionSet", "actions": buttons})
	}
	if len(items) == 0 {
		return nil
	}
	return map[string]any{kType: kContainer, "id": actionsElementID, kSeparator: true, kItems: items}
}

func (s *section) buttonList(silence *SilenceState) []any {
	if !s.buttons {
		return nil
	}
	var out []any
	if s.firing && s.state.Acknowledged == nil {
		out = append(out, s.execute("Acknowledge", VerbAcknowledge, nil))
	}
	switch {
	case silence != nil:
		out = append(out, s.execute("Expire silence", VerbExpireSilence, map[string]any{"silenceId": silence.SilenceID}))
	case s.firing && s.silenceable:
		for _, d := range s.durations {
			out = append(out, s.execute("Silence "+formatDuration(d), VerbSilence, map[string]any{"duration": d.String()}))
		}
	}
	return out
}

// execute is an Action.Execute button. Its data names the message; the invoke handler trusts it
// only after checking that the message is in the conversation the invoke came from.
func (s *section) execute(title, verb string, extra map[string]any) map[string]any {
	data := map[string]any{"namespace": s.namespace, "name": s.name}
	maps.Copy(data, extra)
	return map[string]any{kType: "Action.Execute", kTitle: title, "verb": verb, "data": data}
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// withSection returns card with its actions element replaced by el (or removed when el is nil),
// leaving card itself unchanged. Cards older than schema 1.4 cannot carry Action.Execute.
func withSection(card *teamsv1alpha1.AdaptiveCard, el map[string]any) *teamsv1alpha1.AdaptiveCard {
	if card == nil {
		return nil
	}
	out := card.DeepCopy()
	out.Body = slices.DeleteFunc(out.Body, isActionsElement)
	if el != nil && card.Version >= "1.4" {
		out.Body = append(out.Body, *raw(el))
	}
	return out
}

func isActionsElement(e apiextensionsv1.JSON) bool {
	var v struct {
		ID string `json:"id"`
	}
	return json.Unmarshal(e.Raw, &v) == nil && v.ID == actionsElementID
}
