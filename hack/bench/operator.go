package main

import (
	"context"
	"crypto/sha1" //nolint:gosec // derives stable test ids, not security
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/test/harness"
)

const (
	namespace = "bench"
	// messageController is the ProactiveMessage controller's name in controller-runtime's metrics.
	messageController = "proactivemessage"
)

// bench holds what the phases share.
type bench struct {
	o   options
	env *harness.Env
	// c has no client-side rate limit, so creating objects is not what the bench measures.
	c client.Client
	// api reads the kube-apiserver's own /metrics.
	api     *http.Client
	apiHost string
	mgr     *harness.Manager
	// pprof is where the manager serves its Go profiles (the scale run only).
	pprof string
	// proofKey signs the restored messages of the scale run (the managers' --annotation-key-file).
	proofKey []byte
	targets  []target
	track    *tracker
	// stopWatch stops the informer: the API server waits for open watches when it stops.
	stopWatch context.CancelFunc
}

// target is one ConversationTarget and, once Ready, its conversation.
type target struct {
	name           string
	userID         string
	channelID      string
	conversationID string
}

func newBench(o options, env *harness.Env) (*bench, error) {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // client-go's default of 5 requests/s would be the bottleneck
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &bench{o: o, env: env, c: c, api: hc, apiHost: cfg.Host, track: newTracker()}, nil
}

// stableID derives a fixed hex id from a name, so every run uses the same ids.
func stableID(name string) string {
	sum := sha1.Sum([]byte("teams-operator-bench/" + name)) //nolint:gosec // not security
	return hex.EncodeToString(sum[:])
}

// benchSeed is the users (each with the bot's app installed personally) and one team with
// the app installed and `channels` channels (the General one first).
func benchSeed(users, channels int) (*emulator.Seed, []target) {
	t := emulator.TenantSeed{ID: emulator.DefaultTenantID}
	var targets []target
	for i := range users {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("teams-operator-bench/user/", i))).String()
		t.Users = append(t.Users, emulator.UserSeed{
			ID: id, UserPrincipalName: fmt.Sprintf("bench-%d@%s", i, emulator.DefaultTenantDomain),
			DisplayName: fmt.Sprint("Bench ", i), InstalledApps: []string{emulator.DefaultTeamsAppID},
		})
		targets = append(targets, target{name: fmt.Sprintf("user-%04d", i), userID: id})
	}
	if channels > 0 {
		team := emulator.TeamSeed{
			ID:          uuid.NewSHA1(uuid.NameSpaceOID, []byte("teams-operator-bench/team")).String(),
			DisplayName: "Bench", InstalledApps: []string{emulator.DefaultTeamsAppID},
		}
		for i := range channels {
			id := "19:" + stableID(fmt.Sprint("channel/", i))[:32] + "@thread.tacv2"
			if i == 0 {
				team.GeneralChannelID = id
			} else {
				team.Channels = append(team.Channels, emulator.ChannelSeed{ID: id, DisplayName: fmt.Sprint("bench-", i)})
			}
			targets = append(targets, target{name: fmt.Sprintf("channel-%d", i), channelID: id})
		}
		t.Teams = []emulator.TeamSeed{team}
	}
	return &emulator.Seed{Tenants: []emulator.TenantSeed{t}}, targets
}

func (t target) spec(teamID string) teamsv1alpha1.ConversationTargetSpec {
	if t.channelID != "" {
		return teamsv1alpha1.ConversationTargetSpec{
			Channel: &teamsv1alpha1.ChannelTarget{TeamID: teamID, ChannelID: t.channelID},
		}
	}
	return teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{ID: t.userID}}
}

