// Command bench-broadcast measures a broadcast (a ProactiveMessage to an audience) against the
// Teams emulator at Teams' limits: a real control plane, the manager binary as its own process,
// the emulator in this process over TLS. It sends to N people twice (cold: create and send per
// person; warm: the conversations are known), sends single messages to another user during the
// broadcasts, and prints delivered per second as a share of the ceiling, 429s, API server
// writes per 1,000 people, the manager's peak RSS and the single messages' p99 latency.
// docs/performance.md reports it.
//
//	go run ./hack/bench-broadcast --people 10000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

const (
	ns    = "bench"
	adele = "adele"
)

// The broadcasts a run can make: cold creates each 1:1 conversation and sends (two requests a
// person), warm sends to the conversations the cold one created.
const (
	pathCold = "cold"
	pathWarm = "warm"
)

type options struct {
	people      int
	latency     time.Duration
	probeEvery  time.Duration
	timeout     time.Duration
	out         string
	managerLog  string
	managerArgs []string
	// paths are the broadcasts to run, in order: the warm one reuses the cold one's conversations.
	paths []string
}

// Run is one broadcast's figures.
type Run struct {
	Path              string  `json:"path"`
	People            int     `json:"people"`
	Delivered         int     `json:"delivered"`
	Seconds           float64 `json:"seconds"`
	PerSecond         float64 `json:"deliveredPerSecond"`
	Ceiling           float64 `json:"ceilingPerSecond"`
	ShareOfCeiling    float64 `json:"shareOfCeiling"`
	Throttled         int     `json:"throttled429"`
	WritesPerThousand float64 `json:"apiserverWritesPerThousandPeople"`
	ProbeP99Ms        float64 `json:"singleMessageP99Ms"`
	ProbeMaxMs        float64 `json:"singleMessageMaxMs"`
	Probes            int     `json:"singleMessages"`
	// Timing: the app's requests while the broadcast ran, and the pauses (gaps.go).
	Timing Timing `json:"timing"`
}

// Report is the whole run.
type Report struct {
	Started   time.Time `json:"started"`
	People    int       `json:"people"`
	LatencyMs int64     `json:"emulatorLatencyMs"`
	Runs      []Run     `json:"runs"`
	PeakRSS   float64   `json:"managerPeakRssMiB"`
	CPUs      int       `json:"cpus"`
	Load      string    `json:"loadAverage"`
}

func main() {
	var o options
	fs := flag.NewFlagSet("bench-broadcast", flag.ContinueOnError)
	fs.IntVar(&o.people, "people", 10000, "the audience (an Entra group of generated users)")
	fs.DurationVar(&o.latency, "latency", 80*time.Millisecond, "latency the emulator adds to every call")
	fs.DurationVar(&o.probeEvery, "probe-every", 2*time.Second,
		"a single message to another user this often during the broadcasts")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Hour, "how long one broadcast may take")
	fs.StringVar(&o.out, "out", "bin/bench-broadcast.json", "write the JSON report here")
	fs.StringVar(&o.managerLog, "manager-log", "bin/bench-broadcast-manager.log",
		"copy the manager's log here (empty: do not)")
	args := fs.String("manager-args", "", "extra manager flags, space-separated")
	paths := fs.String("paths", "cold,warm", "the broadcasts to run, in order (cold: create + send; warm: send)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.people <= 0 || o.people > 200000 {
		fmt.Fprintln(os.Stderr, "bench-broadcast: --people must be between 1 and 200000")
		os.Exit(2)
	}
	o.managerArgs = strings.Fields(*args)
	o.paths = strings.Split(*paths, ",")
	for _, p := range o.paths {
		if p != pathCold && p != pathWarm {
			fmt.Fprintf(os.Stderr, "bench-broadcast: --paths: %q is neither cold nor warm\n", p)
			os.Exit(2)
		}
	}
	if o.paths[0] == pathWarm {
		fmt.Fprintln(os.Stderr, "bench-broadcast: --paths: a warm broadcast needs a cold one before it")
		os.Exit(2)
	}
	logf.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-broadcast:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type bench struct {
	o       options
	env     *harness.Env
	c       client.Client
	api     *http.Client
	apiHost string
	// perProbe is the API server writes one single message costs, taken out of a broadcast's.
	perProbe float64
	// probeConv is the single messages' conversation.
	probeConv string
}

