package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Delivery metrics, beside controller-runtime's and the transport's API metrics. No names,
// ids or tenants as labels: the result is the only one.
var (
	messagesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_operator_proactive_messages_total",
		Help: "ProactiveMessages that reached a final phase, by result: Delivered, Failed, Expired, Unknown or OptedOut.",
	}, []string{"result"})
	deliveryLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "teams_operator_delivery_latency_seconds",
		Help: "Time from a ProactiveMessage's creation (or its sendAt, when later) to Teams accepting it.",
		// 50 ms to about 7 minutes: a message waits for its turn and for Teams' limits.
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	})
)

func init() {
	metrics.Registry.MustRegister(messagesTotal, deliveryLatency)
}

// recordFinished counts a message the moment it reaches a final phase (before is its phase
// when the reconcile started), so each message counts once.
func recordFinished(before teamsv1alpha1.Phase, msg *teamsv1alpha1.ProactiveMessage) {
	phase := msg.Status.Phase
	if phase == before || !messagePhaseFinal(phase) {
		return
	}
	messagesTotal.WithLabelValues(string(phase)).Inc()
	if phase != teamsv1alpha1.PhaseDelivered || msg.Status.DeliveredAt == nil {
		return
	}
	start := msg.CreationTimestamp.Time
	if msg.Spec.SendAt != nil && msg.Spec.SendAt.After(start) {
		start = msg.Spec.SendAt.Time
	}
	deliveryLatency.Observe(msg.Status.DeliveredAt.Sub(start).Seconds())
}