// setupTargets seeds the emulator, starts the manager, creates one ConversationTarget per
// user and channel and waits until the manager has resolved them all.
func (b *bench) setupTargets(ctx context.Context) (*Setup, error) {
	seed, targets := benchSeed(b.o.users, b.o.channels)
	if err := b.env.Emulator.MergeSeed(seed); err != nil {
		return nil, err
	}
	if err := b.env.Namespace(ctx, namespace); err != nil {
		return nil, err
	}
	var err error
	if b.mgr, err = b.startManager(ctx, "manager-1"); err != nil {
		return nil, err
	}
	teamID := ""
	if len(seed.Tenants[0].Teams) > 0 {
		teamID = seed.Tenants[0].Teams[0].ID
	}
	seq := lastSeq(b.env.Emulator)
	start := time.Now()
	err = parallel(ctx, len(targets), b.o.creators, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, &teamsv1alpha1.ConversationTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: targets[i].name},
			Spec:       targets[i].spec(teamID),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("creating ConversationTargets: %w", err)
	}
	err = waitFor(ctx, b.o.timeout, "every ConversationTarget Ready", func() (bool, error) {
		list := &teamsv1alpha1.ConversationTargetList{}
		if err := b.c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		ids := map[string]string{}
		for _, t := range list.Items {
			if meta.IsStatusConditionTrue(t.Status.Conditions, teamsv1alpha1.ReadyCondition) {
				ids[t.Name] = t.Status.ConversationID
			}
		}
		if len(ids) < len(targets) {
			return false, nil
		}
		for i := range targets {
			targets[i].conversationID = ids[targets[i].name]
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	b.targets = targets
	_, throttled, byAPI := journalStats(b.env.Emulator.RequestsSince(seq))
	return &Setup{Targets: len(targets), Seconds: round(time.Since(start).Seconds(), 1),
		MicrosoftCalls: sumCounts(byAPI), Throttled: throttled}, nil
}

func (b *bench) startManager(ctx context.Context, name string) (*harness.Manager, error) {
	args := make([]string, 0, 4+len(b.o.managerArgs))
	args = append(args,
		"--default-credentials", namespace+"/"+harness.CredentialsName,
		"--max-send-rps", strconv.FormatFloat(b.o.maxSendRPS, 'g', -1, 64),
	)
	if b.o.scale {
		addr, pprof, err := pprofArgs()
		if err != nil {
			return nil, err
		}
		b.pprof, args = addr, append(args, pprof...)
		key, err := b.proofKeyFile()
		if err != nil {
			return nil, err
		}
		args = append(args, "--annotation-key-file", key)
	}
	return b.env.StartManager(ctx, name, append(args, b.o.managerArgs...)...)
}

// message is the i-th message of the run, to the targets round-robin. Names sort in
// creation order, so messages to one target created in the same second keep their order.
func (b *bench) message(i int) *teamsv1alpha1.ProactiveMessage {
	return &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("m-%07d", i)},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: b.targets[i%len(b.targets)].name},
			Text:      fmt.Sprintf("Benchmark message %d: **deploy** of `service-%d` finished", i, i%97),
		},
	}
}

// runOperator creates the messages and waits until the manager has delivered them all.
func (b *bench) runOperator(ctx context.Context) (*Run, error) {
	if err := b.watchMessages(ctx); err != nil {
		return nil, err
	}
	seq := lastSeq(b.env.Emulator)
	before, err := b.apiWrites(ctx)
	if err != nil {
		return nil, err
	}
	cpuBefore, err := cpuSeconds(b.mgr.Pid())
	if err != nil {
		return nil, err
	}
	mBefore, err := scrape(ctx, http.DefaultClient, b.mgr.MetricsURL)
	if err != nil {
		return nil, err
	}
	n := b.o.messages
	created := make([]time.Time, n)
	start := time.Now()
	err = parallel(ctx, n, b.o.creators, func(ctx context.Context, i int) error {
		created[i] = time.Now()
		return b.c.Create(ctx, b.message(i))
	})
	if err != nil {
		return nil, fmt.Errorf("creating ProactiveMessages: %w", err)
	}
	if err := b.waitDelivered(ctx, n); err != nil {
		return nil, err
	}
	if err := b.waitRecorded(ctx, n); err != nil {
		return nil, err
	}
	after, err := b.apiWrites(ctx)
	if err != nil {
		return nil, err
	}
	cpuAfter, err := cpuSeconds(b.mgr.Pid())
	if err != nil {
		return nil, err
	}
	mAfter, err := scrape(ctx, http.DefaultClient, b.mgr.MetricsURL)
	if err != nil {
		return nil, err
	}
	r := &Run{Messages: n, Manager: managerStats(mBefore, mAfter, cpuAfter-cpuBefore)}
	var lat []time.Duration
	var deliveredAt []time.Time
	last := start
	for i := range n {
		at, _ := b.track.deliveredAt(b.message(i).Name)
		lat = append(lat, at.Sub(created[i]))
		deliveredAt = append(deliveredAt, at)
		last = maxTime(last, at)
	}
	r.Delivered = len(deliveredAt)
	r.Seconds = round(last.Sub(start).Seconds(), 2)
	r.Latency = latencies(lat)
	accepted, throttled, byAPI := journalStats(b.env.Emulator.RequestsSince(seq))
	r.fillRates(deliveredAt, accepted, b.o.appRPS)
	r.Throttled, r.MicrosoftCalls = throttled, byAPI
	r.MicrosoftCallsPerMessage = round(float64(sumCounts(byAPI))/float64(n), 3)
	r.APIServerWrites = after.minus(before, n)
	thr := mAfter.sum("teams_operator_api_throttled_total", nil)
	r.OperatorThrottled = &thr
	return r, nil
}

