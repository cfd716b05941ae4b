package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/ledger"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileNearestRank(t *testing.T) {
	g := NewWithT(t)
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, ms(i))
	}
	g.Expect(percentile(ds, 50)).To(Equal(ms(50)))
	g.Expect(percentile(ds, 95)).To(Equal(ms(95)))
	g.Expect(percentile(ds, 99)).To(Equal(ms(99)))
	g.Expect(percentile(ds, 100)).To(Equal(ms(100)))
	g.Expect(percentile(ds[:3], 50)).To(Equal(ms(2)), "ceil(1.5) = 2nd of 3")
	g.Expect(percentile(ds[:1], 99)).To(Equal(ms(1)))
	g.Expect(percentile(nil, 50)).To(BeZero())
}

func TestLatenciesSortsAndRounds(t *testing.T) {
	g := NewWithT(t)
	l := latencies([]time.Duration{ms(300), 1500 * time.Microsecond, ms(200), ms(100)})
	g.Expect(*l).To(Equal(Latency{Count: 4, P50Ms: 100, P95Ms: 300, P99Ms: 300, MaxMs: 300}))
	g.Expect(latencies(nil)).To(BeNil())
	g.Expect(latencies([]time.Duration{1500 * time.Microsecond}).P50Ms).To(Equal(1.5))
}

func TestSteadyRateLeavesOutRampAndTail(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Unix(1000, 0)
	var times []time.Time
	// A slow start (10 events over 10 s), 81 events at 40/s, a slow tail (10 over 10 s).
	for i := range 10 {
		times = append(times, t0.Add(time.Duration(i)*time.Second))
	}
	mid := t0.Add(10 * time.Second)
	for i := range 81 {
		times = append(times, mid.Add(time.Duration(i)*25*time.Millisecond))
	}
	tail := mid.Add(2 * time.Second)
	for i := 1; i <= 10; i++ {
		times = append(times, tail.Add(time.Duration(i)*time.Second))
	}
	// Shuffled input: the function sorts.
	times[0], times[50] = times[50], times[0]
	rate, window := steadyRate(times, steadyFrom, steadyTo)
	g.Expect(rate).To(BeNumerically("~", 40, 0.01))
	g.Expect(window).To(Equal(2 * time.Second))
	whole, _ := steadyRate(times, 0, 1)
	g.Expect(whole).To(BeNumerically("~", 100.0/22, 0.01))

	r, w := steadyRate(times[:1], 0.1, 0.9)
	g.Expect(r).To(BeZero())
	g.Expect(w).To(BeZero())
	r, _ = steadyRate([]time.Time{t0, t0, t0}, 0, 1)
	g.Expect(r).To(BeZero(), "no time passed")
}

func TestMaxInWindowIsHalfOpen(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Exactly one second apart: never in the same window (t-1s, t].
	g.Expect(maxInSecond([]time.Time{at(0), at(time.Second), at(2 * time.Second)})).To(Equal(1))
	g.Expect(maxInSecond([]time.Time{at(0), at(ms(999)), at(ms(1500)), at(ms(1600))})).To(Equal(3))
	var even []time.Time
	for i := range 500 {
		even = append(even, at(time.Duration(i)*time.Second/48))
	}
	g.Expect(maxInSecond(even)).To(Equal(48))
	g.Expect(maxInSecond(nil)).To(BeZero())
}

func TestJournalStatsAndRates(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Unix(1000, 0)
	var entries []emulator.JournalEntry
	entries = append(entries, emulator.JournalEntry{API: "entra", Operation: "token", Status: 200, Time: t0})
	for i := range 100 {
		entries = append(entries, emulator.JournalEntry{API: "botframework", Operation: "sendActivity", Status: 201,
			Time: t0.Add(time.Duration(i) * 20 * time.Millisecond)})
	}
	entries = append(entries, emulator.JournalEntry{API: "botframework", Operation: "sendActivity", Status: 429, Time: t0})
	accepted, throttled, byAPI := journalStats(entries)
	g.Expect(accepted).To(HaveLen(100))
	g.Expect(throttled).To(Equal(1))
	g.Expect(byAPI).To(Equal(map[string]int{"entra": 1, "botframework": 101}))
	g.Expect(sumCounts(byAPI)).To(Equal(102))

	r := &Run{}
	r.fillRates(accepted, accepted, 50)
	g.Expect(r.ConnectorCallsPerSecond).To(Equal(50.0))
	g.Expect(r.MessagesPerSecond).To(Equal(50.0))
	g.Expect(r.UtilisationPercent).To(Equal(100.0))
	g.Expect(r.MaxCallsIn1s).To(Equal(50))
}

