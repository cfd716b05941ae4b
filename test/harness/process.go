package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const defaultGrace = 20 * time.Second

// BuildManager builds ./cmd (cmd/main.go and its flag files) from repo into dir/manager (Go's build cache makes a rebuild
// a link step) and returns its path.
func BuildManager(repo, dir string) (string, error) {
	out := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", out, "./cmd")
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd: %w\n%s", err, b)
	}
	return out, nil
}

// Process is a child process in its own process group, its output in a log file.
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts bin with args and extra environment, logging to dir/name.log.
func StartProcess(dir, name string, env []string, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Pdeathsig: a test binary that dies does not leave its children running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited; Err then tells how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process group and waits for the exit: a crash, with no cleanup.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	}
	<-p.done
}

// Stop sends SIGTERM, waits up to grace, then kills. It returns an error only when the process
// had to be killed.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.Kill()
	return fmt.Errorf("%s (pid %d) did not stop within %s: killed", p.Name, p.Pid(), grace)
}

// Manager is a running manager binary.
type Manager struct {
	*Process
	// MetricsURL serves the manager's Prometheus metrics over plain HTTP (--metrics-secure=false).
	MetricsURL string
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
}

// StartManager starts the manager binary against the control plane and the emulator, logging to
// Dir/name.log, and waits until it is ready. args come after the harness's own flags, so they win
// (Go's flag package keeps the last value).
func (e *Env) StartManager(ctx context.Context, name string, args ...string) (*Manager, error) {
	probe, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	all := append([]string{
		"--kubeconfig", e.Kubeconfig,
		"--health-probe-bind-address", probe,
		"--metrics-bind-address", metrics, "--metrics-secure=false",
	}, e.EndpointArgs()...)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--annotation-key-file") }) {
		// One key for every manager of this environment, as the chart's Secret keeps one across
		// restarts: a restarted manager must trust the ids its predecessor recorded.
		key, err := e.deliveryProofKey()
		if err != nil {
			return nil, err
		}
		all = append(all, "--annotation-key-file", key)
	}
	env := append([]string{"SSL_CERT_FILE=" + e.EmulatorServer.CAFile}, e.ManagerEnv...)
	p, err := StartProcess(e.Dir, name, env,
		e.ManagerBinary, append(all, args...)...)
	if err != nil {
		return nil, err
	}
	m := &Manager{Process: p, MetricsURL: "http://" + metrics + "/metrics", ProbeAddr: probe}
	e.managers = append(e.managers, m)
	if err := m.WaitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	return m, nil
}

// WaitReady polls /readyz until it answers 200, the process exits or timeout passes.
func (m *Manager) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if httpOK(ctx, "http://"+m.ProbeAddr+"/readyz") {
			return nil
		}
		select {
		case <-m.done:
			return fmt.Errorf("%s exited before it was ready (%v); see %s", m.Name, m.err, m.Log)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s; see %s", m.Name, timeout, m.Log)
		case <-t.C:
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// deliveryProofKey writes (once) the environment's delivery-proof key and returns its path.
func (e *Env) deliveryProofKey() (string, error) {
	path := filepath.Join(e.Dir, "delivery-proof.key")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (Go 1.24+)
	return path, os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600)
}
