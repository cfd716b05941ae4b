package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// gathered returns the metric families the manager registers, by name.
func gathered() map[string]*dto.MetricFamily {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

func deliveredCount() float64 {
	for _, m := range gathered()["teams_operator_proactive_messages_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" && l.GetValue() == string(teamsv1alpha1.PhaseDelivered) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func latencyCount() uint64 {
	f := gathered()["teams_operator_delivery_latency_seconds"]
	if f == nil || len(f.GetMetric()) == 0 {
		return 0
	}
	return f.GetMetric()[0].GetHistogram().GetSampleCount()
}

var _ = Describe("Delivery metrics", func() {
	It("count each delivered message once and observe its latency", func() {
		ns := newNamespace()
		pmPersonalTarget(ns, "metrics-target")
		delivered, observed := deliveredCount(), latencyCount()

		pmMessage(ns, "metrics-message", "metrics-target", nil)
		pmEventuallyPhase(ns, "metrics-message", teamsv1alpha1.PhaseDelivered)

		// Other specs deliver in parallel, so the counters grow by at least one.
		Eventually(deliveredCount).Should(BeNumerically(">=", delivered+1))
		Eventually(latencyCount).Should(BeNumerically(">=", observed+1))
		fam := gathered()
		for _, name := range []string{
			"teams_operator_api_requests_total", "teams_operator_api_request_duration_seconds",
			"teams_operator_ratelimit_wait_seconds",
		} {
			Expect(fam).To(HaveKey(name), "documented series %s", name)
		}
	})
})
