package alertmanager

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/teams-operator/teams-operator/internal/alertmanager/amapi"
)

// The namespace's Alertmanager: a Secret next to the token Secret says which Alertmanager the card's
// buttons act on. Its keys:
const (
	DefaultAPISecret = "alertmanager-api"
	// APIURLKey is Alertmanager's URL as the manager reaches it (with its route prefix, if any).
	APIURLKey = "url"
	// APIExternalURLKey is Alertmanager's --web.external-url, when it differs from url: the webhook
	// payload's externalURL must equal it (or url) for the card to get buttons.
	APIExternalURLKey = "externalURL"
	// APICAKey is the PEM CA that signed Alertmanager's certificate; default: the system's CAs.
	APICAKey = "ca.crt"
	// APITokenKey is a bearer token; APIUsernameKey and APIPasswordKey are basic credentials.
	APITokenKey    = "token"
	APIUsernameKey = "username"
	APIPasswordKey = "password"
	// APIDurationsKey lists the Silence buttons' durations, e.g. "1h,4h,24h".
	APIDurationsKey = "silenceDurations"
	// APIButtonsKey "false" turns the buttons off for the namespace.
	APIButtonsKey = "buttons"
)

// Bounds of the configuration: a namespace's Secret is input like any other.
const (
	maxAPIURLLen    = 2048
	maxAPICABytes   = 64 << 10
	maxAPICredBytes = 4096
	maxDurations    = 6
	minSilence      = time.Minute
	maxSilence      = 90 * 24 * time.Hour
)

const schemeHTTPS = "https"

// DefaultSilenceDurations are the Silence buttons when the Secret does not list its own.
var DefaultSilenceDurations = []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour}

// APIConfig is a namespace's Alertmanager, checked.
type APIConfig struct {
	URL *url.URL
	// ExternalURLs are the payload externalURLs accepted as this Alertmanager (normalised).
	ExternalURLs []string
	CAPEM        []byte
	Token        string
	Username     string
	Password     string
	Durations    []time.Duration
	Buttons      bool
}

// ErrNoAPIConfig means the namespace named no Alertmanager: the card gets no buttons.
var ErrNoAPIConfig = errors.New("the namespace names no Alertmanager")

// ParseAPIConfig checks a Secret's data. Its errors name the key and never quote a credential.
func ParseAPIConfig(data map[string][]byte) (*APIConfig, error) {
	raw := strings.TrimSpace(string(data[APIURLKey]))
	if raw == "" {
		return nil, fmt.Errorf("key %q (Alertmanager's URL) is missing", APIURLKey)
	}
	u, err := parseAlertmanagerURL(raw)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", APIURLKey, err)
	}
	cfg := &APIConfig{URL: u, ExternalURLs: []string{normalizeURL(u)}, Buttons: true, Durations: DefaultSilenceDurations}
	if ext := strings.TrimSpace(string(data[APIExternalURLKey])); ext != "" {
		eu, err := parseAlertmanagerURL(ext)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", APIExternalURLKey, err)
		}
		cfg.ExternalURLs = append(cfg.ExternalURLs, normalizeURL(eu))
	}
	if err := cfg.parseCredentials(data); err != nil {
		return nil, err
	}
	if ca := data[APICAKey]; len(ca) > 0 {
		if len(ca) > maxAPICABytes {
			return nil, fmt.Errorf("key %q is %d bytes, more than %d", APICAKey, len(ca), maxAPICABytes)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("key %q has no PEM certificate", APICAKey)
		}
		cfg.CAPEM = bytes.Clone(ca)
	}
	if d := strings.TrimSpace(string(data[APIDurationsKey])); d != "" {
		if cfg.Durations, err = parseDurations(d); err != nil {
			return nil, fmt.Errorf("key %q: %w", APIDurationsKey, err)
		}
	}
	switch b := strings.TrimSpace(string(data[APIButtonsKey])); b {
	case "", "true":
	case "false":
		cfg.Buttons = false
	default:
		return nil, fmt.Errorf("key %q must be \"true\" or \"false\", not %q", APIButtonsKey, truncate(b, 20))
	}
	return cfg, nil
}