func managerStats(before, after metrics, cpu float64) *ManagerStats {
	pm := map[string][]string{"controller": {messageController}}
	const wait, total = "teams_operator_ratelimit_wait_seconds", "controller_runtime_reconcile_total"
	return &ManagerStats{
		CPUSeconds:                    round(cpu, 2),
		Reconciles:                    int(after.sum(total, pm) - before.sum(total, pm)),
		MeanReconcileMs:               meanMs(before, after, "controller_runtime_reconcile_time_seconds", pm),
		MeanAppLimiterWaitMs:          meanMs(before, after, wait, map[string][]string{"limiter": {"app"}}),
		MeanConversationLimiterWaitMs: meanMs(before, after, wait, map[string][]string{"limiter": {"conversation"}}),
		MeanConnectorCallMs: meanMs(before, after, "teams_operator_api_request_duration_seconds",
			map[string][]string{"api": {"botframework"}}),
	}
}

// probe sends messages one at a time, each after the last was delivered, for the latency of
// a message that does not queue behind others, and counts their writes: a lone message shares
// the journal's writes with nobody.
func (b *bench) probe(ctx context.Context) (*Latency, *Writes, error) {
	before, err := b.apiWrites(ctx)
	if err != nil {
		return nil, nil, err
	}
	var lat []time.Duration
	for i := range b.o.probe {
		// Past the burst's names, to a different target each time.
		msg := b.message(b.o.messages + i)
		start := time.Now()
		if err := b.c.Create(ctx, msg); err != nil {
			return nil, nil, err
		}
		err := waitFor(ctx, b.o.timeout, "probe message "+msg.Name+" Delivered", func() (bool, error) {
			_, ok := b.track.deliveredAt(msg.Name)
			return ok, b.track.failure()
		})
		if err != nil {
			return nil, nil, err
		}
		at, _ := b.track.deliveredAt(msg.Name)
		lat = append(lat, at.Sub(start))
	}
	if err := b.waitRecorded(ctx, b.o.messages+b.o.probe); err != nil {
		return nil, nil, err
	}
	after, err := b.apiWrites(ctx)
	if err != nil {
		return nil, nil, err
	}
	return latencies(lat), after.minus(before, b.o.probe), nil
}

// waitRecorded waits until the first n messages' ids are where a backup keeps them: in the
// annotations (before the send journal) or in the journal entry of the message's UID. The
// journal writes a delivery's ids shortly after its status, so reading the write counters at
// the last delivery would miss the last of those writes.
func (b *bench) waitRecorded(ctx context.Context, n int) error {
	return waitFor(ctx, b.o.timeout, fmt.Sprintf("the ids of %d messages recorded", n), func() (bool, error) {
		list := &teamsv1alpha1.ProactiveMessageList{}
		if err := b.c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		journal, err := ledger.ReadJournal(ctx, b.c, namespace)
		if err != nil {
			return false, err
		}
		return countRecorded(list.Items, journal, n) >= n, nil
	})
}

