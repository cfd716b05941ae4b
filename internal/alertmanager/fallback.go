package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
)

// A namespace's template overrides the built-in card (and, for generic JSON and CloudEvents,
// the key, status and title). A broken override must not lose the notification: what it
// describes still happened. So the receiver falls back to the built-in, says so in the
// answer's warnings and in teams_operator_receiver_template_fallbacks_total, and the
// ConfigMap's own events (templatecheck.go) tell its owners what to fix as soon as they save
// it. Only a template ConfigMap that does not exist (a wrong URL) is still a 422.

// maxFallbackNotes bounds the notes of one request (a batch of CloudEvents notes one per key at most).
const maxFallbackNotes = 20

// fallbacks collects why a request (or a check) used the built-in instead of a template.
type fallbacks struct{ notes []string }

type fallbacksKey struct{}

// withFallbacks returns ctx with an empty collector.
func withFallbacks(ctx context.Context) (context.Context, *fallbacks) {
	fb := &fallbacks{}
	return context.WithValue(ctx, fallbacksKey{}, fb), fb
}

// noteFallback records, once, that a template was not used and why.
func noteFallback(ctx context.Context, format string, args ...any) {
	fb, ok := ctx.Value(fallbacksKey{}).(*fallbacks)
	if !ok {
		return
	}
	note := fmt.Sprintf(format, args...)
	if len(fb.notes) < maxFallbackNotes && !slices.Contains(fb.notes, note) {
		fb.notes = append(fb.notes, note)
	}
}

// renderOrBuiltin renders data with the card template t of ConfigMap where, or, when t is nil
// or fails, with builtin, noting why. It fails only when the built-in card fails.
func renderOrBuiltin(ctx context.Context, where string, t *template.Template, data any, lim Limits,
	builtin func() (*teamsv1alpha1.AdaptiveCard, error)) (*teamsv1alpha1.AdaptiveCard, error) {
	if t != nil {
		card, err := RenderTemplate(t, data, lim)
		if err == nil {
			if err = checkTeamsCard(card); err == nil {
				return card, nil
			}
			err = fmt.Errorf("%w: Teams would not render the card: %w", ErrTemplate, err)
		}
		noteFallback(ctx, "%s: %s: %v; the built-in card was used", where, TemplateKey, err)
	}
	card, err := builtin()
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, ReasonInvalid, "%v", err)
	}
	return card, nil
}

// checkTeamsCard refuses a card Teams would not render (internal/cardcheck): the manager would
// refuse to send it later, so a template that renders it is broken now.
func checkTeamsCard(card *teamsv1alpha1.AdaptiveCard) error {
	raw, err := json.Marshal(card)
	if err != nil {
		return err
	}
	return cardcheck.Card(raw)
}

var templateFallbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "teams_operator_receiver_template_fallbacks_total",
	Help: "Notifications shown with the built-in card, key, status or title because the namespace's template failed, by source.",
}, []string{labelSource})

func init() {
	metrics.Registry.MustRegister(templateFallbacksTotal)
	for _, src := range sourceNames {
		templateFallbacksTotal.WithLabelValues(src)
	}
}
