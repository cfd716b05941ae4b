// Package harness runs teams-operator as real processes on loopback, for end-to-end tests, the
// fault suite and the benchmarks: a control plane (etcd and kube-apiserver, through envtest), the
// Teams emulator in this process over TLS, and the manager binary as a child process that can be
// killed and started again.
//
//	env, err := harness.Start(harness.Options{Dir: t.TempDir()})
//	defer env.Stop()
//	ns, err := env.Namespace(ctx, "alerts")         // with a credentials Secret for the emulator's bot
//	mgr, err := env.StartManager(ctx, "manager-1")  // waits for /readyz
//	mgr.Kill()                                      // SIGKILL
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// CredentialsName is the Secret Namespace creates, holding the emulator's default bot.
const CredentialsName = "teams-credentials"

// Options configure Start.
type Options struct {
	// Dir holds the kubeconfig, the emulator's CA, etcd's data and the process logs. Required.
	Dir string
	// Seed is the emulator's tenant; nil is emulator.DefaultSeed().
	Seed *emulator.Seed
	// Emulator sets the emulator's rate limits, latency and clock.
	Emulator emulator.Options
}

// Env is what Start started.
type Env struct {
	Repo, Dir string
	// ControlPlane is the envtest environment: ControlPlane.ControlPlane.APIServer can be
	// stopped and started again on the same etcd.
	ControlPlane *envtest.Environment
	// Kubeconfig is a file for kubectl and the manager (an admin user).
	Kubeconfig string
	Config     *rest.Config
	Client     client.Client
	Scheme     *runtime.Scheme
	Emulator   *emulator.Emulator
	// EmulatorServer serves Emulator over TLS; EmulatorServer.CAFile is the CA to trust.
	EmulatorServer *emulator.Server
	// ManagerBinary is the manager built from this repository for this process.
	ManagerBinary string
	// ManagerEnv is added to the environment of every manager StartManager starts (e.g.
	// GOMEMLIMIT, as the manager sets it in a container with a memory limit).
	ManagerEnv []string

	managers []*Manager
}

// Start builds the manager, starts the control plane and the emulator. Call Stop when done.
func Start(o Options) (env *Env, err error) {
	if o.Dir == "" {
		return nil, errors.New("harness: Options.Dir is required")
	}
	e := &Env{Dir: o.Dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Stop())
		}
	}()
	if e.Repo, err = Repo(); err != nil {
		return nil, err
	}
	if e.ManagerBinary, err = BuildManager(e.Repo, e.Dir); err != nil {
		return nil, err
	}
	if err := e.startControlPlane(); err != nil {
		return nil, err
	}
	if err := e.startEmulator(o); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) startControlPlane() error {
	assets, err := Assets(e.Repo)
	if err != nil {
		return err
	}
	for _, sub := range []string{"etcd", "apiserver"} {
		if err := os.MkdirAll(filepath.Join(e.Dir, sub), 0o700); err != nil {
			return err
		}
	}
	e.ControlPlane = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(e.Repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(e.Dir, "etcd")},
			APIServer: &envtest.APIServer{CertDir: filepath.Join(e.Dir, "apiserver")},
		},
	}
	if _, err := e.ControlPlane.Start(); err != nil {
		e.ControlPlane = nil
		return fmt.Errorf("starting the control plane: %w", err)
	}
	user, err := e.ControlPlane.AddUser(envtest.User{Name: "harness-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	e.Config = user.Config()
	e.Scheme = runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(e.Scheme), teamsv1alpha1.AddToScheme(e.Scheme)); err != nil {
		return err
	}
	e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme})
	return err
}

func (e *Env) startEmulator(o Options) error {
	seed := o.Seed
	if seed == nil {
		seed = emulator.DefaultSeed()
	}
	var err error
	if e.Emulator, err = emulator.New(seed, o.Emulator); err != nil {
		return err
	}
	caDir := filepath.Join(e.Dir, "emulator")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return err
	}
	e.EmulatorServer, err = e.Emulator.StartTLS("127.0.0.1:0", caDir)
	return err
}

// EndpointArgs are the manager flags that point it at the emulator.
func (e *Env) EndpointArgs() []string {
	u := e.EmulatorServer.URL
	return []string{"--authority-host", u + "/", "--graph-endpoint", u, "--bot-service-url", u + "/teams/"}
}

// Namespace creates a namespace holding the Secret CredentialsName for the emulator's default bot,
// allowed to use the manager's default credentials.
func (e *Env) Namespace(ctx context.Context, name string) error {
	// Labelled as a platform team would, so its objects may use the manager's default credentials
	// (--shared-credentials-namespace-selector's default).
	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"teams.operator.dev/shared-credentials": "true"}}}); err != nil {
		return err
	}
	return e.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: CredentialsName},
		StringData: map[string]string{
			"tenantId": emulator.DefaultTenantID, "clientId": emulator.DefaultBotAppID,
			"clientSecret": emulator.DefaultBotSecret,
		},
	})
}

// Stop stops every manager still running, the emulator and the control plane.
func (e *Env) Stop() error {
	var errs []error
	for _, m := range e.managers {
		errs = append(errs, m.Stop(defaultGrace))
	}
	if e.EmulatorServer != nil {
		errs = append(errs, e.EmulatorServer.Close())
	}
	if e.ControlPlane != nil {
		errs = append(errs, e.ControlPlane.Stop())
	}
	return errors.Join(errs...)
}

// Repo finds the repository root from the working directory.
func Repo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/teams-operator/teams-operator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: not inside the teams-operator repository")
		}
		dir = parent
	}
}

// Assets returns the directory with kube-apiserver and etcd: KUBEBUILDER_ASSETS when it has
// them, else what hack/envtest-binaries.sh builds (once) and prints.
func Assets(repo string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		_, e1 := os.Stat(filepath.Join(dir, "kube-apiserver"))
		_, e2 := os.Stat(filepath.Join(dir, "etcd"))
		if e1 == nil && e2 == nil {
			return dir, nil
		}
	}
	cmd := exec.Command(filepath.Join(repo, "hack", "envtest-binaries.sh"))
	cmd.Dir = repo
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/envtest-binaries.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}
