// Command manager runs the teams-operator controllers.
package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/operator"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(teamsv1alpha1.AddToScheme(scheme))
}

type flags struct {
	metricsAddr, probeAddr     string
	pprofAddr                  string
	leaderElect, secureMetrics bool
	leaderElectionNamespace    string
	enableHTTP2                bool
	metricsCertPath            string
	metricsCertName            string
	metricsCertKey             string
	cloudName                  string
	authorityHost, graphURL    string
	botServiceURL, defaultCred string
	maxSendRPS                 float64
	messageWorkers             int
	alertmanager               alertmanager.ServerOptions
	amTokenSecret              string
	amResolvedTTL              time.Duration
	sharedCredentials          string
	secretNamespaces           string
	secretSelector             string
	annotationKeyFile          string
	bot                        botFlags
	cardActions                actionsFlags
	sources                    sourcesFlags
}

// DefaultSharedCredentialsSelector is the documented default of
// --shared-credentials-namespace-selector: the platform team labels the namespaces that may
// use the manager's default credentials and workload identity (docs/security.md).
const DefaultSharedCredentialsSelector = "teams.operator.dev/shared-credentials=true"

func parseFlags() (flags, zap.Options) {
	var f flags
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to: :8443 for HTTPS, :8080 for HTTP, 0 to disable it.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "0",
		"The address Go's profiles (/debug/pprof) are served on, unauthenticated: bind it to localhost; 0 turns it off.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false,
		"Enable leader election, so only one manager replica is active.")
	flag.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease; empty: the pod's own namespace (required outside a pod).")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization; false serves plain HTTP.")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server.")
	flag.StringVar(&f.metricsCertPath, "metrics-cert-path", "",
		"Directory with the metrics server's certificate; empty: a self-signed one is generated.")
	flag.StringVar(&f.metricsCertName, "metrics-cert-name", "tls.crt", "The metrics server's certificate file name.")
	flag.StringVar(&f.metricsCertKey, "metrics-cert-key", "tls.key", "The metrics server's key file name.")
	flag.StringVar(&f.cloudName, "cloud", string(cloud.Public), "The Microsoft cloud: "+joinNames(cloud.Names())+".")
	flag.StringVar(&f.authorityHost, "authority-host", "", "Override the cloud's Entra authority host (https).")
	flag.StringVar(&f.graphURL, "graph-endpoint", "", "Override the cloud's Microsoft Graph endpoint (https).")
	flag.StringVar(&f.botServiceURL, "bot-service-url", "",
		"Override the cloud's Bot Framework service URL (https); its host becomes an allowed service host.")
	flag.StringVar(&f.defaultCred, "default-credentials", "",
		"NAMESPACE/NAME of the credentials Secret for objects without spec.credentialsRef; empty: none.")
	flag.Float64Var(&f.maxSendRPS, "max-send-rps", operator.DefaultMaxSendRPS,
		"Bot Framework requests per second per app per tenant (Teams allows 50).")
	flag.IntVar(&f.messageWorkers, "message-workers", 0,
		"ProactiveMessages reconciled at once (0: the default, 32). Messages to one conversation still go in order.")
	flag.StringVar(&f.alertmanager.BindAddress, "alertmanager-bind-address", "0",
		"The address the Alertmanager webhook receiver binds to, e.g. :9443; 0 turns it off.")
	flag.StringVar(&f.alertmanager.CertDir, "alertmanager-cert-path", "",
		"Directory with the receiver's TLS certificate (reloaded when it changes); empty: plain HTTP.")
	flag.StringVar(&f.alertmanager.CertName, "alertmanager-cert-name", "tls.crt", "The receiver's certificate file name.")
	flag.StringVar(&f.alertmanager.KeyName, "alertmanager-cert-key", "tls.key", "The receiver's key file name.")
	flag.StringVar(&f.amTokenSecret, "alertmanager-token-secret", alertmanager.DefaultTokenSecret,
		"Secret, in the namespace of each receiver URL, whose key \"token\" is the bearer token Alertmanager must send.")
	flag.DurationVar(&f.amResolvedTTL, "alertmanager-resolved-ttl", alertmanager.DefaultResolvedTTL,
		"ttlAfterFinished of a resolved alert group's ProactiveMessage; 0 keeps them.")
	flag.StringVar(&f.sharedCredentials, "shared-credentials-namespace-selector", DefaultSharedCredentialsSelector,
		"Label selector of the Namespaces whose objects may use --default-credentials and the manager's workload "+
			"identity; \"\" allows none, \"*\" every namespace.")
	flag.StringVar(&f.secretNamespaces, "secret-namespaces", "",
		"Comma-separated namespaces whose Secrets the manager watches and reads (with a Role in each); empty: all.")
	flag.StringVar(&f.secretSelector, "secret-label-selector", "",
		"Label selector: the manager watches and reads only the Secrets it matches; empty: all.")
	flag.StringVar(&f.annotationKeyFile, "annotation-key-file", "",
		"File with the key (at least 32 bytes) that signs the message ids recorded in the send journal (and, by "+
			"older versions, in annotations), so ids restored "+
			"from a backup are trusted; empty: a random key per start (restored messages are then not trusted).")
	f.bot.bind(flag.CommandLine)
	f.cardActions.bind(flag.CommandLine)
	f.sources.bind(flag.CommandLine)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	return f, opts
}

func joinNames(names []cloud.Name) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

func main() {
	f, zapOpts := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setMemoryLimit(setupLog, memlimit.FromCgroup)
	if err := run(f); err != nil {
		setupLog.Error(err, "Manager failed")
		os.Exit(1)
	}
}

