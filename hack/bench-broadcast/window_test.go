package main

import (
	"testing"
	"time"
)

func TestWindowSlack(t *testing.T) {
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	spaced := func(gaps ...time.Duration) []time.Time {
		out := []time.Time{start}
		for _, g := range gaps {
			out = append(out, out[len(out)-1].Add(g))
		}
		return out
	}
	every := func(n int, d time.Duration) []time.Duration {
		g := make([]time.Duration, n)
		for i := range g {
			g[i] = d
		}
		return g
	}
	// 3 per 100 ms: four requests 40 ms apart span 120 ms, 20 ms of slack.
	if lo, med := windowSlack(spaced(every(5, 40*time.Millisecond)...), 3, 100*time.Millisecond); lo != 20 || med != 20 {
		t.Errorf("even spacing: got %v / %v ms, want 20 / 20", lo, med)
	}
	// One request 10 ms early: the windows of four span 120, 110, 120, 120 and 130 ms.
	lo, med := windowSlack(spaced(40*time.Millisecond, 40*time.Millisecond, 40*time.Millisecond,
		30*time.Millisecond, 50*time.Millisecond, 40*time.Millisecond, 40*time.Millisecond), 3, 100*time.Millisecond)
	if lo != 10 || med != 20 {
		t.Errorf("one early: got %v / %v ms, want 10 / 20", lo, med)
	}
	// Four within 90 ms: over the limit (the emulator would have answered 429).
	if lo, _ := windowSlack(spaced(40*time.Millisecond, 40*time.Millisecond, 10*time.Millisecond), 3,
		100*time.Millisecond); lo != -10 {
		t.Errorf("over the limit: got %v ms, want -10", lo)
	}
	if lo, med := windowSlack(spaced(every(2, time.Millisecond)...), 3, time.Second); lo != 0 || med != 0 {
		t.Errorf("too few requests: got %v / %v, want 0 / 0", lo, med)
	}
}