func TestWritesPerMessage(t *testing.T) {
	g := NewWithT(t)
	// 6000 ProactiveMessage writes in the window: the bench's 2000 creates, 2000 status patches
	// and 2000 metadata patches; 500 journal writes.
	w := writeCounts{messages: 7000, status: 2500, configMaps: 600, events: 2500, seconds: 130, timed: 7000}.
		minus(writeCounts{messages: 1000, status: 500, configMaps: 100, events: 500, seconds: 10, timed: 1000}, 2000)
	g.Expect(*w).To(Equal(Writes{Messages: 6000, Bench: 2000, Status: 2000, Journal: 500,
		PerMessage: 3.25, ManagerPerMessage: 2.25, StatusPerMessage: 1, MetadataPerMessage: 1, JournalPerMessage: 0.25,
		Events: 2000, EventsPerMessage: 1, MeanMs: 20}))

	// Before the journal: no ConfigMap writes, three by the manager.
	w = writeCounts{messages: 8000, status: 2000}.minus(writeCounts{}, 2000)
	g.Expect(w.ManagerPerMessage).To(Equal(3.0))
	g.Expect(w.JournalPerMessage).To(BeZero())
	g.Expect(w.MetadataPerMessage).To(Equal(2.0))
}

// writeMetrics are the kube-apiserver's counters after a run with the send journal: the
// ConfigMap writes count (Create, the patches, a refused Create), reads and other resources'
// writes do not.
const writeMetrics = `# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="proactivemessages",subresource="",verb="POST"} 2000
apiserver_request_total{code="200",resource="proactivemessages",subresource="status",verb="PATCH"} 2000
apiserver_request_total{code="409",resource="proactivemessages",subresource="status",verb="PATCH"} 3
apiserver_request_total{code="200",resource="proactivemessages",subresource="",verb="PATCH"} 7
apiserver_request_total{code="200",resource="proactivemessages",subresource="",verb="LIST"} 4
apiserver_request_total{code="201",resource="configmaps",subresource="",verb="POST"} 2
apiserver_request_total{code="409",resource="configmaps",subresource="",verb="POST"} 1
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="PATCH"} 150
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="PUT"} 5
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="LIST"} 9
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="WATCH"} 3
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="GET"} 40
apiserver_request_total{code="200",resource="secrets",subresource="",verb="PATCH"} 11
apiserver_request_total{code="200",resource="leases",subresource="",verb="PUT"} 60
apiserver_request_total{code="201",resource="events",subresource="",verb="POST"} 2000
`

func TestCountWritesSeparatesTheJournal(t *testing.T) {
	g := NewWithT(t)
	m, err := parseMetrics(strings.NewReader(writeMetrics))
	g.Expect(err).NotTo(HaveOccurred())
	w := countWrites(m)
	g.Expect(w).To(Equal(writeCounts{messages: 4010, status: 2003, configMaps: 158, events: 2000}))
	per := w.minus(writeCounts{}, 2000)
	g.Expect(per.StatusPerMessage).To(Equal(1.002))
	g.Expect(per.MetadataPerMessage).To(Equal(0.004))
	g.Expect(per.JournalPerMessage).To(Equal(0.079))
	g.Expect(per.ManagerPerMessage).To(Equal(1.084))
	g.Expect(per.PerMessage).To(Equal(2.084))
}

const sampleMetrics = `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="proactivemessages",subresource="",verb="POST"} 2000
apiserver_request_total{code="200",resource="proactivemessages",subresource="status",verb="PATCH"} 3900
apiserver_request_total{code="409",resource="proactivemessages",subresource="",verb="PATCH"} 12
apiserver_request_total{code="200",resource="proactivemessages",subresource="",verb="GET"} 2100
apiserver_request_total{code="201",resource="events",subresource="",verb="POST"} 2000
# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 4.194304e+07
`

func TestMetricsSum(t *testing.T) {
	g := NewWithT(t)
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	g.Expect(err).NotTo(HaveOccurred())
	pm := map[string][]string{"resource": {"proactivemessages"}, "verb": writeVerbs}
	g.Expect(m.sum("apiserver_request_total", pm)).To(Equal(5912.0))
	g.Expect(m.sum("apiserver_request_total", map[string][]string{"resource": {"events"}})).To(Equal(2000.0))
	g.Expect(m.sum("apiserver_request_total", nil)).To(Equal(10012.0))
	g.Expect(m.sum("go_memstats_heap_alloc_bytes", nil)).To(Equal(41943040.0))
	g.Expect(m.sum("absent", nil)).To(BeZero())

	_, err = parseMetrics(strings.NewReader("broken{ 1\n"))
	g.Expect(err).To(HaveOccurred())
}

