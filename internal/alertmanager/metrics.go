package alertmanager

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of a notification (label result).
const (
	ResultCreated   = "created"
	ResultUpdated   = "updated"
	ResultUnchanged = "unchanged"
	ResultRejected  = "rejected"
)

// Reasons a notification is rejected (label reason): a small fixed set, never a name.
const (
	ReasonUnauthorized   = "unauthorized"
	ReasonTooLarge       = "too_large"
	ReasonMalformed      = "malformed"
	ReasonBadPath        = "bad_path"
	ReasonTargetNotFound = "target_not_found"
	ReasonTemplate       = "template"
	ReasonInvalid        = "invalid"
	ReasonUnavailable    = "unavailable"
	ReasonInternal       = "internal"
	ReasonConflict       = "conflict"
)

var (
	receivedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_received_total",
		Help: "Alertmanager webhook requests received.",
	})
	notificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_total",
		Help: "Alertmanager notifications by result: created, updated or unchanged ProactiveMessage, or rejected.",
	}, []string{"result"})
	rejectedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_rejected_total",
		Help: "Rejected Alertmanager notifications by reason.",
	}, []string{"reason"})
)

func init() {
	metrics.Registry.MustRegister(receivedTotal, notificationsTotal, rejectedTotal)
	// Every series exists from the start, so rate() and alerts on them work before the first event.
	for _, r := range []string{ResultCreated, ResultUpdated, ResultUnchanged, ResultRejected} {
		notificationsTotal.WithLabelValues(r)
	}
	for _, r := range []string{ReasonUnauthorized, ReasonTooLarge, ReasonMalformed, ReasonBadPath, ReasonTargetNotFound,
		ReasonTemplate, ReasonInvalid, ReasonUnavailable, ReasonInternal, ReasonConflict} {
		rejectedTotal.WithLabelValues(r)
	}
}