// countRecorded counts the messages among the first n (by name) whose ids are recorded.
func countRecorded(msgs []teamsv1alpha1.ProactiveMessage, journal map[string]ledger.Entry, n int) int {
	recorded := 0
	for i := range msgs {
		m := &msgs[i]
		var index int
		if _, err := fmt.Sscanf(m.Name, "m-%d", &index); err != nil || index >= n {
			continue
		}
		e, ok := journal[m.Name]
		if _, annotated := m.Annotations[teamsv1alpha1.ActivityIDAnnotation]; annotated ||
			(ok && e.UID == m.UID && e.HasIDs()) {
			recorded++
		}
	}
	return recorded
}

// watchMessages starts an informer on ProactiveMessages that notes when each is seen Delivered:
// metav1.Time in status has a one-second resolution, the watch has none.
func (b *bench) watchMessages(ctx context.Context) error {
	cfg := rest.CopyConfig(b.env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := cache.New(cfg, cache.Options{
		Scheme: b.env.Scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}, alertsNamespace: {}},
	})
	if err != nil {
		return err
	}
	inf, err := c.GetInformer(ctx, &teamsv1alpha1.ProactiveMessage{})
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.track.observe(obj) },
		UpdateFunc: func(_, obj any) { b.track.observe(obj) },
	})
	if err != nil {
		return err
	}
	ctx, b.stopWatch = context.WithCancel(ctx)
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return errors.New("the ProactiveMessage informer did not sync")
	}
	return nil
}

func (b *bench) waitDelivered(ctx context.Context, n int) error {
	return waitFor(ctx, b.o.timeout, fmt.Sprintf("%d ProactiveMessages Delivered", n), func() (bool, error) {
		return b.track.delivered() >= n, b.track.failure()
	})
}

// tracker records when the informer first saw each message Delivered, and messages that
// ended otherwise.
type tracker struct {
	mu    sync.Mutex
	at    map[string]time.Time
	ended map[string]string
}

func newTracker() *tracker { return &tracker{at: map[string]time.Time{}, ended: map[string]string{}} }

func (t *tracker) observe(obj any) {
	pm, ok := obj.(*teamsv1alpha1.ProactiveMessage)
	if !ok {
		return
	}
	now := time.Now()
	name := pm.Name // the bench namespace's by name, others' by namespace/name
	if pm.Namespace != namespace {
		name = pm.Namespace + "/" + pm.Name
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch pm.Status.Phase {
	case teamsv1alpha1.PhaseDelivered:
		if _, seen := t.at[name]; !seen {
			t.at[name] = now
		}
	case teamsv1alpha1.PhaseFailed, teamsv1alpha1.PhaseUnknown, teamsv1alpha1.PhaseExpired:
		msg := ""
		if c := meta.FindStatusCondition(pm.Status.Conditions, teamsv1alpha1.ReadyCondition); c != nil {
			msg = c.Reason + ": " + c.Message
		}
		t.ended[name] = string(pm.Status.Phase) + " (" + msg + ")"
	}
}

func (t *tracker) deliveredAt(name string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.at[name]
	return at, ok
}

func (t *tracker) delivered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.at)
}

// failure reports messages that ended without being delivered: the bench expects none.
func (t *tracker) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ended) == 0 {
		return nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range t.ended {
			if !yield(n) {
				return
			}
		}
	})
	return fmt.Errorf("%d messages ended undelivered, e.g. %s: %s", len(names), names[0], t.ended[names[0]])
}

// writeCounts are kube-apiserver write requests counted so far: to ProactiveMessages (all, and
// their status subresource), to ConfigMaps (the manager's send journal) and to Events, and the
// time the API server spent on the ProactiveMessage writes.
type writeCounts struct {
	messages, status, configMaps, events float64
	seconds                              float64
	timed                                uint64
}

var writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"}

