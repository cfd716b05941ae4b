// Command demo runs teams-operator end to end on this machine: a local control plane (etcd and
// kube-apiserver), the Teams emulator and the manager; it applies config/samples, shows the
// objects becoming Ready and Delivered and the messages as Teams holds them, then keeps
// everything running until Ctrl-C (or, with --exit-when-done, shuts down and reports).
//
//	make demo                          # interactive
//	go run ./hack/demo --exit-when-done --summary /tmp/summary.json   # for tests
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

const (
	namespace       = "teams-demo"
	credentialsName = "teams-credentials"
	scheduledName   = "maintenance-reminder"
	scheduledDelay  = 30 * time.Second
	editedName      = "release-notes"
	editMarker      = "**Update:** 1.4.0 is now live in every region."
)

// notReadyOnPurpose lists the samples expected not to become Ready in the demo, with the reason
// they show and why. Empty with the current operator: see notes.
var notReadyOnPurpose = map[string]struct{ reason, why string }{}

// notes explain samples whose outcome may surprise.
var notes = map[string]string{
	"ConversationTarget/known-conversation": "Ready without any call to Teams: a conversation id you already know " +
		"is used as given. Its serviceUrl is the real Teams (smba.trafficmanager.net/emea/, an allowed Teams host), " +
		"which this demo does not reach, so no sample sends to it",
}

type options struct {
	dir, repo, binDir, summary string
	exitWhenDone               bool
	timeout                    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "teams-operator-demo"),
		"working directory (kubeconfig, CA, logs, etcd data); removed on exit")
	flag.StringVar(&o.repo, "repo", "", "repository root (default: found from the current directory)")
	flag.StringVar(&o.binDir, "bin-dir", "", "where manager and teams-emulator are built (default: REPO/bin)")
	flag.BoolVar(&o.exitWhenDone, "exit-when-done", os.Getenv("DEMO_EXIT") == "1",
		"non-interactive: shut down once every sample reached its expected state (or on timeout); "+
			"exit 0 only if all did (also DEMO_EXIT=1)")
	flag.StringVar(&o.summary, "summary", "", "write the JSON summary to this file (outside --dir)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the samples to settle")
	flag.Parse()
	logf.SetLogger(logr.Discard()) // envtest's own logs are noise here; errors are returned

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, o)
	os.Exit(code)
}

func step(format string, a ...any) { fmt.Printf("\n==> "+format+"\n", a...) }
func info(format string, a ...any) { fmt.Printf("    "+format+"\n", a...) }

func findRepo() (string, error) {
	dir, err := harness.Repo()
	if err != nil {
		return "", errors.New("run the demo from inside the teams-operator repository, or pass --repo")
	}
	return dir, nil
}

// demo holds what the demo started, so cleanup stops exactly that.
type demo struct {
	o          options
	env        *envtest.Environment
	emu, mgr   *harness.Process
	botAddr    string
	kubeconfig string
	emuURL     string
	caFile     string
	c          client.Client
	cleanups   []func() error
}

func run(ctx context.Context, o options) int {
	var err error
	if o.repo == "" {
		if o.repo, err = findRepo(); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 2
		}
	}
	if o.binDir == "" {
		o.binDir = filepath.Join(o.repo, "bin")
	}
	if o.dir, err = filepath.Abs(o.dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}
	d := &demo{o: o}
	sum, runErr := d.start(ctx)
	if runErr == nil && !o.exitWhenDone {
		d.printHowTo()
		<-ctx.Done()
		fmt.Println()
	}
	failed := runErr != nil && !errors.Is(runErr, context.Canceled)
	if failed {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", runErr)
	}
	if failed || (sum != nil && len(sum.Problems) > 0) {
		for _, p := range []*harness.Process{d.mgr, d.emu} {
			if p != nil {
				fmt.Fprintf(os.Stderr, "demo: %s log kept as %s\n", p.Name, keepLog(p.Log))
			}
		}
	}
	step("Stopping what the demo started")
	stopErr := d.shutdown()
	if stopErr != nil {
		fmt.Fprintf(os.Stderr, "demo: shutdown: %v\n", stopErr)
	}
	if sum == nil {
		sum = &summary{Problems: []string{}}
	}
	if runErr != nil {
		sum.Problems = append(sum.Problems, runErr.Error())
	}
	if stopErr != nil {
		sum.Problems = append(sum.Problems, "shutdown: "+stopErr.Error())
	}
	sum.OK = len(sum.Problems) == 0
	if o.summary != "" {
		if err := writeSummary(o.summary, sum); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 1
		}
	}
	if o.exitWhenDone {
		if sum.OK {
			fmt.Println("DEMO RESULT: ok: every sample reached its expected state")
			return 0
		}
		fmt.Printf("DEMO RESULT: FAILED: %s\n", strings.Join(sum.Problems, "; "))
		return 1
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return 1
	}
	return 0
}

