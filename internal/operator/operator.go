// Package operator wires the reconcilers, the Microsoft clients and their shared transport
// and limiters into a manager. cmd/main.go and the integration tests both call Setup, so the
// tests run exactly what ships.
package operator

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/controller"
	reachpolicy "github.com/teams-operator/teams-operator/internal/policy"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// DefaultMaxSendRPS is Teams' documented 50 requests per second per app per tenant
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit). The app
// limiter keeps it as Teams counts it, a sliding window of 1 s measured on arrival: each request
// counts until its answer, plus ratelimit.AppMargin, so the operator sends at about 49.5 per
// second without being throttled (docs/performance.md).
const DefaultMaxSendRPS = ratelimit.TeamsAppLimit

// Options are the manager's settings (its flags).
type Options struct {
	// Endpoints are the cloud's endpoints with the flag overrides applied.
	Endpoints cloud.Endpoints
	// DefaultCredentials is the Secret used by objects without credentialsRef; empty: none.
	DefaultCredentials types.NamespacedName
	// FederatedTokenFile is AZURE_FEDERATED_TOKEN_FILE, for workload identity.
	FederatedTokenFile string
	// MaxSendRPS limits Connector calls per app per tenant.
	MaxSendRPS float64
	// InstallationInterval is the default drift-check interval of TeamsAppInstallations.
	InstallationInterval time.Duration
	// TargetRecheckInterval is how often a ConversationTarget waiting for its bot to be
	// installed outside the cluster looks again; zero means 30s.
	TargetRecheckInterval time.Duration
	// MessageWorkers is how many ProactiveMessages are reconciled at once; zero means
	// controller.DefaultMessageWorkers.
	MessageWorkers int
	// ExtraRootCAs are trusted besides the system roots (in-process tests only; binaries
	// use SSL_CERT_FILE).
	ExtraRootCAs *x509.CertPool
	// SharedCredentials selects the namespaces that may use DefaultCredentials and the
	// workload identity (--shared-credentials-namespace-selector). nil: every namespace, for
	// tests; the manager binary always sets it (labels.Nothing() allows none).
	SharedCredentials labels.Selector
	// SecretNamespaces, when set, are the only namespaces whose Secrets the manager watches and
	// reads (--secret-namespaces); the default credentials' namespace is added.
	SecretNamespaces []string
	// DeliveryProofKey signs the message ids the operator records in the send journal (older
	// versions: in annotations), so that ids
	// restored from a backup are trusted and ids typed by a user are not (--annotation-key-file).
	// Empty: a random key per process.
	DeliveryProofKey []byte
	// Broadcast tunes messages to audience targets (batch size, time per reconcile, opt-outs).
	Broadcast controller.BroadcastOptions
	// SecretSelector, when set, limits the Secrets the manager watches and reads to those it
	// matches (--secret-label-selector).
	SecretSelector labels.Selector
	// BotEndpoint is where the bot's messaging endpoint listens (--bot-endpoint-bind-address);
	// off when unset.
	BotEndpoint botendpoint.ServerOptions
	// AlertmanagerAPISecret names each namespace's Alertmanager Secret, which the Alertmanager
	// card's buttons act on (--alertmanager-api-secret); empty: alertmanager-api.
	AlertmanagerAPISecret string
	// OptOut configures the opt-out record and its keywords.
	OptOut OptOutOptions
}

func (o Options) withDefaults() Options {
	if o.MaxSendRPS == 0 {
		o.MaxSendRPS = DefaultMaxSendRPS
	}
	if o.InstallationInterval == 0 {
		o.InstallationInterval = 10 * time.Minute
	}
	return o
}

// Setup registers every reconciler with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	opts = opts.withDefaults()
	if opts.Endpoints.GraphEndpoint == "" || opts.Endpoints.AuthorityHost == "" {
		return errors.New("setting up the operator: cloud endpoints are required")
	}
	factory := newClientFactory(mgr, opts)
	// The platform team's ReachPolicies, read from the cache (docs/policy.md).
	reach := &reachpolicy.Reader{Client: mgr.GetClient()}
	optOuts, optOutPolicy, err := setupOptOut(mgr, opts)
	if err != nil {
		return err
	}
	if optOuts != nil && opts.Broadcast.OptOuts == nil {
		opts.Broadcast.OptOuts = optOuts // broadcasts skip people who opted out too
	}
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&controller.TeamsAppInstallationReconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("teamsappinstallation-controller"),
			Clients: factory, DefaultCredentials: opts.DefaultCredentials, Interval: opts.InstallationInterval,
		},
		&controller.ConversationTargetReconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("conversationtarget-controller"),
			Clients: factory, DefaultCredentials: opts.DefaultCredentials, Interval: opts.TargetRecheckInterval,
			Reach: reach,
		},
		&controller.ProactiveMessageReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("proactivemessage-controller"),
			Clients:  factory, DefaultCredentials: opts.DefaultCredentials,
			MaxConcurrentReconciles: opts.MessageWorkers, ProofKey: opts.DeliveryProofKey,
			Broadcast: opts.Broadcast,
			Reach:     reach,
			OptOut:    optOutPolicy,
		},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	registry, err := setupBotEndpoint(mgr, opts, factory, optOuts)
	if err != nil {
		return err
	}
	setupCardActions(mgr, opts, factory, registry)
	return nil
}

func newClientFactory(mgr ctrl.Manager, opts Options) *controller.SecretClientFactory {
	policy := botframework.NewServiceURLPolicy(opts.Endpoints.ServiceHosts)
	httpClient := transport.New(transport.Options{ExtraRootCAs: opts.ExtraRootCAs})
	var shared *controller.SharedCredentials
	if opts.SharedCredentials != nil {
		shared = &controller.SharedCredentials{Namespaces: mgr.GetClient(), Live: mgr.GetAPIReader(),
			Selector: opts.SharedCredentials}
	}
	scope := controller.SecretScope{Namespaces: secretNamespaces(opts)}
	if opts.SecretSelector != nil {
		scope.Selector = opts.SecretSelector.String()
	}
	return &controller.SecretClientFactory{
		Shared:              shared,
		SecretScope:         scope,
		Metadata:            mgr.GetClient(),
		Secrets:             mgr.GetAPIReader(),
		Default:             opts.DefaultCredentials,
		FederatedTokenFile:  opts.FederatedTokenFile,
		Endpoints:           opts.Endpoints,
		HTTPClient:          httpClient,
		Tokens:              auth.NewCache(auth.Options{Endpoints: opts.Endpoints, HTTPClient: httpClient}),
		Policy:              policy,
		AppLimiter:          ratelimit.NewAppLimiter(opts.MaxSendRPS),
		ConversationLimiter: ratelimit.NewConversationLimiter(),
	}
}
