package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// pprofArgs serve the manager's Go profiles on a free local port (--pprof-bind-address), for
// the heap profiles of the scale run. The address is returned for heapProfile.
func pprofArgs() (string, []string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", nil, err
	}
	return addr, []string{"--pprof-bind-address", addr}, nil
}

// profilePath is where a heap profile of the run goes: beside the JSON report.
func profilePath(out, name string) string {
	return strings.TrimSuffix(out, ".json") + "-" + name + ".pprof"
}

// cpuProfile saves the manager's CPU profile over the next seconds to path.
func cpuProfile(ctx context.Context, addr, path string, seconds int) error {
	return saveProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), path)
}

// heapProfile saves the manager's heap profile, after a GC, to path: `go tool pprof -sample_index
// inuse_space PATH` shows what holds memory.
func heapProfile(ctx context.Context, addr, path string) error {
	return saveProfile(ctx, "http://"+addr+"/debug/pprof/heap?gc=1", path)
}

func saveProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// proofKeyFile writes the key the scale run's managers sign delivered messages with, once, and
// returns its path: both managers and the restored objects must share it.
func (b *bench) proofKeyFile() (string, error) {
	path := filepath.Join(b.env.Dir, "bench-delivery-proof.key")
	if b.proofKey == nil {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (Go 1.24+)
		b.proofKey = []byte(hex.EncodeToString(key))
		if err := os.WriteFile(path, b.proofKey, 0o600); err != nil {
			return "", err
		}
	}
	return path, nil
}
