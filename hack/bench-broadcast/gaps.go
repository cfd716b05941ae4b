package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// teamsAppLimit is Teams' limit per app per tenant, requests per second: the ceiling of every
// Connector request the bot makes, the broadcast's and the single messages' together.
const teamsAppLimit = 50

// connectorOps are the Connector calls that count against the per-app limit.
var connectorOps = map[string]bool{"createConversation": true, "sendActivity": true}

// Timing says where a broadcast's time went, from the emulator's request journal: how many
// Connector requests the app made while the broadcast ran (the broadcast's and the single
// messages'), as a share of Teams' per-app limit, and the pauses between requests.
type Timing struct {
	// AppRequests is every Connector request answered between the first and the last copy.
	AppRequests int `json:"appRequests"`
	// ProbeRequests are the single messages' among them.
	ProbeRequests int `json:"singleMessageRequests"`
	// AppPerSecond and AppShare: AppRequests per second, and as a share of 50/s.
	AppPerSecond float64 `json:"appRequestsPerSecond"`
	AppShare     float64 `json:"appShareOfLimit"`
	// BroadcastShare is the broadcast's own requests per second as a share of 50/s;
	// BroadcastShareOfLeft as a share of what the single messages leave of it (50/s less theirs).
	BroadcastShare       float64 `json:"broadcastRequestShareOfLimit"`
	BroadcastShareOfLeft float64 `json:"broadcastRequestShareOfLeft"`
	// Pauses counts gaps of at least pauseMin between consecutive requests, PauseSeconds
	// their total beyond the 20 ms a request takes at 50/s, Longest the longest few.
	Pauses       int         `json:"pauses"`
	PauseSeconds float64     `json:"pauseSeconds"`
	Longest      []PauseSpot `json:"longestPauses,omitempty"`
	// SlowSeconds counts whole seconds of the run with fewer than 45 requests.
	SlowSeconds int `json:"secondsUnder45Requests"`
	// SlackMinMs and SlackMedianMs: of every 51 consecutive accepted requests, how much longer
	// than Teams' 1 s window they took to reach the emulator (the shortest and the median):
	// 0 would be the 51st request exactly at the limit, below 0 a 429. The median is what the
	// limiter's margin and round-trip accounting cost per window; the minimum, how close the run
	// came to a 429 (window.go).
	SlackMinMs    float64 `json:"windowSlackMinMs"`
	SlackMedianMs float64 `json:"windowSlackMedianMs"`
}

// PauseSpot is one pause: when (seconds after the first copy), how long, and how many of the
// broadcast's requests came before it (a batch of 250 warm people is 250 requests, cold 500).
type PauseSpot struct {
	At     float64 `json:"atSecond"`
	Millis float64 `json:"ms"`
	After  int     `json:"afterBroadcastRequests"`
}

// pauseMin is the gap counted as a pause: five slots at 50/s.
const pauseMin = 100 * time.Millisecond

// timing reads the journal entries of one broadcast between first and last; probeConv is the
// single messages' conversation.
func timing(entries []emulator.JournalEntry, first, last time.Time, probeConv string) Timing {
	var t Timing
	var times []time.Time
	probe := map[int]bool{}
	for _, e := range entries {
		if e.API != "botframework" || !connectorOps[e.Operation] || e.Status == http.StatusTooManyRequests ||
			e.Time.Before(first) || e.Time.After(last) {
			continue
		}
		if probeConv != "" && e.Operation == "sendActivity" && containsConv(e.Path, probeConv) {
			probe[len(times)] = true
			t.ProbeRequests++
		}
		times = append(times, e.Time)
	}
	t.AppRequests = len(times)
	secs := last.Sub(first).Seconds()
	if secs <= 0 || len(times) < 2 {
		return t
	}
	t.AppPerSecond = round(float64(len(times))/secs, 2)
	t.AppShare = round(float64(len(times))/secs/teamsAppLimit, 3)
	bcastRate := float64(len(times)-t.ProbeRequests) / secs
	t.BroadcastShare = round(bcastRate/teamsAppLimit, 3)
	t.BroadcastShareOfLeft = round(bcastRate/(teamsAppLimit-float64(t.ProbeRequests)/secs), 3)
	// Journal entries are added as answers finish: sort by time.
	order := make([]int, len(times))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return times[a].Compare(times[b]) })
	var spots []PauseSpot
	bcast := 0
	for k := 1; k < len(order); k++ {
		if !probe[order[k-1]] {
			bcast++
		}
		gap := times[order[k]].Sub(times[order[k-1]])
		if gap < pauseMin {
			continue
		}
		t.Pauses++
		t.PauseSeconds += (gap - time.Second/teamsAppLimit).Seconds()
		spots = append(spots, PauseSpot{At: round(times[order[k-1]].Sub(first).Seconds(), 1),
			Millis: float64(gap.Milliseconds()), After: bcast})
	}
	t.PauseSeconds = round(t.PauseSeconds, 1)
	t.SlackMinMs, t.SlackMedianMs = windowSlack(sortedTimes(times, order), teamsAppLimit, time.Second)
	slices.SortFunc(spots, func(a, b PauseSpot) int { return int(b.Millis - a.Millis) })
	t.Longest = spots[:min(len(spots), 12)]
	perSecond := make([]int, int(secs)+1)
	for _, at := range times {
		perSecond[int(at.Sub(first).Seconds())]++
	}
	for _, n := range perSecond[:len(perSecond)-1] { // the last second is partial
		if n < 45 {
			t.SlowSeconds++
		}
	}
	return t
}

func containsConv(path, conv string) bool {
	return strings.Contains(path, "/"+conv+"/") || strings.Contains(path, "/"+url.PathEscape(conv)+"/")
}
