package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// Report is everything one run measured; it is written as JSON (--out) and printed as a table.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Config  Config    `json:"config"`
	// StartSeconds is building the manager and starting the control plane and the emulator.
	StartSeconds float64 `json:"startSeconds"`
	Setup        *Setup  `json:"setup,omitempty"`
	Operator     *Run    `json:"operator,omitempty"`
	// UnloadedLatency is create→delivered for messages sent one at a time after the burst.
	UnloadedLatency *Latency `json:"unloadedLatency,omitempty"`
	// UnloadedWrites are the API-server writes of those messages: nothing to share the
	// journal's writes with.
	UnloadedWrites *Writes `json:"unloadedWrites,omitempty"`
	// Priority is the priority phase: High messages while another namespace floods Bulk.
	Priority *Priority `json:"priority,omitempty"`
	// ManagerMemory is the manager's memory at the end of the operator run.
	ManagerMemory *Memory `json:"managerMemory,omitempty"`
	Direct        *Run    `json:"direct,omitempty"`
	// OperatorToDirect is the operator's steady messages per second over the direct loop's.
	OperatorToDirect float64 `json:"operatorToDirect,omitempty"`
	Scale            *Scale  `json:"scale,omitempty"`
	Seconds          float64 `json:"seconds"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	// LoadAverage is /proc/loadavg at the start: other work on the machine shows here.
	LoadAverage string `json:"loadAverage"`
}

// Config is what the run was asked to do.
type Config struct {
	Messages    int      `json:"messages"`
	Users       int      `json:"users"`
	Channels    int      `json:"channels"`
	AppRPS      int      `json:"appRps"`
	LatencyMs   int64    `json:"latencyMs"`
	MaxSendRPS  float64  `json:"maxSendRps"`
	Creators    int      `json:"creators"`
	ManagerArgs []string `json:"managerArgs,omitempty"`
	// ManagerEnv is the managers' extra environment (--memory-limit: GOMEMLIMIT).
	ManagerEnv []string `json:"managerEnv,omitempty"`
}

// Setup is resolving the ConversationTargets, before any message.
type Setup struct {
	Targets        int     `json:"targets"`
	Seconds        float64 `json:"seconds"`
	MicrosoftCalls int     `json:"microsoftCalls"`
	Throttled      int     `json:"throttled"`
}

// Run is one way of sending the messages: through the operator, or the direct loop.
type Run struct {
	Messages  int `json:"messages"`
	Delivered int `json:"delivered"`
	// Seconds is from the first create (or the loop's start) to the last delivery.
	Seconds float64 `json:"seconds"`
	// MessagesPerSecond and ConnectorCallsPerSecond are steady rates (the middle 80% of the
	// deliveries, and of the accepted Connector calls).
	MessagesPerSecond       float64 `json:"messagesPerSecond"`
	ConnectorCallsPerSecond float64 `json:"connectorCallsPerSecond"`
	// UtilisationPercent is ConnectorCallsPerSecond over the emulator's allowed rate.
	UtilisationPercent float64 `json:"utilisationPercent"`
	// MaxCallsIn1s is the most accepted Connector calls in any one-second window, by the
	// journal's times: when the emulator finished a call, after its latency, so a little jitter
	// can show one more than the limit it applied on arrival.
	MaxCallsIn1s int `json:"maxCallsIn1s"`
	// Throttled counts 429 answers in the emulator's journal; OperatorThrottled is the
	// manager's own teams_operator_api_throttled_total.
	Throttled         int      `json:"throttled"`
	OperatorThrottled *float64 `json:"operatorThrottled,omitempty"`
	// MicrosoftCalls are the journal's entries by API (entra, graph, botframework).
	MicrosoftCalls           map[string]int `json:"microsoftCalls"`
	MicrosoftCallsPerMessage float64        `json:"microsoftCallsPerMessage"`
	APIServerWrites          *Writes        `json:"apiServerWrites,omitempty"`
	// Manager is what the manager's own metrics say about the run.
	Manager *ManagerStats `json:"manager,omitempty"`
	Latency *Latency      `json:"latency,omitempty"`
}

// Writes are kube-apiserver write requests (POST, PUT, PATCH, DELETE, APPLY) from its own
// apiserver_request_total.
type Writes struct {
	// Messages are writes to proactivemessages (and their status); Bench is the bench's own
	// creates among them; Status the writes to the status subresource among them.
	Messages int `json:"proactiveMessages"`
	Bench    int `json:"byBench"`
	Status   int `json:"status"`
	// Journal are writes to ConfigMaps: the manager's send journal (teams-operator-sends-<n>).
	Journal int `json:"journal"`
	// PerMessage counts every write (ProactiveMessages and the journal); ManagerPerMessage leaves
	// out the bench's creates and is the sum of the manager's status, metadata (the object's
	// annotations and finalizers) and journal writes per message.
	PerMessage         float64 `json:"perMessage"`
	ManagerPerMessage  float64 `json:"managerPerMessage"`
	StatusPerMessage   float64 `json:"statusPerMessage"`
	MetadataPerMessage float64 `json:"metadataPerMessage"`
	JournalPerMessage  float64 `json:"journalPerMessage"`
	// Events are Event writes (the manager records one per delivery).
	Events           int     `json:"events"`
	EventsPerMessage float64 `json:"eventsPerMessage"`
	// MeanMs is the API server's mean time for a ProactiveMessage write
	// (apiserver_request_duration_seconds).
	MeanMs float64 `json:"meanMs"`
}

// ManagerStats explain where the manager's time went while it delivered the messages.
type ManagerStats struct {
	// CPUSeconds is the CPU time the manager used (user and system).
	CPUSeconds float64 `json:"cpuSeconds"`
	// Reconciles of ProactiveMessages, and their mean duration.
	Reconciles      int     `json:"reconciles"`
	MeanReconcileMs float64 `json:"meanReconcileMs"`
	// Mean waits in the client-side app and conversation limiters, per Connector call.
	MeanAppLimiterWaitMs          float64 `json:"meanAppLimiterWaitMs"`
	MeanConversationLimiterWaitMs float64 `json:"meanConversationLimiterWaitMs"`
	// MeanConnectorCallMs is a Connector request's mean duration, as the manager saw it.
	MeanConnectorCallMs float64 `json:"meanConnectorCallMs"`
}

// Latency summarises create→delivered times.
type Latency struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50Ms"`
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

