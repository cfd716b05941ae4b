package botframework

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// maxServiceURLLen bounds a service URL; real ones are under 100 characters.
const maxServiceURLLen = 2048

// ErrServiceURLRefused matches every *ServiceURLError (errors.Is).
var ErrServiceURLRefused = errors.New("service URL refused")

// Rules a service URL can break, as ServiceURLError.Rule.
const (
	RuleLength      = "length"          // longer than 2048 bytes
	RuleCharacters  = "characters"      // whitespace, control characters or a backslash
	RuleNotAbsolute = "absolute-url"    // not an absolute https://host/... URL
	RuleScheme      = "https-only"      // a scheme other than https
	RuleUserinfo    = "no-userinfo"     // user[:password]@ before the host
	RuleEncodedHost = "no-encoded-host" // percent-encoding in the host or port
	RuleFragment    = "no-fragment"     // #fragment
	RuleQuery       = "no-query"        // ?query
	RuleHostSyntax  = "host-syntax"     // not a plain ASCII DNS name or IP literal
	RuleTrailingDot = "no-trailing-dot" // host ends with "."
	RuleIPLiteral   = "ip-literal"      // an IP address that is not exactly an allowed entry
	RulePort        = "port"            // a port the allowed entry does not name
	RuleHost        = "allowed-host"    // a host that is not allowed
	RulePath        = "no-dot-segments" // "." or ".." path segments
)

// ServiceURLError says why a service URL was refused. Its text names the rule
// and the host, never the rest of the URL (which could carry credentials).
type ServiceURLError struct {
	Rule   string
	Host   string // empty when the URL could not be split up
	Detail string
}

func (e *ServiceURLError) Error() string {
	if e.Host == "" {
		return fmt.Sprintf("service URL refused (rule %s): %s", e.Rule, e.Detail)
	}
	return fmt.Sprintf("service URL refused (rule %s): host %q: %s", e.Rule, e.Host, e.Detail)
}

// Is makes errors.Is(err, ErrServiceURLRefused) true.
func (e *ServiceURLError) Is(target error) bool { return target == ErrServiceURLRefused }

// Classification: terminal, the URL must change.
func (e *ServiceURLError) Classification() msapi.Classification {
	return msapi.Classification{Reason: msapi.ReasonServiceURLRefused, Terminal: true}
}

func refuse(rule, host, detail string) *ServiceURLError {
	return &ServiceURLError{Rule: rule, Host: host, Detail: detail}
}

// ServiceURLPolicy decides which service URLs may receive a bot token.
type ServiceURLPolicy struct {
	allowed map[string]bool // normalised host or host:port
	hosts   map[string]bool // the host part of every entry, to explain port refusals
}

// NewServiceURLPolicy allows the given hosts: the configured cloud's Teams
// service hosts (e.g. smba.trafficmanager.net) and the host of --bot-service-url.
// An entry is "host", "host:port" or an https URL whose host[:port] is taken.
// An entry without a port (or with :443) allows only port 443; an entry with
// another port allows exactly that port. Matching is case-insensitive and exact:
// no suffixes, no wildcards. Entries that cannot be parsed are ignored.
func NewServiceURLPolicy(allowedHosts []string) *ServiceURLPolicy {
	p := &ServiceURLPolicy{allowed: map[string]bool{}, hosts: map[string]bool{}}
	for _, entry := range allowedHosts {
		host, port, ok := splitEntry(entry)
		if !ok {
			continue
		}
		p.allowed[hostKey(host, port)] = true
		p.hosts[host] = true
	}
	return p
}

func splitEntry(entry string) (host, port string, ok bool) {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return "", "", false
	}
	if !strings.Contains(entry, "://") {
		entry = "https://" + entry
	}
	u, err := url.Parse(entry)
	if err != nil || u.Hostname() == "" {
		return "", "", false
	}
	return strings.ToLower(u.Hostname()), u.Port(), true
}

