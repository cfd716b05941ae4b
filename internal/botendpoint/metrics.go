package botendpoint

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of an authenticated activity (label result).
const (
	ResultHandled        = "handled"
	ResultIgnored        = "ignored"
	ResultDuplicate      = "duplicate"
	ResultFailed         = "failed"
	ResultNotImplemented = "not_implemented"
)

// typeOther labels every activity type the endpoint does not know, so the label stays bounded.
const typeOther = "other"

var knownTypes = []string{TypeMessage, TypeInvoke, TypeConversationUpdate, TypeInstallationUpdate, typeOther}

var (
	activitiesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_bot_activities_total",
		Help: "Authenticated activities received on the bot endpoint, by type and result.",
	}, []string{"type", "result"})
	refusedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_bot_requests_refused_total",
		Help: "Requests to the bot endpoint refused before any action, by reason.",
	}, []string{"reason"})
	requestSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "teams_operator_bot_request_duration_seconds",
		Help:    "Time to answer a request on the bot endpoint (Teams waits at most 15 seconds).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15},
	})
)

func init() {
	metrics.Registry.MustRegister(activitiesTotal, refusedTotal, requestSeconds)
	// Every series exists from the start, so rate() and alerts work before the first event.
	for _, t := range knownTypes {
		for _, r := range []string{ResultHandled, ResultIgnored, ResultDuplicate, ResultFailed, ResultNotImplemented} {
			activitiesTotal.WithLabelValues(t, r)
		}
	}
	for _, r := range refusalReasons {
		refusedTotal.WithLabelValues(r)
	}
}

func typeLabel(t string) string {
	if slices.Contains(knownTypes, t) {
		return t
	}
	return typeOther
}