// Memory is a process's memory: RSS from /proc, the Go heap from its metrics.
type Memory struct {
	RSSMiB       float64 `json:"rssMiB"`
	PeakRSSMiB   float64 `json:"peakRssMiB"`
	HeapAllocMiB float64 `json:"heapAllocMiB"`
	HeapInuseMiB float64 `json:"heapInuseMiB"`
}

// Scale is the restart run with many ProactiveMessages present.
type Scale struct {
	Objects   int `json:"objects"`
	Restored  int `json:"restored"`
	Sent      int `json:"sent"`
	Scheduled int `json:"scheduled"`
	// CreateSeconds is creating every object; SettleSeconds until every one but the
	// scheduled is Delivered (both from the first create).
	CreateSeconds float64 `json:"createSeconds"`
	SettleSeconds float64 `json:"settleSeconds"`
	Before        *Memory `json:"memoryBeforeRestart"`
	// ReadySeconds is the new manager's start to /readyz; ResyncSeconds to every object
	// reconciled and the queue empty.
	ReadySeconds  float64 `json:"readySeconds"`
	ResyncSeconds float64 `json:"resyncSeconds"`
	Reconciles    int     `json:"reconciles"`
	After         *Memory `json:"memoryAfterResync"`
	// After the restart: Microsoft calls of any kind, sends among them, and API-server writes
	// to ProactiveMessages.
	CallsAfterRestart  int `json:"microsoftCallsAfterRestart"`
	SendsAfterRestart  int `json:"sendsAfterRestart"`
	WritesAfterRestart int `json:"proactiveMessageWritesAfterRestart"`
	// JournalWritesAfterRestart are ConfigMap writes (the send journal) after the restart.
	JournalWritesAfterRestart int `json:"journalWritesAfterRestart"`
	// DeliveredInTeams is how many activities the emulator holds: each sent message once.
	DeliveredInTeams int `json:"activitiesInTeams"`
}