func TestProcStatus(t *testing.T) {
	g := NewWithT(t)
	status := "Name:\tmanager\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	g.Expect(procKiB(status, "VmRSS:")).To(Equal(102400.0))
	g.Expect(procKiB(status, "VmHWM:")).To(Equal(204800.0))
	g.Expect(procKiB(status, "VmSwap:")).To(BeZero())
}

func TestReportJSONAndTable(t *testing.T) {
	g := NewWithT(t)
	thr := 0.0
	rep := &Report{
		Config: Config{Messages: 2000, Users: 500, Channels: 5, AppRPS: 50, LatencyMs: 80, MaxSendRPS: 48},
		Operator: &Run{Messages: 2000, Delivered: 2000, MessagesPerSecond: 47.5, UtilisationPercent: 95, OperatorThrottled: &thr,
			Latency: &Latency{Count: 2000, P50Ms: 100}},
		Direct:           &Run{Messages: 2000, Delivered: 2000, MessagesPerSecond: 47.9},
		OperatorToDirect: 0.992,
		ManagerMemory:    &Memory{RSSMiB: 80},
	}
	path := filepath.Join(t.TempDir(), "sub", "bench.json")
	g.Expect(writeJSON(path, rep)).To(Succeed())
	b, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	var back map[string]any
	g.Expect(json.Unmarshal(b, &back)).To(Succeed())
	g.Expect(back).To(HaveKeyWithValue("operatorToDirect", 0.992))
	g.Expect(back["operator"]).To(HaveKeyWithValue("utilisationPercent", 95.0))
	g.Expect(back["operator"]).To(HaveKeyWithValue("operatorThrottled", 0.0))
	g.Expect(back["operator"].(map[string]any)["latency"]).To(HaveKeyWithValue("p50Ms", 100.0))
	g.Expect(back).NotTo(HaveKey("scale"))

	var out bytes.Buffer
	g.Expect(printTable(&out, rep)).To(Succeed())
	g.Expect(out.String()).To(ContainSubstring("47.50 messages/s"))
	g.Expect(out.String()).To(ContainSubstring("95.0% of 50/s"))
	g.Expect(out.String()).To(MatchRegexp(`operator/direct\s+0\.992`))

	rep.Operator.APIServerWrites = writeCounts{messages: 4100, status: 2000, configMaps: 300}.minus(writeCounts{}, 2000)
	out.Reset()
	g.Expect(printTable(&out, rep)).To(Succeed())
	g.Expect(out.String()).To(ContainSubstring(
		"2.20 per message: bench creates 2000, manager: 1.00 status + 0.05 metadata + 0.15 journal = 1.20"))
	g.Expect(writeJSON(path, rep)).To(Succeed())
	b, err = os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(b, &back)).To(Succeed())
	g.Expect(back).NotTo(HaveKey("unloadedWrites"))

	rep.UnloadedLatency = &Latency{Count: 10, P50Ms: 110}
	rep.UnloadedWrites = writeCounts{messages: 20, status: 10, configMaps: 20}.minus(writeCounts{}, 10)
	out.Reset()
	g.Expect(printTable(&out, rep)).To(Succeed())
	g.Expect(out.String()).To(MatchRegexp(`unloaded .*one at a time \(10\).*\n\s+API-server writes\s+4\.00 per message: ` +
		`bench creates 10, manager: 1\.00 status \+ 0\.00 metadata \+ 2\.00 journal = 3\.00`))
	g.Expect(back["operator"].(map[string]any)["apiServerWrites"]).To(And(
		HaveKeyWithValue("journal", 300.0), HaveKeyWithValue("journalPerMessage", 0.15),
		HaveKeyWithValue("statusPerMessage", 1.0), HaveKeyWithValue("managerPerMessage", 1.2)))
}