func run(ctx context.Context, o options) (err error) {
	dir, err := os.MkdirTemp("", "teams-operator-bench-broadcast-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	progress("starting the control plane and the emulator, building the manager (in %s)", dir)
	env, err := harness.Start(harness.Options{Dir: dir, Emulator: emulator.Options{
		AppRPS: 50, Latency: o.latency, ConversationLimits: emulator.DefaultConversationLimits,
		JournalSize: 4*o.people + 20000,
	}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	b := &bench{o: o, env: env, c: c, api: hc, apiHost: cfg.Host}
	progress("generating %d people", o.people)
	if err := env.Emulator.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{emulator.GeneratedTenant(
		emulator.GenerateOptions{Users: o.people, BlockedEvery: -1, NotInstalledEvery: -1, GuestEvery: -1})}}); err != nil {
		return err
	}
	_, err = env.Emulator.Install(emulator.ScopeUser, emulator.DefaultUserAdeleID, emulator.DefaultTeamsAppID)
	if err != nil {
		return err
	}
	if err := env.Namespace(ctx, ns); err != nil {
		return err
	}
	flags := append([]string{"--default-credentials", ns + "/" + harness.CredentialsName}, o.managerArgs...)
	mgr, err := env.StartManager(ctx, "manager", flags...)
	if err != nil {
		return err
	}
	if err := b.targets(ctx); err != nil {
		return err
	}
	rep := &Report{Started: time.Now().UTC().Truncate(time.Second), People: o.people, LatencyMs: o.latency.Milliseconds()}
	if b.perProbe, err = b.calibrate(ctx); err != nil {
		return err
	}
	ceilings := map[string]float64{pathCold: 25, pathWarm: 50}
	for _, name := range o.paths {
		path := struct {
			name    string
			ceiling float64
		}{name, ceilings[name]}
		progress("%s broadcast to %d people", path.name, o.people)
		r, err := b.broadcast(ctx, path.name, path.ceiling)
		if err != nil {
			return err
		}
		rep.Runs = append(rep.Runs, *r)
	}
	rep.PeakRSS = peakRSS(mgr.Pid())
	if o.managerLog != "" {
		if data, err := os.ReadFile(mgr.Log); err == nil {
			_ = os.WriteFile(o.managerLog, data, 0o600)
		}
	}
	rep.CPUs, rep.Load = cpus(), loadavg()
	printTable(os.Stdout, rep)
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.out, append(data, '\n'), 0o644) //nolint:gosec // a report, not a secret
}

func (b *bench) targets(ctx context.Context) error {
	for _, t := range []*teamsv1alpha1.ConversationTarget{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everyone"}, Spec: teamsv1alpha1.ConversationTargetSpec{
			Audience: &teamsv1alpha1.AudienceTarget{Group: &teamsv1alpha1.GroupAudience{ID: emulator.GeneratedGroupID},
				MaxSize: new(int32(1000000))}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: adele}, Spec: teamsv1alpha1.ConversationTargetSpec{
			User: &teamsv1alpha1.UserTarget{ID: emulator.DefaultUserAdeleID}}},
	} {
		if err := b.c.Create(ctx, t); err != nil {
			return err
		}
	}
	return b.wait(ctx, time.Minute, func() (bool, error) {
		t := &teamsv1alpha1.ConversationTarget{}
		err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: adele}, t)
		b.probeConv = t.Status.ConversationID
		return err == nil && t.Status.ConversationID != "", err
	})
}

