package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The steady window leaves out the first and the last tenth of the events: the ramp-up while
// the first messages are created and the tail where too few conversations are left to fill
// the allowed rate.
const (
	steadyFrom = 0.1
	steadyTo   = 0.9
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank method:
// the smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// latencies summarises durations in milliseconds.
func latencies(ds []time.Duration) *Latency {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }
	return &Latency{
		Count: len(s), P50Ms: ms(percentile(s, 50)), P95Ms: ms(percentile(s, 95)),
		P99Ms: ms(percentile(s, 99)), MaxMs: ms(s[len(s)-1]),
	}
}

// steadyRate is the rate of events between the from-th and the to-th fraction of them:
// (j-i) events in t[j]-t[i]. It returns 0 when fewer than two events fall in the window or
// they share one instant.
func steadyRate(times []time.Time, from, to float64) (perSecond float64, window time.Duration) {
	if len(times) < 2 {
		return 0, 0
	}
	t := slices.Clone(times)
	slices.SortFunc(t, time.Time.Compare)
	i := int(from * float64(len(t)-1))
	j := int(math.Ceil(to * float64(len(t)-1)))
	window = t[j].Sub(t[i])
	if j <= i || window <= 0 {
		return 0, 0
	}
	return float64(j-i) / window.Seconds(), window
}

// maxInSecond is the largest number of events in any half-open window (t-1s, t]: the figure
// the emulator's per-app limit bounds.
func maxInSecond(times []time.Time) int {
	const w = time.Second
	t := slices.Clone(times)
	slices.SortFunc(t, time.Time.Compare)
	best, lo := 0, 0
	for hi := range t {
		for t[hi].Sub(t[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// metrics is one scrape of a Prometheus text endpoint.
type metrics map[string]*dto.MetricFamily

func parseMetrics(r io.Reader) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return fams, nil
}

// sum adds the counter, gauge or untyped samples of name whose labels take one of the
// listed values for every label in match.
func (m metrics) sum(name string, match map[string][]string) float64 {
	fam, ok := m[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, s := range fam.GetMetric() {
		if !labelsMatch(s.GetLabel(), match) {
			continue
		}
		switch {
		case s.Counter != nil:
			total += s.GetCounter().GetValue()
		case s.Gauge != nil:
			total += s.GetGauge().GetValue()
		case s.Untyped != nil:
			total += s.GetUntyped().GetValue()
		}
	}
	return total
}

// histogram adds the sums and counts of the histogram samples of name that match.
func (m metrics) histogram(name string, match map[string][]string) (sum float64, count uint64) {
	fam, ok := m[name]
	if !ok {
		return 0, 0
	}
	for _, s := range fam.GetMetric() {
		if h := s.GetHistogram(); h != nil && labelsMatch(s.GetLabel(), match) {
			sum += h.GetSampleSum()
			count += h.GetSampleCount()
		}
	}
	return sum, count
}

// meanMs is the mean of the histogram samples added between before and after, in ms.
func meanMs(before, after metrics, name string, match map[string][]string) float64 {
	s0, c0 := before.histogram(name, match)
	s1, c1 := after.histogram(name, match)
	if c1 <= c0 {
		return 0
	}
	return round(1000*(s1-s0)/float64(c1-c0), 1)
}

func labelsMatch(labels []*dto.LabelPair, match map[string][]string) bool {
	for name, values := range match {
		found := false
		for _, l := range labels {
			if l.GetName() == name && slices.Contains(values, l.GetValue()) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
