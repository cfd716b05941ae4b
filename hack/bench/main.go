// Command bench measures teams-operator against the Teams emulator set to Teams' documented
// limits: a real control plane (etcd and kube-apiserver), the manager binary as its own
// process, and the emulator in this process over TLS. See docs/performance.md.
//
//	go run ./hack/bench                                   # 2,000 messages over 500 users and 5 channels
//	go run ./hack/bench --messages 10000 --out bench.json
//	go run ./hack/bench --scale --messages 100000         # restart with 100k objects present
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

type options struct {
	messages, users, channels int
	appRPS                    int
	latency                   time.Duration
	maxSendRPS                float64
	creators                  int
	probe                     int
	bulk, high                int
	direct                    bool
	directWorkers             int
	managerArgs               []string
	timeout                   time.Duration
	out, dir                  string
	keep                      bool
	scale                     bool
	scaleSent, scaleScheduled int
	memoryLimitMiB            int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.messages, "messages", 2000, "ProactiveMessages to send (with --scale: objects present at the restart)")
	fs.IntVar(&o.users, "users", 500, "users, each with a ConversationTarget (a 1:1 conversation)")
	fs.IntVar(&o.channels, "channels", 5, "channels of one team, each with a ConversationTarget")
	fs.IntVar(&o.appRPS, "app-rps", 50, "the emulator's Connector limit per app per tenant (Teams: 50)")
	fs.DurationVar(&o.latency, "latency", 80*time.Millisecond,
		"latency the emulator adds to every Graph and Connector call")
	fs.Float64Var(&o.maxSendRPS, "max-send-rps", 50, "the manager's --max-send-rps, and the direct loop's app limiter")
	fs.IntVar(&o.creators, "creators", 8, "goroutines creating objects")
	fs.IntVar(&o.probe, "probe", 10, "messages sent one at a time after the burst, for the unloaded latency")
	fs.IntVar(&o.bulk, "bulk", 1000, "priority phase: Bulk messages one namespace floods (0: no priority phase)")
	fs.IntVar(&o.high, "high", 20, "priority phase: High messages another namespace sends meanwhile, one every 0.5 s")
	fs.BoolVar(&o.direct, "direct", true, "also send the messages through a direct client loop, for the ratio")
	fs.IntVar(&o.directWorkers, "direct-workers", 64, "goroutines of the direct loop")
	managerArgs := fs.String("manager-args", "", "extra manager flags, space-separated (e.g. \"--message-workers 16\")")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long any one wait may take")
	fs.StringVar(&o.out, "out", "bin/bench.json", "write the JSON report here")
	fs.StringVar(&o.dir, "dir", "", "working directory (etcd data, logs); default a new temporary one, removed at the end")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs of the manager and the control plane)")
	fs.BoolVar(&o.scale, "scale", false,
		"the scale run: --messages objects present, most delivered, then a manager restart")
	fs.IntVar(&o.scaleSent, "scale-sent", 2000, "with --scale: messages really sent (the rest come restored as delivered)")
	fs.IntVar(&o.scaleScheduled, "scale-scheduled", 1000, "with --scale: messages scheduled a day ahead (unfinished)")
	fs.IntVar(&o.memoryLimitMiB, "memory-limit", 0,
		"run the manager as in a container with this memory limit in MiB: GOMEMLIMIT 90 % of it, as the manager "+
			"sets it from its cgroup (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.managerArgs = strings.Fields(*managerArgs)
	return o, o.validate()
}

