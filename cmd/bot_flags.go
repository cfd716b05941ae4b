package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/operator"
)

// botFlags are the flags of the bot's messaging endpoint (docs/bot-endpoint.md).
type botFlags struct {
	server            botendpoint.ServerOptions
	openIDMetadataURL string
	optOutNamespace   string
	optOutOverride    string
	optOutKeywords    string
	optInKeywords     string
}

// serviceAccountNamespace is where Kubernetes tells a pod its namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func (b *botFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&b.server.BindAddress, "bot-endpoint-bind-address", "0",
		"The address the bot's messaging endpoint (/api/messages) binds to, e.g. :3978; 0 turns it off.")
	fs.StringVar(&b.server.CertDir, "bot-endpoint-cert-path", "",
		"Directory with the endpoint's TLS certificate (reloaded when it changes); empty: plain HTTP (only behind a "+
			"TLS-terminating ingress).")
	fs.StringVar(&b.server.CertName, "bot-endpoint-cert-name", "tls.crt", "The endpoint's certificate file name.")
	fs.StringVar(&b.server.KeyName, "bot-endpoint-cert-key", "tls.key", "The endpoint's key file name.")
	fs.StringVar(&b.openIDMetadataURL, "bot-openid-metadata-url", "",
		"The Bot Connector's OpenID metadata URL, whose keys sign the requests to the endpoint; empty: the cloud's.")
	fs.StringVar(&b.optOutNamespace, "opt-out-namespace", "",
		"Namespace of the opt-out record (ConfigMaps the manager owns); empty: the manager's own namespace "+
			"(POD_NAMESPACE, or the pod's service account namespace) when the bot endpoint is on, else opt-outs off.")
	fs.StringVar(&b.optOutOverride, "opt-out-override-namespace-selector", "",
		"Label selector of the Namespaces whose ProactiveMessages may set spec.ignoreOptOut; \"\" allows none, \"*\" all.")
	fs.StringVar(&b.optOutKeywords, "bot-opt-out-keywords", "stop",
		"Comma-separated replies that stop a person's notifications from the bot (case-insensitive).")
	fs.StringVar(&b.optInKeywords, "bot-opt-in-keywords", "start",
		"Comma-separated replies that turn them on again.")
}

// optOutOptions reads the opt-out flags.
func (b *botFlags) optOutOptions() (operator.OptOutOptions, error) {
	o := operator.OptOutOptions{Namespace: b.optOutNamespace,
		OptOutKeywords: splitList(strings.ToLower(b.optOutKeywords)),
		OptInKeywords:  splitList(strings.ToLower(b.optInKeywords))}
	if o.Namespace == "" && !b.server.Enabled() {
		return o, nil // no endpoint, no record: nothing would write it (and the Role comes with the endpoint)
	}
	if o.Namespace == "" {
		o.Namespace = os.Getenv("POD_NAMESPACE")
	}
	if o.Namespace == "" {
		if ns, err := os.ReadFile(serviceAccountNamespace); err == nil {
			o.Namespace = strings.TrimSpace(string(ns))
		}
	}
	for _, w := range o.OptOutKeywords {
		if slices.Contains(o.OptInKeywords, w) {
			return o, fmt.Errorf("--bot-opt-out-keywords and --bot-opt-in-keywords both have %q", w)
		}
	}
	switch sel := strings.TrimSpace(b.optOutOverride); sel {
	case "":
	case "*":
		o.Override = labels.Everything()
	default:
		parsed, err := labels.Parse(sel)
		if err != nil {
			return o, fmt.Errorf("--opt-out-override-namespace-selector: %w", err)
		}
		o.Override = parsed
	}
	return o, nil
}

func (b *botFlags) serverOptions(enableHTTP2 bool) botendpoint.ServerOptions {
	o := b.server
	o.EnableHTTP2 = enableHTTP2
	return o
}
