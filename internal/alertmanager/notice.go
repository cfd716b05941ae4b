package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Notice is one thing a source other than Alertmanager and Grafana shows (a Flux object at a
// revision, an Argo CD application at a sync revision, an event): one card per target, edited
// in place while its Key stays the same. Card templates see it as it is.
type Notice struct {
	// Namespace and Target name the ConversationTarget the message goes to.
	Namespace, Target string
	// Source is the sender: flux, argocd, generic, cloudevents.
	Source string
	// Key identifies the thing within the source: the same key edits the same message.
	Key string
	// Status is the state shown (a label value): succeeded, failed, progressing, ... (see statusStyle).
	Status string
	// Title and Text are the card's header and body text.
	Title, Text string
	// Facts are shown as a fact set, Links as buttons (http and https only).
	Facts []Fact
	Links []Link
	// Labels describe the thing (routes match them; templates may show them).
	Labels map[string]string
	// Data is the decoded body, for templates.
	Data any
}

// Fact is one title and value of a card's fact set.
type Fact struct{ Title, Value string }

// Link is one button of a card.
type Link struct{ Title, URL string }

// Notice statuses and how they look.
const (
	NoticeSucceeded   = "succeeded"
	NoticeFailed      = "failed"
	NoticeProgressing = "progressing"
	NoticeInfo        = "info"
)

// Adaptive Card words used across the cards.
const (
	cardType     = "AdaptiveCard"
	weightBolder = "Bolder"
	kSize        = "size"
	kWeight      = "weight"
)

// statusStyle is the header's container style and text color for a status.
func statusStyle(status string) (style, color string) {
	switch status {
	case NoticeSucceeded:
		return "good", colorGood
	case NoticeFailed:
		return "attention", colorAlarm
	case NoticeProgressing:
		return "accent", "Accent"
	default:
		return "emphasis", "Default"
	}
}

// Notice limits: a card stays small whatever the body says.
const (
	maxNoticeText  = 2000
	maxNoticeFacts = 20
	maxNoticeLinks = 5
	maxKey         = 4096
)

// clamp truncates the notice's strings and caps its lists with lim.
func (n *Notice) clamp(lim Limits) {
	n.Title = truncate(n.Title, lim.MaxValueLen)
	n.Text = truncate(n.Text, maxNoticeText)
	n.Status = truncate(n.Status, 63)
	if len(n.Facts) > maxNoticeFacts {
		n.Facts = n.Facts[:maxNoticeFacts]
	}
	for i := range n.Facts {
		n.Facts[i] = Fact{truncate(n.Facts[i].Title, 64), truncate(n.Facts[i].Value, lim.MaxValueLen)}
	}
	var links []Link
	for _, l := range n.Links {
		if u, ok := safeURL(l.URL); ok && len(links) < maxNoticeLinks {
			links = append(links, Link{truncate(l.Title, 64), u})
		}
	}
	n.Links = links
	n.Labels = truncateValues(n.Labels, lim.MaxValueLen)
}

// Summary is the message's activity-feed text, e.g. "[FAILED] HelmRelease apps/podinfo".
func (n *Notice) Summary() string {
	return truncate(fmt.Sprintf("[%s] %s", strings.ToUpper(n.Status), n.Title), 1024)
}

// NoticeCard is the built-in card of a notice.
func NoticeCard(n *Notice) (*teamsv1alpha1.AdaptiveCard, error) {
	style, color := statusStyle(n.Status)
	body := []any{
		map[string]any{kType: kContainer, "style": style, "bleed": true, kItems: []any{
			textBlock(fmt.Sprintf("%s: %s", strings.ToUpper(n.Status), n.Title), map[string]any{
				kWeight: weightBolder, kSize: "Large", kColor: color}),
		}},
	}
	if n.Text != "" {
		body = append(body, textBlock(n.Text, nil))
	}
	if len(n.Facts) > 0 {
		facts := make([]fact, len(n.Facts))
		for i, f := range n.Facts {
			facts[i] = fact{f.Title, f.Value}
		}
		body = append(body, factSet(facts))
	}
	card := &teamsv1alpha1.AdaptiveCard{
		Type: cardType, Version: "1.5",
		Body: rawList(body), FallbackText: n.Summary(),
		MSTeams: raw(map[string]any{"width": "Full"}),
	}
	if len(n.Links) > 0 {
		actions := make([]any, len(n.Links))
		for i, l := range n.Links {
			actions[i] = openURL(l.Title, l.URL)
		}
		card.Actions = rawList(actions)
	}
	if err := checkCard(card); err != nil {
		return nil, err
	}
	return card, nil
}

// noticeMessage is what the receiver wants the notice's ProactiveMessage to be.
func noticeMessage(n *Notice, card *teamsv1alpha1.AdaptiveCard, templateName string, finishedTTL time.Duration) *teamsv1alpha1.ProactiveMessage {
	pm := &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: n.Namespace,
			Name:      sourceName(n.Source, n.Key, n.Target),
			Labels:    map[string]string{ManagedByLabel: ManagedByValue, StatusLabel: n.Status, SourceLabel: n.Source},
			Annotations: map[string]string{
				GroupKeyAnnotation: truncate(n.Key, maxGroupKey),
			},
		},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef:    teamsv1alpha1.LocalObjectReference{Name: n.Target},
			Summary:      n.Summary(),
			AdaptiveCard: card,
			OnUpdate:     teamsv1alpha1.OnUpdateEdit,
		},
	}
	if templateName != "" {
		pm.Annotations[TemplateAnnotation] = templateName
	}
	// Only a finished thing is collected: one still in progress must stay to be edited.
	if n.Status == NoticeSucceeded && finishedTTL > 0 {
		pm.Spec.TTLAfterFinished = &metav1.Duration{Duration: finishedTTL}
	}
	return pm
}

// noticeNotification renders a notice (built by a source from its body) for a target: with
// templates when the source read them already (generic, CloudEvents), else with the URL's
// template or the built-in card.
type noticeNotification struct {
	n         Notice
	templates *genericTemplates
}

func (nn noticeNotification) labels() map[string]string { return nn.n.Labels }

func (nn noticeNotification) render(ctx context.Context, h *handler, target, tmpl string) (*teamsv1alpha1.ProactiveMessage, error) {
	n := nn.n
	n.Target = target
	n.clamp(h.o.Limits)
	var card *teamsv1alpha1.AdaptiveCard
	var err error
	if nn.templates != nil {
		card, err = h.renderTemplated(ctx, &n, nn.templates)
	} else {
		card, err = h.renderCard(ctx, n.Namespace, tmpl, &n, func() (*teamsv1alpha1.AdaptiveCard, error) { return NoticeCard(&n) })
	}
	if err != nil {
		return nil, err
	}
	return noticeMessage(&n, card, tmpl, h.o.ResolvedTTL), nil
}

// decodeAny decodes a JSON body for templates (numbers stay json.Number, so ids keep their digits).
func decodeAny(body []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, parseErrorf("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, parseErrorf("malformed JSON: more than one JSON value")
	}
	return v, nil
}

// labelNamespace is the label of the namespace a notice's object lives in (Flux, Argo CD).
const labelNamespace = "namespace"