func (b *bench) apiWrites(ctx context.Context) (writeCounts, error) {
	m, err := scrape(ctx, b.api, strings.TrimSuffix(b.apiHost, "/")+"/metrics")
	if err != nil {
		return writeCounts{}, fmt.Errorf("reading the kube-apiserver's metrics: %w", err)
	}
	return countWrites(m), nil
}

// countWrites reads the write counts from one scrape of the kube-apiserver's metrics. Every
// ConfigMap write counts as the journal's: apiserver_request_total has no namespace label, and
// in the bench's message phase the manager's journal is the only writer of ConfigMaps, so
// anything else would show as journal writes, not hide.
func countWrites(m metrics) writeCounts {
	const total = "apiserver_request_total"
	of := func(resource string, subresources ...string) map[string][]string {
		match := map[string][]string{"resource": {resource}, "verb": writeVerbs}
		if len(subresources) > 0 {
			match["subresource"] = subresources
		}
		return match
	}
	pm := of("proactivemessages")
	w := writeCounts{
		messages:   m.sum(total, pm),
		status:     m.sum(total, of("proactivemessages", "status")),
		configMaps: m.sum(total, of("configmaps")),
		events:     m.sum(total, of("events")),
	}
	w.seconds, w.timed = m.histogram("apiserver_request_duration_seconds", pm)
	return w
}

// minus is the writes since before, per message; bench is how many of them the bench made (its
// creates of the ProactiveMessages).
func (w writeCounts) minus(before writeCounts, bench int) *Writes {
	d := func(a, b float64) int { return int(a - b) }
	msgs, status := d(w.messages, before.messages), d(w.status, before.status)
	journal, events := d(w.configMaps, before.configMaps), d(w.events, before.events)
	n := float64(bench)
	per := func(x int) float64 { return round(ratio(float64(x), n), 3) }
	var mean float64
	if w.timed > before.timed {
		mean = round(1000*(w.seconds-before.seconds)/float64(w.timed-before.timed), 1)
	}
	manager := msgs - bench + journal
	return &Writes{
		Messages: msgs, Bench: bench, Status: status, Journal: journal, Events: events, MeanMs: mean,
		PerMessage:         per(msgs + journal),
		ManagerPerMessage:  per(manager),
		StatusPerMessage:   per(status),
		MetadataPerMessage: per(msgs - bench - status),
		JournalPerMessage:  per(journal),
		EventsPerMessage:   per(events),
	}
}

func scrape(ctx context.Context, hc *http.Client, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// memory reads a process's RSS from /proc and its Go heap from its metrics.
func memory(ctx context.Context, pid int, metricsURL string) (*Memory, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	m, err := scrape(ctx, http.DefaultClient, metricsURL)
	if err != nil {
		return nil, err
	}
	mib := func(bytes float64) float64 { return round(bytes/(1<<20), 1) }
	return &Memory{
		RSSMiB:       mib(procKiB(string(status), "VmRSS:") * 1024),
		PeakRSSMiB:   mib(procKiB(string(status), "VmHWM:") * 1024),
		HeapAllocMiB: mib(m.sum("go_memstats_heap_alloc_bytes", nil)),
		HeapInuseMiB: mib(m.sum("go_memstats_heap_inuse_bytes", nil)),
	}, nil
}

// cpuSeconds is the user and system CPU time a process has used, from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPUSeconds(string(b))
}

// statCPUSeconds reads utime and stime (fields 14 and 15, in clock ticks of 1/100 s on
// Linux) from a /proc/PID/stat line; the command name in parentheses may hold spaces.
func statCPUSeconds(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	f := strings.Fields(stat[i+1:])
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / 100, nil
}

// procKiB reads a "Key:   1234 kB" line of /proc/PID/status.
func procKiB(status, key string) float64 {
	for line := range strings.SplitSeq(status, "\n") {
		if value, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(value)
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}

func lastSeq(e *emulator.Emulator) int64 {
	all := e.Requests()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Seq
}

// parallel runs f for 0..n-1 on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// waitFor polls cond until it is true, it fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (b *bench) close() {
	if b.stopWatch != nil {
		b.stopWatch()
	}
}