func (c *APIConfig) parseCredentials(data map[string][]byte) error {
	for _, k := range []string{APITokenKey, APIUsernameKey, APIPasswordKey} {
		if len(data[k]) > maxAPICredBytes {
			return fmt.Errorf("key %q is longer than %d bytes", k, maxAPICredBytes)
		}
	}
	// A credential file often ends with a newline; Alertmanager's own files are trimmed too.
	c.Token = strings.TrimSpace(string(data[APITokenKey]))
	c.Username = strings.TrimSpace(string(data[APIUsernameKey]))
	c.Password = strings.TrimSpace(string(data[APIPasswordKey]))
	switch {
	case c.Token != "" && (c.Username != "" || c.Password != ""):
		return fmt.Errorf("set either %q or %q and %q, not both", APITokenKey, APIUsernameKey, APIPasswordKey)
	case (c.Username == "") != (c.Password == ""):
		return fmt.Errorf("%q and %q go together", APIUsernameKey, APIPasswordKey)
	case c.URL.Scheme != schemeHTTPS && (c.Token != "" || c.Password != ""):
		return fmt.Errorf("credentials are sent only over https: key %q is http", APIURLKey)
	}
	return nil
}

func parseAlertmanagerURL(s string) (*url.URL, error) {
	if len(s) > maxAPIURLLen {
		return nil, fmt.Errorf("longer than %d characters", maxAPIURLLen)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != schemeHTTPS && u.Scheme != "http":
		return nil, errors.New("must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not carry credentials (use the token or username and password keys)")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("must have no query or fragment")
	}
	return u, nil
}

// normalizeURL is how two Alertmanager URLs are compared: scheme and host in lower case, no
// trailing slash.
func normalizeURL(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// Names reports whether a payload's externalURL is this Alertmanager. Only then does the card get
// buttons; the externalURL itself is never called.
func (c *APIConfig) Names(externalURL string) bool {
	u, err := url.Parse(strings.TrimSpace(externalURL))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return slices.Contains(c.ExternalURLs, normalizeURL(u))
}

func parseDurations(s string) ([]time.Duration, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxDurations {
		return nil, fmt.Errorf("at most %d durations", maxDurations)
	}
	var out []time.Duration
	for _, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 1h or 30m", truncate(strings.TrimSpace(p), 20))
		}
		if d < minSilence || d > maxSilence {
			return nil, fmt.Errorf("%s is outside %s to %s", d, minSilence, maxSilence)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Client returns an Alertmanager API client for the configuration.
func (c *APIConfig) Client() (*amapi.Client, error) {
	return amapi.New(amapi.Options{BaseURL: c.URL, CAPEM: c.CAPEM, BearerToken: c.Token, Username: c.Username, Password: c.Password})
}

// LoadAPIConfig reads and checks the namespace's Alertmanager Secret. ErrNoAPIConfig when there is none.
// meta, when set, is the manager's cache of Secret metadata: a Secret it does not hold (outside
// --secret-namespaces or --secret-label-selector) counts as none, as for the token Secret.
func LoadAPIConfig(ctx context.Context, meta, r client.Reader, namespace, name string) (*APIConfig, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	absent := func(err error) bool {
		return apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || strings.Contains(err.Error(), "unknown namespace")
	}
	if meta != nil {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := meta.Get(ctx, key, m); err != nil {
			if absent(err) {
				return nil, ErrNoAPIConfig
			}
			return nil, err
		}
	}
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		if absent(err) {
			return nil, ErrNoAPIConfig
		}
		return nil, err
	}
	cfg, err := ParseAPIConfig(s.Data)
	if err != nil {
		return nil, &ConfigError{Namespace: namespace, Name: name, Err: err}
	}
	return cfg, nil
}

// ConfigError is a namespace's Alertmanager Secret that is there but wrong.
type ConfigError struct {
	Namespace, Name string
	Err             error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("the Secret %s/%s: %v", e.Namespace, e.Name, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// formatDuration is a button's label: 1h, 4h, 24h, 30m, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