// broadcast sends one broadcast and single messages beside it, and measures both.
func (b *bench) broadcast(ctx context.Context, name string, ceiling float64) (*Run, error) {
	text := "bench-" + name
	writesBefore, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	seqBefore := lastSeq(b.env.Emulator)
	msg := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "everyone"}, Text: text}}
	if err := b.c.Create(ctx, msg); err != nil {
		return nil, err
	}
	probes := b.probes(ctx, name)
	err = b.wait(ctx, b.o.timeout, func() (bool, error) {
		err := b.c.Get(ctx, client.ObjectKeyFromObject(msg), msg)
		return err == nil && msg.Status.Broadcast != nil && msg.Status.Broadcast.FinishedAt != nil, err
	})
	latencies := probes()
	if err != nil {
		return nil, err
	}
	writesAfter, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	var first, last time.Time
	delivered := 0
	for _, a := range b.env.Emulator.Activities() {
		if !strings.Contains(string(a.Activity), `"`+text+`"`) {
			continue
		}
		delivered++
		if first.IsZero() || a.CreatedAt.Before(first) {
			first = a.CreatedAt
		}
		last = maxTime(last, a.CreatedAt)
	}
	throttled := 0
	entries := b.env.Emulator.RequestsSince(seqBefore)
	for _, e := range entries {
		if e.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	secs := last.Sub(first).Seconds()
	rate := float64(delivered-1) / max(secs, 1e-9)
	r := &Run{Path: name, People: b.o.people, Delivered: delivered, Seconds: round(secs, 1), PerSecond: round(rate, 2),
		Ceiling: ceiling, ShareOfCeiling: round(rate/ceiling, 3), Throttled: throttled,
		WritesPerThousand: round((writesAfter-writesBefore-b.perProbe*float64(len(latencies)))/float64(b.o.people)*1000, 1),
		Probes:            len(latencies), Timing: timing(entries, first, last, b.probeConv)}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		r.ProbeP99Ms = float64(latencies[min(len(latencies)-1, len(latencies)*99/100)].Milliseconds())
		r.ProbeMaxMs = float64(latencies[len(latencies)-1].Milliseconds())
	}
	progress("%s: %d delivered in %.1f s, %.2f/s (%.1f%% of %g/s), %d 429s, %.1f writes per 1,000 people, "+
		"single message p99 %.0f ms", name, delivered, secs, rate, 100*rate/ceiling, ceiling, throttled,
		r.WritesPerThousand, r.ProbeP99Ms)
	t := r.Timing
	progress("%s: the app's Connector requests %.2f/s (%.1f%% of %d/s; the broadcast's %.1f%%, %d single messages'), "+
		"%d pauses of %s or more (%.1f s beyond 20 ms each), %d seconds under 45 requests, "+
		"51 requests span the 1 s window plus %.1f ms at least, %.1f ms in the median", name, t.AppPerSecond,
		100*t.AppShare, teamsAppLimit, 100*t.BroadcastShare, t.ProbeRequests, t.Pauses, pauseMin, t.PauseSeconds,
		t.SlowSeconds, t.SlackMinMs, t.SlackMedianMs)
	for _, p := range t.Longest {
		progress("%s:   pause of %.0f ms at %.1f s, after %d broadcast requests", name, p.Millis, p.At, p.After)
	}
	return r, nil
}

// calibrate measures the API server writes of one single message (creation included), sent
// alone as the probes are (one every probeEvery): each is created once the writes of the one
// before have settled, so none shares a write of the send journal with another (the journal
// groups the writes of messages that come within ledger.FlushDelay of each other).
func (b *bench) calibrate(ctx context.Context) (float64, error) {
	const n = 5
	before, err := b.writes(ctx)
	if err != nil {
		return 0, err
	}
	after := before
	for i := range n {
		text := fmt.Sprintf("probe-calibrate-%d", i)
		m := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: text},
			Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: adele}, Text: text}}
		if err := b.c.Create(ctx, m); err != nil {
			return 0, err
		}
		if err := b.wait(ctx, time.Minute, func() (bool, error) {
			_, ok := b.arrivals()[text]
			return ok, nil
		}); err != nil {
			return 0, err
		}
		if after, err = b.settledWrites(ctx, after); err != nil {
			return 0, err
		}
	}
	return (after - before) / n, nil
}

// settledWrites waits until the write count has moved past prev and then not changed for a
// second (longer than the send journal's grouping delay), and returns it.
func (b *bench) settledWrites(ctx context.Context, prev float64) (float64, error) {
	const quiet = time.Second
	last, since := prev, time.Now()
	err := b.wait(ctx, 30*time.Second, func() (bool, error) {
		cur, err := b.writes(ctx)
		if err != nil {
			return false, err
		}
		if cur != last {
			last, since = cur, time.Now()
		}
		return last > prev && time.Since(since) >= quiet, nil
	})
	return last, err
}