// hostKey is the allowed-set key: the host alone for the default port 443,
// host:port otherwise.
func hostKey(host, port string) string {
	if port == "" || port == "443" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// Check returns the parsed service URL if the policy allows it, or a
// *ServiceURLError naming the rule that failed. The returned URL has a
// lower-case host and no query or fragment.
func (p *ServiceURLPolicy) Check(serviceURL string) (*url.URL, error) {
	if err := checkRaw(serviceURL); err != nil {
		return nil, err
	}
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, refuse(RuleNotAbsolute, "", "not a valid URL")
	}
	if err := checkShape(u); err != nil {
		return nil, err
	}
	host := strings.ToLower(u.Hostname())
	if err := p.checkHost(host, u.Port()); err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "https", Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath}, nil
}

// checkRaw looks at the string before url.Parse can normalise anything away:
// url.Parse decodes %2E in a host and accepts "https:host" as opaque.
func checkRaw(raw string) error {
	if len(raw) > maxServiceURLLen {
		return refuse(RuleLength, "", fmt.Sprintf("longer than %d bytes", maxServiceURLLen))
	}
	for i := range len(raw) {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return refuse(RuleCharacters, "", "contains whitespace, a control character or a backslash")
		}
	}
	const prefix = "https://"
	if len(raw) < len(prefix) || !strings.EqualFold(raw[:len(prefix)], prefix) {
		scheme, _, found := strings.Cut(raw, ":")
		if found && scheme != "" && !strings.EqualFold(scheme, "https") && !strings.ContainsAny(scheme, "/?#") {
			return refuse(RuleScheme, "", fmt.Sprintf("scheme %q is not https", strings.ToLower(scheme)))
		}
		return refuse(RuleNotAbsolute, "", "must be an absolute https:// URL")
	}
	authority := raw[len(prefix):]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		// Name the host the URL really points at, never the user part.
		return refuse(RuleUserinfo, strings.ToLower(authority[i+1:]), "must not carry user information (user@host)")
	}
	if strings.Contains(authority, "%") {
		return refuse(RuleEncodedHost, strings.ToLower(authority), "the host must not be percent-encoded")
	}
	if strings.Contains(raw, "#") {
		// Even an empty fragment: nothing legitimate has one.
		return refuse(RuleFragment, "", "must not have a fragment")
	}
	return nil
}

// checkShape refuses the parts a service URL never has.
func checkShape(u *url.URL) error {
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme != "https":
		return refuse(RuleScheme, host, "scheme is not https")
	case u.Opaque != "" || u.Host == "" || host == "":
		return refuse(RuleNotAbsolute, host, "must be an absolute https:// URL with a host")
	case u.User != nil:
		return refuse(RuleUserinfo, host, "must not carry user information (user@host)")
	case u.Fragment != "":
		return refuse(RuleFragment, host, "must not have a fragment")
	case u.RawQuery != "" || u.ForceQuery:
		return refuse(RuleQuery, host, "must not have a query")
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return refuse(RulePath, host, `the path must not contain "." or ".." segments`)
		}
	}
	return nil
}

// checkHost matches the host exactly against the allowed set.
func (p *ServiceURLPolicy) checkHost(host, port string) error {
	if strings.HasSuffix(host, ".") {
		return refuse(RuleTrailingDot, host, "the host must not end with a dot")
	}
	isIP := net.ParseIP(host) != nil
	if !isIP && !isDNSName(host) {
		return refuse(RuleHostSyntax, host, "the host must be a plain ASCII DNS name")
	}
	if p.allowed[hostKey(host, port)] {
		return nil
	}
	switch {
	case isIP:
		return refuse(RuleIPLiteral, host, "IP addresses are allowed only when configured exactly (with their port)")
	case p.hosts[host]:
		if port == "" {
			port = "443"
		}
		return refuse(RulePort, host, fmt.Sprintf("port %s is not allowed for this host", port))
	}
	return refuse(RuleHost, host, "not one of the allowed Teams service hosts (the cloud's hosts and --bot-service-url)")
}

// isDNSName accepts lower-case letters, digits, '-' and '.' in non-empty
// labels, which rules out Unicode look-alikes, underscores and empty labels.
func isDNSName(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}
