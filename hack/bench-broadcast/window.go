package main

import (
	"math"
	"slices"
	"time"
)

// windowSlack measures how close requests came to a limit of n per window: for every n+1
// consecutive requests (times sorted), how much longer than window they spanned. It returns
// the smallest and the median slack in milliseconds (0, 0 with fewer than n+1 requests). The
// emulator admits a request after its added latency, just before it answers, so the
// journal's answer times stand for the times Teams counted, within the handler's own time.
func windowSlack(sorted []time.Time, n int, window time.Duration) (minMs, medianMs float64) {
	if n <= 0 || len(sorted) <= n {
		return 0, 0
	}
	slack := make([]time.Duration, 0, len(sorted)-n)
	for i := n; i < len(sorted); i++ {
		slack = append(slack, sorted[i].Sub(sorted[i-n])-window)
	}
	slices.Sort(slack)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(100*time.Microsecond)) / 10 } // below 0 too
	return ms(slack[0]), ms(slack[len(slack)/2])
}

// sortedTimes returns times in the order given.
func sortedTimes(times []time.Time, order []int) []time.Time {
	out := make([]time.Time, len(order))
	for i, k := range order {
		out[i] = times[k]
	}
	return out
}