// journalStats reads emulator journal entries: the times of accepted (2xx) Connector calls,
// the number of 429 answers and the entries per API.
func journalStats(entries []emulator.JournalEntry) (accepted []time.Time, throttled int, byAPI map[string]int) {
	byAPI = map[string]int{}
	for _, e := range entries {
		byAPI[e.API]++
		if e.Status == http.StatusTooManyRequests {
			throttled++
		}
		if e.API == "botframework" && e.Status >= 200 && e.Status <= 299 {
			accepted = append(accepted, e.Time)
		}
	}
	return accepted, throttled, byAPI
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// fillRates sets the steady rates of r from the delivery times and the accepted calls.
func (r *Run) fillRates(delivered, accepted []time.Time, appRPS int) {
	r.MessagesPerSecond, _ = steadyRate(delivered, steadyFrom, steadyTo)
	r.ConnectorCallsPerSecond, _ = steadyRate(accepted, steadyFrom, steadyTo)
	r.MessagesPerSecond = round(r.MessagesPerSecond, 2)
	r.ConnectorCallsPerSecond = round(r.ConnectorCallsPerSecond, 2)
	r.UtilisationPercent = round(100*ratio(r.ConnectorCallsPerSecond, float64(appRPS)), 1)
	r.MaxCallsIn1s = maxInSecond(accepted)
}

func writeJSON(path string, r *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printTable writes the figures for people.
func printTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		_, _ = fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	c := r.Config
	row("machine", "%d CPUs, %s, load average at start %s", r.Machine.CPUs, r.Machine.GoVersion, r.Machine.LoadAverage)
	row("workload", "%d messages over %d users and %d channels", c.Messages, c.Users, c.Channels)
	row("emulator", "%d requests/s per app, %d ms per call, Teams' per-conversation limits", c.AppRPS, c.LatencyMs)
	row("manager", "--max-send-rps %g %v %v", c.MaxSendRPS, c.ManagerArgs, c.ManagerEnv)
	row("start", "%.1f s (build the manager, start etcd, kube-apiserver and the emulator)", r.StartSeconds)
	if s := r.Setup; s != nil {
		row("targets", "%d Ready in %.1f s (%d Microsoft calls, %d throttled)",
			s.Targets, s.Seconds, s.MicrosoftCalls, s.Throttled)
	}
	if o := r.Operator; o != nil {
		printRun(row, "operator", o, c.AppRPS)
	}
	if l := r.UnloadedLatency; l != nil {
		row("unloaded", "create→delivered one at a time (%d): p50 %.0f ms, p95 %.0f ms, max %.0f ms",
			l.Count, l.P50Ms, l.P95Ms, l.MaxMs)
		if w := r.UnloadedWrites; w != nil {
			printWrites(row, w)
		}
	}
	if p := r.Priority; p != nil {
		row("priority", "%d High messages from one namespace while another floods %d Bulk (done in %.1f s)",
			p.High, p.Bulk, p.BulkSeconds)
		if l := p.HighLatency; l != nil {
			row("  High create→delivered", "p50 %.0f ms, p99 %.0f ms, max %.0f ms (goal: p99 ≤ 2 s); "+
				"%d Bulk still to go after the last", l.P50Ms, l.P99Ms, l.MaxMs, p.BulkLeftAtLastHigh)
		}
	}
	if m := r.ManagerMemory; m != nil {
		row("manager memory", "%s", m)
	}
	if d := r.Direct; d != nil {
		printRun(row, "direct loop", d, c.AppRPS)
		row("operator/direct", "%.3f (steady messages per second)", r.OperatorToDirect)
	}
	if s := r.Scale; s != nil {
		printScale(row, s)
	}
	row("total", "%.1f s", r.Seconds)
	return tw.Flush()
}

func printRun(row func(string, string, ...any), name string, o *Run, appRPS int) {
	row(name, "%d/%d delivered in %.1f s", o.Delivered, o.Messages, o.Seconds)
	row("  rate", "%.2f messages/s, %.2f Connector calls/s = %.1f%% of %d/s (steady); at most %d calls in any 1 s",
		o.MessagesPerSecond, o.ConnectorCallsPerSecond, o.UtilisationPercent, appRPS, o.MaxCallsIn1s)
	thr := fmt.Sprintf("%d answers 429", o.Throttled)
	if o.OperatorThrottled != nil {
		thr += fmt.Sprintf("; teams_operator_api_throttled_total %g", *o.OperatorThrottled)
	}
	row("  throttled", "%s", thr)
	row("  Microsoft calls", "%.3f per message %v", o.MicrosoftCallsPerMessage, o.MicrosoftCalls)
	if w := o.APIServerWrites; w != nil {
		printWrites(row, w)
		row("", "a ProactiveMessage write takes %.0f ms on average; events %.2f per message", w.MeanMs, w.EventsPerMessage)
	}
	if m := o.Manager; m != nil {
		row("  manager", "CPU %.1f s (%.1f ms per message); %d reconciles of %.0f ms on average",
			m.CPUSeconds, 1000*m.CPUSeconds/float64(o.Messages), m.Reconciles, m.MeanReconcileMs)
		row("", "per Connector call: %.0f ms in the request, %.0f ms waiting for the app limiter, "+
			"%.0f ms for the conversation's",
			m.MeanConnectorCallMs, m.MeanAppLimiterWaitMs, m.MeanConversationLimiterWaitMs)
	}
	if l := o.Latency; l != nil {
		row("  create→delivered", "p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms", l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
}

func printWrites(row func(string, string, ...any), w *Writes) {
	row("  API-server writes", "%.2f per message: bench creates %d, manager: %.2f status + %.2f metadata + "+
		"%.2f journal = %.2f", w.PerMessage, w.Bench, w.StatusPerMessage, w.MetadataPerMessage,
		w.JournalPerMessage, w.ManagerPerMessage)
}

func printScale(row func(string, string, ...any), s *Scale) {
	row("scale", "%d objects: %d restored (delivered earlier), %d sent now, %d scheduled for later",
		s.Objects, s.Restored, s.Sent, s.Scheduled)
	row("  create", "%.1f s; all settled after %.1f s", s.CreateSeconds, s.SettleSeconds)
	row("  memory before restart", "%s", s.Before)
	row("  restart", "ready after %.1f s; resync (%d reconciles, queue empty) after %.1f s",
		s.ReadySeconds, s.Reconciles, s.ResyncSeconds)
	row("  memory after resync", "%s", s.After)
	row("  after restart", "%d Microsoft calls, %d sends, %d ProactiveMessage writes, %d journal writes; "+
		"Teams holds %d activities", s.CallsAfterRestart, s.SendsAfterRestart, s.WritesAfterRestart,
		s.JournalWritesAfterRestart, s.DeliveredInTeams)
}

func (m *Memory) String() string {
	if m == nil {
		return "-"
	}
	return fmt.Sprintf("RSS %.0f MiB (peak %.0f MiB), heap alloc %.0f MiB, heap in use %.0f MiB",
		m.RSSMiB, m.PeakRSSMiB, m.HeapAllocMiB, m.HeapInuseMiB)
}