func run(f flags) error {
	opts, err := operatorOptions(f)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOptions(f),
		HealthProbeBindAddress:        f.probeAddr,
		PprofBindAddress:              f.pprofAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "teams-operator.teams.operator.dev",
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		// The cache keeps neither managedFields, nor kubectl's last-applied copies (a Secret's
		// holds its values), nor cards too large to send (docs/security.md).
		Cache: operator.CacheOptions(opts),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := operator.Setup(mgr, opts); err != nil {
		return err
	}
	f.alertmanager.EnableHTTP2 = f.enableHTTP2
	people, err := f.sources.personSelector()
	if err != nil {
		return err
	}
	if _, err := alertmanager.AddToManager(mgr, f.alertmanager, alertmanager.Options{
		TokenSecret: f.amTokenSecret, ResolvedTTL: f.amResolvedTTL, PersonNamespaces: people,
		// The card's buttons need the bot endpoint, which receives the presses.
		Buttons: opts.BotEndpoint.Enabled(), APISecret: f.cardActions.apiSecret,
	}); err != nil {
		return err
	}
	if f.alertmanager.Enabled() { // template ConfigMaps are checked when saved (docs/sources.md)
		if err := alertmanager.AddTemplateCheck(mgr, alertmanager.Limits{}); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}
	setupLog.Info("Starting manager", "cloud", f.cloudName, "graphEndpoint", opts.Endpoints.GraphEndpoint)
	return mgr.Start(ctrl.SetupSignalHandler())
}

func operatorOptions(f flags) (operator.Options, error) {
	endpoints, err := cloud.Lookup(cloud.Name(f.cloudName))
	if err != nil {
		return operator.Options{}, fmt.Errorf("--cloud: %w", err)
	}
	endpoints, err = endpoints.WithOverrides(f.authorityHost, f.graphURL, f.botServiceURL)
	if err != nil {
		return operator.Options{}, err
	}
	if endpoints, err = endpoints.WithBotOpenIDMetadata(f.bot.openIDMetadataURL); err != nil {
		return operator.Options{}, fmt.Errorf("--bot-openid-metadata-url: %w", err)
	}
	def, err := parseNamespacedName(f.defaultCred)
	if err != nil {
		return operator.Options{}, err
	}
	if f.maxSendRPS <= 0 {
		return operator.Options{}, errors.New("--max-send-rps must be positive")
	}
	if f.amResolvedTTL < 0 {
		return operator.Options{}, errors.New("--alertmanager-resolved-ttl must not be negative")
	}
	if f.amTokenSecret == "" {
		return operator.Options{}, errors.New("--alertmanager-token-secret must not be empty")
	}
	if f.messageWorkers < 0 {
		return operator.Options{}, errors.New("--message-workers must not be negative")
	}
	shared, err := sharedCredentialsSelector(f.sharedCredentials)
	if err != nil {
		return operator.Options{}, err
	}
	var secretSelector labels.Selector
	if f.secretSelector != "" {
		if secretSelector, err = labels.Parse(f.secretSelector); err != nil {
			return operator.Options{}, fmt.Errorf("--secret-label-selector: %w", err)
		}
	}
	var proofKey []byte
	if f.annotationKeyFile != "" {
		if proofKey, err = os.ReadFile(f.annotationKeyFile); err != nil {
			return operator.Options{}, fmt.Errorf("--annotation-key-file: %w", err)
		}
		if proofKey = bytes.TrimSpace(proofKey); len(proofKey) < 32 {
			return operator.Options{}, errors.New("--annotation-key-file: the key must be at least 32 bytes")
		}
	}
	optOut, err := f.bot.optOutOptions()
	if err != nil {
		return operator.Options{}, err
	}
	return operator.Options{
		OptOut:             optOut,
		DeliveryProofKey:   proofKey,
		SharedCredentials:  shared,
		SecretNamespaces:   splitList(f.secretNamespaces),
		SecretSelector:     secretSelector,
		Endpoints:          endpoints,
		DefaultCredentials: def,
		FederatedTokenFile: os.Getenv("AZURE_FEDERATED_TOKEN_FILE"),
		MaxSendRPS:         f.maxSendRPS,
		MessageWorkers:     f.messageWorkers,
		BotEndpoint:        f.bot.serverOptions(f.enableHTTP2),

		AlertmanagerAPISecret: f.cardActions.apiSecret,
	}, nil
}

// sharedCredentialsSelector parses --shared-credentials-namespace-selector: "" allows no
// namespace, "*" every namespace, anything else is a label selector on Namespaces.
func sharedCredentialsSelector(s string) (labels.Selector, error) {
	switch strings.TrimSpace(s) {
	case "":
		return labels.Nothing(), nil
	case "*":
		return labels.Everything(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--shared-credentials-namespace-selector: %w", err)
	}
	if sel.Empty() {
		return labels.Everything(), nil
	}
	return sel, nil
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parseNamespacedName(s string) (types.NamespacedName, error) {
	if s == "" {
		return types.NamespacedName{}, nil
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("--default-credentials %q must be NAMESPACE/NAME", s)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func metricsOptions(f flags) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		// HTTP/2 stays off by default (HTTP/2 Stream Cancellation and Rapid Reset CVEs).
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	opts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.secureMetrics, TLSOpts: tlsOpts}
	if f.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if f.metricsCertPath != "" {
		// controller-runtime watches the files, so a renewed certificate is served without a restart.
		opts.CertDir, opts.CertName, opts.KeyName = f.metricsCertPath, f.metricsCertName, f.metricsCertKey
	}
	return opts
}