// probes sends a single message to another user every probeEvery until the returned function
// is called, which returns how long each took from creation to Teams.
func (b *bench) probes(ctx context.Context, name string) func() []time.Duration {
	done := make(chan struct{})
	result := make(chan []time.Duration)
	go func() {
		type sent struct {
			text string
			at   time.Time
		}
		var all []sent
		tick := time.NewTicker(b.o.probeEvery)
		defer tick.Stop()
	loop:
		for i := 0; ; i++ {
			select {
			case <-done:
				break loop
			case <-tick.C:
			}
			text := fmt.Sprintf("probe-%s-%d", name, i)
			m := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: text},
				Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: adele}, Text: text}}
			at := time.Now()
			if b.c.Create(ctx, m) == nil {
				all = append(all, sent{text, at})
			}
		}
		// Give the last probes time to arrive.
		_ = b.wait(ctx, 30*time.Second, func() (bool, error) { return len(b.arrivals()) >= len(all), nil })
		arr := b.arrivals()
		var out []time.Duration
		for _, s := range all {
			if at, ok := arr[s.text]; ok {
				out = append(out, at.Sub(s.at))
			}
		}
		result <- out
	}()
	return func() []time.Duration { close(done); return <-result }
}

func (b *bench) arrivals() map[string]time.Time {
	out := map[string]time.Time{}
	for _, a := range b.env.Emulator.Activities() {
		var act struct {
			Text string `json:"text"`
		}
		if a.UserID == emulator.DefaultUserAdeleID && json.Unmarshal(a.Activity, &act) == nil &&
			strings.HasPrefix(act.Text, "probe-") {
			out[act.Text] = a.CreatedAt
		}
	}
	return out
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true}

// writes reads the API server's count of write requests to configmaps, proactivemessages and
// conversationtargets.
func (b *bench) writes(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(b.apiHost, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.api.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels, value, _ := strings.Cut(line, "} ")
		if !strings.Contains(labels, `resource="configmaps"`) && !strings.Contains(labels, `resource="proactivemessages"`) &&
			!strings.Contains(labels, `resource="conversationtargets"`) {
			continue
		}
		verb := ""
		if _, v, ok := strings.Cut(labels, `verb="`); ok {
			verb, _, _ = strings.Cut(v, `"`)
		}
		if !writeVerbs[verb] {
			continue
		}
		n, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
		total += n
	}
	return total, nil
}

func (b *bench) wait(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s (last error: %v)", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func lastSeq(e *emulator.Emulator) int64 {
	all := e.Requests()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Seq
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

func peakRSS(pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kib, _ := strconv.ParseFloat(f[0], 64)
				return round(kib/1024, 1)
			}
		}
	}
	return 0
}

func cpus() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func printTable(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "broadcast to %d people (emulator latency %d ms, %d CPUs, load %s)\n",
		r.People, r.LatencyMs, r.CPUs, r.Load)
	_, _ = fmt.Fprintln(tw, "path\tdelivered\tseconds\tper second\tceiling\tshare\t429s\t"+
		"writes/1,000 people\tsingle message p99 (max)")
	for _, run := range r.Runs {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%g\t%.1f%%\t%d\t%.1f\t%.0f ms (%.0f ms, %d sent)\n",
			run.Path, run.Delivered, run.Seconds, run.PerSecond, run.Ceiling, 100*run.ShareOfCeiling, run.Throttled,
			run.WritesPerThousand,
			run.ProbeP99Ms, run.ProbeMaxMs, run.Probes)
	}
	_, _ = fmt.Fprintln(tw, "path\tapp requests/s\tshare of 50/s\tbroadcast's share\tof what is left\t"+
		"single messages' requests\tpauses >= 100 ms (s)\twindow slack min / median")
	for _, run := range r.Runs {
		t := run.Timing
		_, _ = fmt.Fprintf(tw, "%s\t%.2f\t%.1f%%\t%.1f%%\t%.1f%%\t%d\t%d (%.1f s)\t%.1f / %.1f ms\n", run.Path,
			t.AppPerSecond, 100*t.AppShare, 100*t.BroadcastShare, 100*t.BroadcastShareOfLeft, t.ProbeRequests, t.Pauses,
			t.PauseSeconds, t.SlackMinMs, t.SlackMedianMs)
	}
	_, _ = fmt.Fprintf(tw, "manager peak RSS\t%.1f MiB\n", r.PeakRSS)
	_ = tw.Flush()
}
