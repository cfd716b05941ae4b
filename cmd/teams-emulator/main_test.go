package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	for name, insecure := range map[string]bool{"https": false, "http": true} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			args := []string{"--listen", "127.0.0.1:0", "--ca-dir", dir, "--ready-file", ready, "--latency", "1ms"}
			if insecure {
				args = append(args, "--insecure-http")
			}
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, &stdout, &stderr) }()

			var base string
			g.Eventually(func() (string, error) {
				b, err := os.ReadFile(ready)
				base = strings.TrimSpace(string(b))
				return base, err
			}).WithTimeout(10 * time.Second).Should(HavePrefix(map[bool]string{false: "https://", true: "http://"}[insecure]))

			client := &http.Client{Timeout: 10 * time.Second}
			if !insecure {
				pemBytes, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
				g.Expect(err).NotTo(HaveOccurred())
				pool := x509.NewCertPool()
				g.Expect(pool.AppendCertsFromPEM(pemBytes)).To(BeTrue())
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultBotAppID},
				"client_secret": {emulator.DefaultBotSecret}, "scope": {"https://api.botframework.com/.default"}}
			res, err := client.PostForm(base+"/"+emulator.DefaultTenantID+"/oauth2/v2.0/token", form)
			g.Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			g.Expect(res.StatusCode).To(Equal(200), string(body))
			client.CloseIdleConnections()

			cancel()
			g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
			g.Expect(stdout.String()).To(ContainSubstring("teams-emulator listening on " + base))
			// One log line per request, without the token or the secret.
			g.Expect(stderr.String()).To(ContainSubstring("path=/" + emulator.DefaultTenantID + "/oauth2/v2.0/token status=200"))
			g.Expect(stderr.String()).NotTo(ContainSubstring(emulator.DefaultBotSecret))
		})
	}
}

func TestFlags(t *testing.T) {
	g := NewWithT(t)
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &stderr)
	g.Expect(errors.Is(err, flag.ErrHelp)).To(BeTrue())
	g.Expect(stderr.String()).To(And(ContainSubstring("-ready-file"), ContainSubstring("docs/emulator.md")))

	for name, args := range map[string][]string{
		"unknown flag": {"--nope"},
		"extra args":   {"serve"},
		"bad limits":   {"--conversation-limits", "7-1s"},
		"missing seed": {"--seed", "/does/not/exist.yaml"},
		"bad listen":   {"--listen", "256.0.0.1:99999"},
	} {
		err := run(context.Background(), append(args, "--ca-dir", t.TempDir()), io.Discard, io.Discard)
		g.Expect(err).To(HaveOccurred(), name)
	}

	limits, err := parseLimits("7/1s, 8/2s,1800/1h")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(limits).To(Equal([]emulator.Limit{{Count: 7, Window: time.Second}, {Count: 8, Window: 2 * time.Second},
		{Count: 1800, Window: time.Hour}}))
}