// keepLog copies a log out of the demo directory (which is removed) so it can be read afterwards.
func keepLog(path string) string {
	dst := filepath.Join(os.TempDir(), "teams-operator-demo-"+filepath.Base(path))
	if b, err := os.ReadFile(path); err == nil {
		_ = os.WriteFile(dst, b, 0o600)
	}
	return dst
}

func (d *demo) start(ctx context.Context) (*summary, error) {
	o := d.o
	if err := claimDir(o.dir); err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, func() error { return os.RemoveAll(o.dir) })

	// 1. Build.
	step("Building (only what changed)")
	for _, b := range []struct{ out, pkg string }{
		{managerName, "./cmd"}, {emulatorName, "./cmd/teams-emulator"},
	} {
		out := filepath.Join(o.binDir, b.out)
		info("go build -o %s %s", out, b.pkg)
		if err := runShown(o.repo, "go", "build", "-o", out, b.pkg); err != nil {
			return nil, err
		}
	}
	assets, err := controlPlaneAssets(o.repo)
	if err != nil {
		return nil, err
	}
	info("control plane binaries (kube-apiserver, etcd): %s", assets)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// 2. Control plane.
	step("Starting a local control plane (etcd + kube-apiserver)")
	d.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(o.repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(o.dir, "etcd")},
			APIServer: &envtest.APIServer{CertDir: filepath.Join(o.dir, "apiserver")},
		},
	}
	for _, sub := range []string{"etcd", "apiserver"} {
		if err := os.MkdirAll(filepath.Join(o.dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	d.cleanups = append(d.cleanups, func() error { return d.env.Stop() })
	if _, err := d.env.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	user, err := d.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	d.kubeconfig = filepath.Join(o.dir, "kubeconfig")
	if err := os.WriteFile(d.kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	info("kube-apiserver: %s", user.Config().Host)
	info("kubeconfig:     %s", d.kubeconfig)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = teamsv1alpha1.AddToScheme(scheme)
	if d.c, err = client.New(user.Config(), client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}

	// 3. Emulator, namespace and credentials, manager.
	step("Starting the Teams emulator (tenant %s, team %q, bot %s)",
		emulator.DefaultTenantDomain, emulator.DefaultTeamName, emulator.DefaultBotAppID)
	emuDir := filepath.Join(o.dir, "emulator")
	if err := os.MkdirAll(emuDir, 0o700); err != nil {
		return nil, err
	}
	ready := filepath.Join(emuDir, "url")
	// The bot's messaging endpoint: the emulator plays Teams towards it (a user types "stop").
	botPort, err := freePort()
	if err != nil {
		return nil, err
	}
	d.botAddr = fmt.Sprintf("127.0.0.1:%d", botPort)
	botCerts := filepath.Join(o.dir, "bot-tls")
	if err := os.MkdirAll(botCerts, 0o700); err != nil {
		return nil, err
	}
	botCA, err := harness.WriteLoopbackCert(botCerts)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(botCerts, "ca.crt"), botCA, 0o600); err != nil {
		return nil, err
	}
	d.emu, err = harness.StartProcess(o.dir, emulatorName, nil,
		filepath.Join(o.binDir, emulatorName), "--listen", "127.0.0.1:0", "--ca-dir", emuDir, "--ready-file", ready,
		"--bot-endpoint", "https://"+d.botAddr+"/api/messages", "--bot-endpoint-ca", filepath.Join(botCerts, "ca.crt"))
	if err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, func() error { return d.emu.Stop(10 * time.Second) })
	if err := waitFor(ctx, "the emulator's ready file", 30*time.Second, d.emu, func() bool {
		b, err := os.ReadFile(ready)
		d.emuURL = strings.TrimSpace(string(b))
		return err == nil && d.emuURL != ""
	}); err != nil {
		return nil, err
	}
	d.caFile = filepath.Join(emuDir, "ca.crt")
	info("emulator: %s (pid %d, CA %s, log %s)", d.emuURL, d.emu.Pid(), d.caFile, d.emu.Log)

	// Labelled as a platform team would, so the demo's objects may use the default credentials.
	if err := d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace,
		Labels: map[string]string{"teams.operator.dev/shared-credentials": "true"}}}); err != nil {
		return nil, err
	}
	if err := d.c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: namespace},
		StringData: map[string]string{
			"tenantId": emulator.DefaultTenantID, "clientId": emulator.DefaultBotAppID,
			"clientSecret": emulator.DefaultBotSecret,
		},
	}); err != nil {
		return nil, err
	}
	info("namespace %s, Secret %s/%s (the emulator's bot: client id and secret)", namespace, namespace, credentialsName)

	step("Starting the manager (bin/manager)")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	probe := fmt.Sprintf("127.0.0.1:%d", port)
	d.mgr, err = harness.StartProcess(o.dir, managerName, []string{"SSL_CERT_FILE=" + d.caFile},
		filepath.Join(o.binDir, managerName),
		"--kubeconfig", d.kubeconfig,
		"--authority-host", d.emuURL+"/", "--graph-endpoint", d.emuURL, "--bot-service-url", d.emuURL+"/teams/",
		"--default-credentials", namespace+"/"+credentialsName,
		"--health-probe-bind-address", probe, "--metrics-bind-address", "0",
		"--bot-endpoint-bind-address", d.botAddr, "--bot-endpoint-cert-path", botCerts,
		"--bot-openid-metadata-url", d.emuURL+emulator.BotOpenIDMetadataPath, "--opt-out-namespace", namespace)
	if err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, func() error { return d.mgr.Stop(20 * time.Second) })
	if err := waitFor(ctx, "the manager's readyz", 60*time.Second, d.mgr, func() bool {
		return httpOK("http://" + probe + "/readyz")
	}); err != nil {
		return nil, err
	}
	info("manager: pid %d, log %s, bot endpoint https://%s/api/messages", d.mgr.Pid(), d.mgr.Log, d.botAddr)
	info("SSL_CERT_FILE=%s --authority-host %s/ --graph-endpoint %s --bot-service-url %s/teams/",
		d.caFile, d.emuURL, d.emuURL, d.emuURL)

	// 4. Samples.
	step("Applying the samples: kubectl apply -k config/samples -n %s", namespace)
	if err := runShown(o.repo, "kubectl", "--kubeconfig", d.kubeconfig,
		"apply", "-k", "config/samples", "-n", namespace); err != nil {
		return nil, err
	}
	sendAt := time.Now().Add(scheduledDelay).UTC().Truncate(time.Second)
	expiresAt := sendAt.Add(10 * time.Minute)
	step("Rescheduling %s from 2030 to %s (sendAt = now+%s), so you see a scheduled send", scheduledName,
		sendAt.Format(time.RFC3339), scheduledDelay)
	patch := fmt.Sprintf(`{"spec":{"sendAt":%q,"expiresAt":%q}}`,
		sendAt.Format(time.RFC3339), expiresAt.Format(time.RFC3339))
	if err := runShown(o.repo, "kubectl", "--kubeconfig", d.kubeconfig, "-n", namespace, "patch",
		"proactivemessage", scheduledName, "--type", "merge", "-p", patch); err != nil {
		return nil, err
	}

	// 5. Watch, edit, show.
	return d.watch(ctx)
}