func TestOptionsValidate(t *testing.T) {
	g := NewWithT(t)
	o, err := parseFlags(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.messages).To(Equal(2000))
	g.Expect(o.users).To(Equal(500))
	g.Expect(o.channels).To(Equal(5))

	_, err = parseFlags([]string{"--messages", "0", "--users", "0", "--channels", "0"})
	g.Expect(err).To(MatchError(ContainSubstring("--messages must be positive")))
	g.Expect(err).To(MatchError(ContainSubstring("not both zero")))
	_, err = parseFlags([]string{"--scale", "--messages", "100", "--scale-sent", "80", "--scale-scheduled", "30"})
	g.Expect(err).To(MatchError(ContainSubstring("must not be negative and fit in --messages (100)")))
	o, err = parseFlags([]string{"--manager-args", " --message-workers 16  --zap-log-level=error "})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.managerArgs).To(Equal([]string{"--message-workers", "16", "--zap-log-level=error"}))
}

func TestScaleKinds(t *testing.T) {
	g := NewWithT(t)
	b := &bench{o: options{messages: 10, scaleSent: 3, scaleScheduled: 2}}
	var kinds []scaleKind
	for i := range 10 {
		kinds = append(kinds, b.scaleKind(i))
	}
	g.Expect(kinds).To(Equal([]scaleKind{restored, restored, restored, restored, restored, scheduled, scheduled, sent, sent, sent}))
}

func TestStatCPUSeconds(t *testing.T) {
	g := NewWithT(t)
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	line := "4242 (my manager) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1250 250 0 0 20 0 12 0 100 0 0\n"
	cpu, err := statCPUSeconds(line)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cpu).To(Equal(15.0))
	_, err = statCPUSeconds("garbage")
	g.Expect(err).To(HaveOccurred())
}

func TestHistogramMean(t *testing.T) {
	g := NewWithT(t)
	const h = `# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller="proactivemessage",le="+Inf"} %d
controller_runtime_reconcile_time_seconds_sum{controller="proactivemessage"} %g
controller_runtime_reconcile_time_seconds_count{controller="proactivemessage"} %d
controller_runtime_reconcile_time_seconds_bucket{controller="conversationtarget",le="+Inf"} 5
controller_runtime_reconcile_time_seconds_sum{controller="conversationtarget"} 100
controller_runtime_reconcile_time_seconds_count{controller="conversationtarget"} 5
`
	parse := func(count int, sum float64) metrics {
		m, err := parseMetrics(strings.NewReader(fmt.Sprintf(h, count, sum, count)))
		g.Expect(err).NotTo(HaveOccurred())
		return m
	}
	before, after := parse(10, 1), parse(110, 21)
	pm := map[string][]string{"controller": {"proactivemessage"}}
	g.Expect(meanMs(before, after, "controller_runtime_reconcile_time_seconds", pm)).To(Equal(200.0))
	g.Expect(meanMs(after, after, "controller_runtime_reconcile_time_seconds", pm)).To(BeZero(), "no new samples")
	sum, count := after.histogram("controller_runtime_reconcile_time_seconds", nil)
	g.Expect(sum).To(Equal(121.0))
	g.Expect(count).To(Equal(uint64(115)))
}

func TestCountRecordedReadsAnnotationsOrTheJournal(t *testing.T) {
	g := NewWithT(t)
	msg := func(name, uid string, annotations map[string]string) teamsv1alpha1.ProactiveMessage {
		return teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(uid), Annotations: annotations,
		}}
	}
	msgs := []teamsv1alpha1.ProactiveMessage{
		msg("m-0000000", "u0", map[string]string{teamsv1alpha1.ActivityIDAnnotation: "1:a"}), // an older version's
		msg("m-0000001", "u1", nil), // ids in the journal
		msg("m-0000002", "u2", nil), // marker only: in flight, or its ids not written yet
		msg("m-0000003", "u3", nil), // an entry of another object of that name
		msg("m-0000004", "u4", nil), // accepted without an id
		msg("m-0000010", "u10", nil),
		msg("bulk-0000001", "b1", nil),
	}
	journal := map[string]ledger.Entry{
		"m-0000001":    {UID: "u1", Marker: "t", ActivityID: "1:b"},
		"m-0000002":    {UID: "u2", Marker: "t"},
		"m-0000003":    {UID: "old", Marker: "t", ActivityID: "1:c"},
		"m-0000004":    {UID: "u4", Marker: "t", NoID: true},
		"m-0000010":    {UID: "u10", ActivityID: "1:d"},
		"bulk-0000001": {UID: "b1", ActivityID: "1:e"},
	}
	g.Expect(countRecorded(msgs, journal, 10)).To(Equal(3), "m-0, m-1 and m-4; m-10 is past n, bulk-* not the bench's")
	g.Expect(countRecorded(msgs, journal, 11)).To(Equal(4))
	g.Expect(countRecorded(msgs, nil, 11)).To(Equal(1), "before the journal: annotations only")
}
