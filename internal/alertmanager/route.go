package alertmanager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// A route is a ConfigMap of the namespace (key RouteKey) that chooses the targets of a
// notification from its labels, instead of the one target a URL names:
// /{source}/v1/namespaces/{namespace}/routes/{route}. Rules are tried in order; a rule whose
// matchers (Alertmanager's syntax) all match adds its targets and ends the walk unless it says
// continue; when no rule matched, the default targets get it.

// The receiver creates the ConversationTargets of people named in labels (personLabel), and
// reads Namespaces' labels to know where that is allowed.
// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets,verbs=get;create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// RouteKey is the key of a route ConfigMap.
const RouteKey = "route.yaml"

// Route bounds: a route is read on every notification.
const (
	maxRules         = 50
	maxRuleMatchers  = 20
	maxRouteTargets  = 10
	maxRouteTotal    = 20
	maxRegexpLength  = 1024
	personNamePrefix = "person-"
)

// Route is the content of a route ConfigMap.
type Route struct {
	Rules   []RouteRule `json:"routes"`
	Default []string    `json:"default,omitempty"`
	// PersonLabel names a label whose value is a person's UPN: the notification also goes to that
	// person, through a ConversationTarget the receiver manages, where the manager allows it for
	// the namespace (--receiver-person-namespace-selector); elsewhere the label is ignored and
	// the answer says so.
	PersonLabel string `json:"personLabel,omitempty"`
}

// RouteRule is one rule of a route.
type RouteRule struct {
	Matchers []string `json:"matchers"`
	Targets  []string `json:"targets"`
	Continue bool     `json:"continue,omitempty"`

	parsed []*Matcher
}

// MatchType is a matcher's operator.
type MatchType string

// Alertmanager's matcher operators.
const (
	MatcherEqual     MatchType = "="
	MatcherNotEqual  MatchType = "!="
	MatcherRegexp    MatchType = "=~"
	MatcherNotRegexp MatchType = "!~"
)

// Matcher is one label matcher: name, operator and value (a regexp anchored at both ends for =~ and !~).
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

var matcherName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseMatcher parses one matcher in Alertmanager's syntax
// (https://prometheus.io/docs/alerting/latest/configuration/#matcher): name, one of = != =~ !~,
// and a value, double-quoted (Go escapes) or bare.
func ParseMatcher(s string) (*Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("matcher %q: want name, an operator (=, !=, =~, !~) and a value", s)
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	if !matcherName.MatchString(name) {
		return nil, fmt.Errorf("matcher %q: %q is not a label name", s, name)
	}
	var typ MatchType
	for _, op := range []MatchType{MatcherRegexp, MatcherNotRegexp, MatcherNotEqual, MatcherEqual} {
		if strings.HasPrefix(rest, string(op)) {
			typ, rest = op, strings.TrimSpace(rest[len(op):])
			break
		}
	}
	if typ == "" {
		return nil, fmt.Errorf("matcher %q: the operator must be =, !=, =~ or !~", s)
	}
	value := rest
	if strings.HasPrefix(rest, `"`) {
		v, err := strconv.Unquote(rest)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: the value is not a valid quoted string", s)
		}
		value = v
	}
	m := &Matcher{Name: name, Type: typ, Value: value}
	if typ == MatcherRegexp || typ == MatcherNotRegexp {
		if len(value) > maxRegexpLength {
			return nil, fmt.Errorf("matcher %q: the regular expression is longer than %d", s, maxRegexpLength)
		}
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		m.re = re
	}
	return m, nil
}