// controlPlaneAssets returns the directory with kube-apiserver and etcd, building them once.
func controlPlaneAssets(repo string) (string, error) {
	info("hack/envtest-binaries.sh (instant when cached; the first build of kube-apiserver and etcd takes 10-20 minutes)")
	return harness.Assets(repo)
}

func (d *demo) shutdown() error {
	var errs []error
	for _, cleanup := range slices.Backward(d.cleanups) {
		if err := cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	var stopped []string
	if d.mgr != nil {
		stopped = append(stopped, fmt.Sprintf("manager (pid %d)", d.mgr.Pid()))
	}
	if d.emu != nil {
		stopped = append(stopped, fmt.Sprintf("emulator (pid %d)", d.emu.Pid()))
	}
	if d.env != nil {
		stopped = append(stopped, "control plane (etcd, kube-apiserver)")
	}
	if len(stopped) > 0 {
		info("stopped %s; removed %s", strings.Join(stopped, ", "), d.o.dir)
	}
	return errors.Join(errs...)
}

func (d *demo) printHowTo() {
	k := d.kubeconfig
	step("Everything keeps running. Press Ctrl-C to stop the manager, the emulator and the control plane.")
	fmt.Printf(`
    The conversations as Teams would show them (live; the emulator's certificate is self-signed, so the
    browser asks once):
    %[4]s/_emulator/ui/

    export KUBECONFIG=%[1]s
    kubectl get teams -A        # every TeamsAppInstallation, ConversationTarget and ProactiveMessage
    kubectl -n %[2]s describe proactivemessage disk-pressure
    kubectl -n %[2]s apply -f - <<'YAML'
    apiVersion: teams.operator.dev/v1alpha1
    kind: ProactiveMessage
    metadata: {name: hello}
    spec: {targetRef: {name: platform-general}, text: "Hello from **my** ProactiveMessage"}
    YAML
    kubectl -n %[2]s get pmsg hello -w

    # Adele types "stop" to the bot (as in the viewer); the next message to her ends OptedOut:
    curl -s --cacert %[3]s %[4]s/_emulator/v1/bot/act -d '{"kind":"message","user":"%[7]s","text":"stop"}'

    # The messages as Teams holds them:
    curl -s --cacert %[3]s %[4]s/_emulator/v1/activities |
      jq '.activities[] | {conversationId, activityId, text: .activity.text}'

    Logs: %[5]s, %[6]s
`, k, namespace, d.caFile, d.emuURL, d.mgr.Log, d.emu.Log, emulator.DefaultUserAdeleUPN)
}
