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
	// ReasonSignature: the source's signing key is configured and the body's signature is missing or wrong (401).
	ReasonSignature = "signature"
	// ReasonRoute: the route ConfigMap is missing its key or does not parse (422).
	ReasonRoute = "route"
)

// labelSource is the per-source metrics' label.
const (
	labelSource = "source"
	labelResult = "result"
	reasonKey   = "reason"
)

// allReasons are every rejection reason, for the series that exist from the start.
var allReasons = []string{ReasonUnauthorized, ReasonTooLarge, ReasonMalformed, ReasonBadPath, ReasonTargetNotFound,
	ReasonTemplate, ReasonInvalid, ReasonUnavailable, ReasonInternal, ReasonConflict, ReasonSignature, ReasonRoute}

var allResults = []string{ResultCreated, ResultUpdated, ResultUnchanged, ResultRejected}

// Actions of the card's buttons (label action).
const (
	actionAcknowledge = "acknowledge"
	actionSilence     = "silence"
	actionExpire      = "expire_silence"
)

// Results of a card button press (label result of teams_operator_alertmanager_card_actions_total).
const (
	ActionResultDone         = "done"
	ActionResultFailed       = "failed"
	ActionRefusedNotAllowed  = "refused_not_allowed"
	ActionRefusedNotPossible = "refused_not_possible"
	ActionRefusedUnknownCard = "refused_unknown_card"
)

var (
	actionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_card_actions_total",
		Help: "Presses of the Alertmanager card's buttons by action (acknowledge, silence, expire_silence) and result.",
	}, []string{"action", labelResult})
	receivedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_received_total",
		Help: "Alertmanager webhook requests received.",
	})
	notificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_total",
		Help: "Alertmanager notifications by result: created, updated or unchanged ProactiveMessage, or rejected.",
	}, []string{labelResult})
	rejectedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_alertmanager_notifications_rejected_total",
		Help: "Rejected Alertmanager notifications by reason.",
	}, []string{reasonKey})

	// The same, per source (alertmanager, grafana, ...): the metrics above count every source.
	sourceReceivedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_receiver_requests_total",
		Help: "Requests to the receiver by source, whatever their outcome.",
	}, []string{labelSource})
	sourceNotificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_receiver_notifications_total",
		Help: "Notifications by source and result: created, updated or unchanged ProactiveMessage, or rejected.",
	}, []string{labelSource, labelResult})
	sourceRejectedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_receiver_notifications_rejected_total",
		Help: "Rejected notifications by source and reason.",
	}, []string{labelSource, reasonKey})
)

func init() {
	metrics.Registry.MustRegister(receivedTotal, notificationsTotal, rejectedTotal,
		sourceReceivedTotal, sourceNotificationsTotal, sourceRejectedTotal, actionsTotal)
	// Every series exists from the start, so rate() and alerts on them work before the first event.
	for _, r := range allResults {
		notificationsTotal.WithLabelValues(r)
	}
	for _, r := range allReasons {
		rejectedTotal.WithLabelValues(r)
	}
	for _, src := range sourceNames {
		sourceReceivedTotal.WithLabelValues(src)
		for _, r := range allResults {
			sourceNotificationsTotal.WithLabelValues(src, r)
		}
		for _, r := range allReasons {
			sourceRejectedTotal.WithLabelValues(src, r)
		}
	}
	for _, a := range []string{actionAcknowledge, actionSilence, actionExpire} {
		for _, r := range []string{ActionResultDone, ActionResultFailed, ActionRefusedNotAllowed, ActionRefusedNotPossible, ActionRefusedUnknownCard} {
			actionsTotal.WithLabelValues(a, r)
		}
	}
}
