// Command teams-emulator serves an in-memory emulation of the Microsoft endpoints the
// teams-operator calls (Entra token endpoint, Microsoft Graph Teams app calls, Bot Framework
// Connector) over HTTPS, for tests, benchmarks and the demo. See docs/emulator.md.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "teams-emulator:", err)
		os.Exit(1)
	}
}

// maxGeneratedUsers bounds --users (each user costs about a kilobyte).
const maxGeneratedUsers = 1_000_000

type config struct {
	listen          string
	seed            string
	caDir           string
	insecureHTTP    bool
	appRPS          int
	graphRPS        int
	maxMessageBytes int
	cloud           string
	tokenLifetime   time.Duration
	latency         time.Duration
	convLimits      string
	readyFile       string
	users           int
	botEndpoint     string
	botEndpointCA   string
}

const usageHeader = `teams-emulator: an in-memory Microsoft Teams, Graph and Entra endpoint for teams-operator tests.

It serves, on one HTTPS address:
  POST /{tenant}/oauth2/v2.0/token                  Entra client-credentials tokens
  GET  /{tenant}/v2.0/.well-known/openid-configuration
  /v1.0/... and /beta/...                           the Microsoft Graph Teams app calls
  /{segment}/v3/conversations...                    the Bot Framework Connector (any segment: teams, amer, ...)
  /_emulator/v1/...                                 inspection, faults and out-of-band changes (no auth)

Point the operator at it with --authority-host URL/ --graph-endpoint URL --bot-service-url URL/teams/
and trust the CA it writes (SSL_CERT_FILE=<ca-dir>/ca.crt). Documentation: docs/emulator.md.

Usage: teams-emulator [flags]

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("teams-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8443", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&c.seed, "seed", "",
		"seed file (YAML or JSON) with tenants, apps, catalog, users, teams and chats (default: the built-in demo tenant)")
	fs.StringVar(&c.caDir, "ca-dir", filepath.Join(os.TempDir(), "teams-emulator"),
		"directory where the CA certificate ca.crt is written")
	fs.BoolVar(&c.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS (curl debugging only)")
	fs.IntVar(&c.appRPS, "app-rps", 50, "Connector requests per second per app per tenant")
	fs.IntVar(&c.graphRPS, "graph-rps", 0, "Graph requests per second per app per tenant (0: unlimited)")
	fs.StringVar(&c.cloud, "cloud", "Public",
		"national cloud to play: Public, USGovGCC, USGovGCCHigh, USGovDoD or China; Graph refuses what it lacks")
	fs.IntVar(&c.maxMessageBytes, "max-message-bytes", 102400,
		"largest activity payload in bytes; above it the Connector answers 413 MessageSizeTooBig")
	fs.DurationVar(&c.tokenLifetime, "token-lifetime", 3599*time.Second, "lifetime of issued access tokens")
	fs.DurationVar(&c.latency, "latency", 0, "latency added to every Graph and Connector call (e.g. 80ms)")
	fs.StringVar(&c.convLimits, "conversation-limits", "7/1s,8/2s,60/30s,1800/1h",
		"per-bot per-conversation limits for sends and creates, COUNT/WINDOW,...")
	fs.StringVar(&c.readyFile, "ready-file", "", "write the base URL to this file once listening")
	fs.StringVar(&c.botEndpoint, "bot-endpoint", "",
		"the bot's messaging endpoint (https://host:port/api/messages) users' activities go to (docs/emulator.md)")
	fs.StringVar(&c.botEndpointCA, "bot-endpoint-ca", "", "PEM file of the CA that signed the bot endpoint's certificate")
	fs.IntVar(&c.users, "users", 0, "generate a large tenant: the demo tenant plus this many users, a team "+
		"and nested groups with them, some users blocking the bot or lacking its app (docs/emulator.md); not with --seed")
	fs.Usage = func() {
		_, _ = fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, nil
}

func parseLimits(s string) ([]emulator.Limit, error) {
	var out []emulator.Limit
	for part := range strings.SplitSeq(s, ",") {
		n, w, ok := strings.Cut(strings.TrimSpace(part), "/")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count <= 0 {
			return nil, fmt.Errorf("conversation limit %q: want COUNT/WINDOW such as 7/1s", part)
		}
		win, err := time.ParseDuration(w)
		if err != nil || win <= 0 {
			return nil, fmt.Errorf("conversation limit %q: bad window: %v", part, err)
		}
		out = append(out, emulator.Limit{Count: count, Window: win})
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	limits, err := parseLimits(c.convLimits)
	if err != nil {
		return err
	}
	seed := emulator.DefaultSeed()
	switch {
	case c.users < 0 || c.users > maxGeneratedUsers:
		return fmt.Errorf("--users must be between 0 and %d", maxGeneratedUsers)
	case c.users > 0 && c.seed != "":
		return errors.New("--users and --seed cannot be combined")
	case c.users > 0:
		seed = emulator.GenerateSeed(emulator.GenerateOptions{Users: c.users})
	}
	if c.seed != "" {
		if seed, err = emulator.LoadSeed(c.seed); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	e, err := emulator.New(seed, emulator.Options{
		AppRPS: c.appRPS, GraphRPS: c.graphRPS, MaxMessageBytes: c.maxMessageBytes, TokenLifetime: c.tokenLifetime,
		Cloud:   c.cloud,
		Latency: c.latency, ConversationLimits: limits, Logger: log,
	})
	if err != nil {
		return err
	}
	var srv *emulator.Server
	if c.insecureHTTP {
		srv, err = e.StartHTTP(c.listen)
	} else {
		srv, err = e.StartTLS(c.listen, c.caDir)
	}
	if err != nil {
		return err
	}
	if err := setBotEndpoint(e, c, srv.URL); err != nil {
		return errors.Join(err, srv.Close())
	}
	_, _ = fmt.Fprintf(stdout, "teams-emulator listening on %s\n", srv.URL)
	if srv.CAFile != "" {
		_, _ = fmt.Fprintf(stdout, "CA certificate: %s\n", srv.CAFile)
	}
	_, _ = fmt.Fprintf(stdout, "operator flags: --authority-host %s/ --graph-endpoint %s --bot-service-url %s/teams/\n",
		srv.URL, srv.URL, srv.URL)
	if c.readyFile != "" {
		if err := writeFileAtomic(c.readyFile, srv.URL+"\n"); err != nil {
			return errors.Join(err, srv.Close())
		}
	}
	<-ctx.Done()
	log.Info("Shutting down")
	return srv.Close()
}

// writeFileAtomic writes through a temporary file, so a script polling for the file never reads
// it half-written.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil { //nolint:gosec // not a secret
		return fmt.Errorf("writing ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing ready file: %w", err)
	}
	return nil
}

// setBotEndpoint points users' activities at --bot-endpoint.
func setBotEndpoint(e *emulator.Emulator, c *config, baseURL string) error {
	if c.botEndpoint == "" {
		return nil
	}
	ep := emulator.BotEndpoint{URL: c.botEndpoint, ServiceURL: baseURL + "/teams/"}
	if c.botEndpointCA != "" {
		pemBytes, err := os.ReadFile(c.botEndpointCA)
		if err != nil {
			return fmt.Errorf("--bot-endpoint-ca: %w", err)
		}
		ep.RootCAs = x509.NewCertPool()
		if !ep.RootCAs.AppendCertsFromPEM(pemBytes) {
			return errors.New("--bot-endpoint-ca: no certificate in the file")
		}
	}
	e.SetBotEndpoint(ep)
	return nil
}
