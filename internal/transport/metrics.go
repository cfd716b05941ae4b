package transport

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric label and log key names: the same words in both, so a log line leads to its series.
const (
	labelAPI       = "api"
	labelOperation = "operation"
)

// metricSet holds the API metrics. Labels never carry ids, tenants or names.
type metricSet struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	throttled *prometheus.CounterVec
}

// apiMetrics registers the metrics on controller-runtime's registry the first
// time a client is built, so many clients (and tests) share one set.
var apiMetrics = sync.OnceValue(func() *metricSet {
	m := &metricSet{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_operator_api_requests_total",
			Help: "HTTP exchanges with Microsoft APIs, by API, operation and status code (\"error\" when no response).",
		}, []string{labelAPI, labelOperation, "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teams_operator_api_request_duration_seconds",
			Help:    "Duration of HTTP exchanges with Microsoft APIs until the response headers arrive.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{labelAPI, labelOperation}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_operator_api_throttled_total",
			Help: "HTTP 429 responses from Microsoft APIs.",
		}, []string{labelAPI, labelOperation}),
	}
	m.requests = register(m.requests)
	m.duration = register(m.duration)
	m.throttled = register(m.throttled)
	return m
})

// register adds c to the registry; when an identical collector is already there
// (another copy of this code registered it) that one is used instead.
func register[C prometheus.Collector](c C) C {
	err := metrics.Registry.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	// Any other error means a conflicting definition; the metric then stays
	// unregistered rather than crashing the manager.
	return c
}