func (o options) validate() error {
	var errs []error
	if o.messages <= 0 {
		errs = append(errs, errors.New("--messages must be positive"))
	}
	if o.users < 0 || o.channels < 0 || o.users+o.channels == 0 {
		errs = append(errs, errors.New("--users and --channels must not be negative, and not both zero"))
	}
	if o.users > 100000 || o.channels > 200 {
		errs = append(errs, errors.New("--users is at most 100000 and --channels at most 200"))
	}
	if o.bulk < 0 || o.high < 0 || (o.bulk > 0) != (o.high > 0) {
		errs = append(errs, errors.New("--bulk and --high must not be negative, and both zero or both positive"))
	}
	if o.appRPS <= 0 || o.maxSendRPS <= 0 || o.creators <= 0 || o.directWorkers <= 0 || o.probe < 0 {
		errs = append(errs, errors.New(
			"--app-rps, --max-send-rps, --creators and --direct-workers must be positive, --probe not negative"))
	}
	if o.memoryLimitMiB < 0 {
		errs = append(errs, errors.New("--memory-limit must not be negative"))
	}
	if o.scale && (o.scaleSent < 0 || o.scaleScheduled < 0 || o.scaleSent+o.scaleScheduled > o.messages) {
		errs = append(errs, fmt.Errorf(
			"--scale-sent (%d) and --scale-scheduled (%d) must not be negative and fit in --messages (%d)",
			o.scaleSent, o.scaleScheduled, o.messages))
	}
	return errors.Join(errs...)
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	logf.SetLogger(logr.Discard()) // envtest's own logs; errors are returned
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func emulatorOptions(o options) emulator.Options {
	return emulator.Options{
		AppRPS: o.appRPS, Latency: o.latency, ConversationLimits: emulator.DefaultConversationLimits,
		// Every request of the run must stay in the journal.
		JournalSize: max(50000, 2*o.messages+2*o.users+10000),
	}
}

func run(ctx context.Context, o options) (err error) {
	rep := &Report{Started: time.Now().UTC().Truncate(time.Second), Machine: machine(), Config: Config{
		Messages: o.messages, Users: o.users, Channels: o.channels, AppRPS: o.appRPS, LatencyMs: o.latency.Milliseconds(),
		MaxSendRPS: o.maxSendRPS, Creators: o.creators, ManagerArgs: o.managerArgs, ManagerEnv: managerEnv(o),
	}}
	start := time.Now()
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "teams-operator-bench-"); err != nil {
			return err
		}
	}
	if !o.keep {
		defer func() { _ = os.RemoveAll(dir) }()
	} else {
		defer progress("working directory kept: %s", dir)
	}
	progress("starting the control plane and the emulator, building the manager (in %s)", dir)
	env, err := harness.Start(harness.Options{Dir: dir, Emulator: emulatorOptions(o)})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	env.ManagerEnv = rep.Config.ManagerEnv
	rep.StartSeconds = round(time.Since(start).Seconds(), 1)

	b, err := newBench(o, env)
	if err != nil {
		return err
	}
	defer b.close()
	progress("creating %d ConversationTargets", o.users+o.channels)
	if rep.Setup, err = b.setupTargets(ctx); err != nil {
		return err
	}
	if o.scale {
		progress("scale run: %d ProactiveMessages", o.messages)
		if rep.Scale, err = b.runScale(ctx); err != nil {
			return err
		}
	} else if err := b.runAll(ctx, rep); err != nil {
		return err
	}
	rep.Seconds = round(time.Since(start).Seconds(), 1)
	if err := printTable(os.Stdout, rep); err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if err := writeJSON(out, rep); err != nil {
		return err
	}
	progress("report written to %s", out)
	return nil
}

// runAll is the default run: the operator, the unloaded latency, the manager's memory, then
// the direct loop.
func (b *bench) runAll(ctx context.Context, rep *Report) (err error) {
	progress("operator: %d ProactiveMessages", b.o.messages)
	if rep.Operator, err = b.runOperator(ctx); err != nil {
		return err
	}
	if b.o.probe > 0 {
		progress("operator: %d messages one at a time", b.o.probe)
		if rep.UnloadedLatency, rep.UnloadedWrites, err = b.probe(ctx); err != nil {
			return err
		}
	}
	if b.o.bulk > 0 {
		progress("priority: %d Bulk messages from one namespace, %d High ones from another meanwhile", b.o.bulk, b.o.high)
		if rep.Priority, err = b.runPriority(ctx); err != nil {
			return err
		}
	}
	if rep.ManagerMemory, err = memory(ctx, b.mgr.Pid(), b.mgr.MetricsURL); err != nil {
		return err
	}
	// The direct loop runs alone on the machine.
	if err := b.mgr.Stop(20 * time.Second); err != nil {
		return err
	}
	if b.o.direct {
		progress("direct loop: %d messages", b.o.messages)
		if rep.Direct, err = b.runDirect(ctx); err != nil {
			return err
		}
		rep.OperatorToDirect = round(ratio(rep.Operator.MessagesPerSecond, rep.Direct.MessagesPerSecond), 3)
	}
	return nil
}

func machine() Machine {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAverage: strings.Join(f, " ")}
}

// managerEnv is the manager's environment for --memory-limit: the GOMEMLIMIT the manager
// would set itself from a container's limit (cmd/memlimit.go: 90 %).
func managerEnv(o options) []string {
	if o.memoryLimitMiB == 0 {
		return nil
	}
	return []string{fmt.Sprintf("GOMEMLIMIT=%d", int64(0.9*float64(o.memoryLimitMiB)*(1<<20)))}
}