// Matches reports whether lbls satisfy m; a missing label is the empty string, as in Alertmanager.
func (m *Matcher) Matches(lbls map[string]string) bool {
	v := lbls[m.Name]
	switch m.Type {
	case MatcherEqual:
		return v == m.Value
	case MatcherNotEqual:
		return v != m.Value
	case MatcherRegexp:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

// ParseRoute parses and checks a route ConfigMap's content.
func ParseRoute(text string) (*Route, error) {
	r := &Route{}
	if err := yaml.UnmarshalStrict([]byte(text), r); err != nil {
		return nil, fmt.Errorf("%s: %w", RouteKey, err)
	}
	if len(r.Rules) > maxRules {
		return nil, fmt.Errorf("%s has %d routes, at most %d", RouteKey, len(r.Rules), maxRules)
	}
	for i := range r.Rules {
		rule := &r.Rules[i]
		if len(rule.Matchers) > maxRuleMatchers || len(rule.Targets) == 0 || len(rule.Targets) > maxRouteTargets {
			return nil, fmt.Errorf("routes[%d]: at most %d matchers and 1 to %d targets", i, maxRuleMatchers, maxRouteTargets)
		}
		for _, s := range rule.Matchers {
			m, err := ParseMatcher(s)
			if err != nil {
				return nil, fmt.Errorf("routes[%d]: %w", i, err)
			}
			rule.parsed = append(rule.parsed, m)
		}
		if err := checkTargetNames(rule.Targets); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	if len(r.Default) > maxRouteTargets {
		return nil, fmt.Errorf("default: at most %d targets", maxRouteTargets)
	}
	if err := checkTargetNames(r.Default); err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	if r.PersonLabel != "" && !matcherName.MatchString(r.PersonLabel) {
		return nil, fmt.Errorf("personLabel %q is not a label name", r.PersonLabel)
	}
	return r, nil
}

func checkTargetNames(names []string) error {
	for _, n := range names {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Errorf("target %q is not a valid name: %s", n, strings.Join(errs, "; "))
		}
	}
	return nil
}

// Targets are the targets of a notification with the labels lbls: the matching rules' (in order, each
// once), else the default.
func (r *Route) Targets(lbls map[string]string) []string {
	var out []string
	matched := false
	for _, rule := range r.Rules {
		if !rule.matches(lbls) {
			continue
		}
		matched = true
		for _, t := range rule.Targets {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		if !rule.Continue {
			break
		}
	}
	if !matched {
		out = append(out, r.Default...)
	}
	return out
}

func (rule *RouteRule) matches(lbls map[string]string) bool {
	for _, m := range rule.parsed {
		if !m.Matches(lbls) {
			return false
		}
	}
	return true
}

// loadRoute reads the route ConfigMap name of ns.
func (h *handler) loadRoute(ctx context.Context, ns, name string) (*Route, error) {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, reject(http.StatusBadRequest, ReasonBadPath, "route %q is not a valid name: %s", name, strings.Join(errs, "; "))
	}
	cm := &corev1.ConfigMap{}
	if err := h.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, reject(http.StatusNotFound, ReasonTargetNotFound, "route ConfigMap %s/%s not found", ns, name)
		}
		return nil, err
	}
	text, ok := cm.Data[RouteKey]
	if !ok {
		return nil, reject(http.StatusUnprocessableEntity, ReasonRoute, "route ConfigMap %s/%s has no key %q", ns, name, RouteKey)
	}
	r, err := ParseRoute(text)
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, ReasonRoute, "route ConfigMap %s/%s: %v", ns, name, err)
	}
	return r, nil
}

// personTarget returns the name of the ConversationTarget the receiver manages for upn in ns,
// creating it when missing; an object of that name that is not the receiver's is a conflict.
func (h *handler) personTarget(ctx context.Context, ns, upn string) (string, error) {
	sum := sha256.Sum256([]byte(strings.ToLower(upn)))
	name := personNamePrefix + hex.EncodeToString(sum[:8])
	ct := &teamsv1alpha1.ConversationTarget{}
	err := h.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ct)
	switch {
	case err == nil:
		if ct.Labels[ManagedByLabel] != ManagedByValue || ct.Spec.User == nil || !strings.EqualFold(ct.Spec.User.UserPrincipalName, upn) {
			return "", reject(http.StatusConflict, ReasonConflict,
				"ConversationTarget %s/%s exists and is not the receiver's target for this person", ns, name)
		}
		return name, nil
	case !apierrors.IsNotFound(err):
		return "", err
	}
	ct = &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{ManagedByLabel: ManagedByValue}},
		Spec: teamsv1alpha1.ConversationTargetSpec{User: &teamsv1alpha1.UserTarget{UserPrincipalName: upn}},
	}
	if err := h.o.Writer.Create(ctx, ct, client.FieldOwner(fieldOwner)); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	return name, nil
}

// personAllowed reports whether ns may address people by label (the manager's selector on the
// Namespace's labels); no selector: no namespace may.
func (h *handler) personAllowed(ctx context.Context, ns string) (bool, error) {
	if h.o.PersonNamespaces == nil || h.o.PersonNamespaces.Empty() {
		return false, nil
	}
	n := &corev1.Namespace{}
	if err := h.o.Reader.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
		return false, err
	}
	return h.o.PersonNamespaces.Matches(labels.Set(n.Labels)), nil
}

// upnValue accepts a label value that looks like a UPN: name@domain, no spaces, at most 113
// characters before the @ and 256 in all (Entra's limits).
func upnValue(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && len(local) <= 113 && len(s) <= 256 && strings.Contains(domain, ".") &&
		!strings.ContainsAny(s, " \t\n\"<>") && !strings.Contains(domain, "@")
}
