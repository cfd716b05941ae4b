package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/teams-operator/teams-operator/test/harness"
)

// waitFor polls cond every interval until it returns true, ctx ends, a watched process exits or
// the timeout passes.
func waitFor(ctx context.Context, what string, timeout time.Duration, watch *harness.Process, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		if watch != nil && watch.Exited() {
			return fmt.Errorf("%s exited while waiting for %s (%v); see %s", watch.Name, what, watch.Err(), watch.Log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url) //nolint:noctx // short local probe
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// run runs a command with its output on the demo's output, indented.
func runShown(dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	for l := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			fmt.Println("    " + l)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// claimDir makes dir empty and records the demo's pid in it, refusing when a live demo owns it.
func claimDir(dir string) error {
	pidFile := filepath.Join(dir, "demo.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil {
				return fmt.Errorf("a demo (pid %d) is already running in %s: stop it with Ctrl-C, or pass --dir", pid, dir)
			}
		}
	}
	stopLeftovers(dir)
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o600)
}

// stopLeftovers kills what an earlier demo in dir left running when it was killed without a
// chance to clean up (SIGKILL): the processes whose command line names a path in dir.
func stopLeftovers(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		base := filepath.Base(args[0])
		if !slices.Contains([]string{"etcd", "kube-apiserver", managerName, emulatorName}, base) ||
			!strings.Contains(strings.Join(args[1:], " "), dir+string(filepath.Separator)) {
			continue
		}
		fmt.Printf("    stopping %s (pid %d), left running by an earlier demo in %s\n", base, pid, dir)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
