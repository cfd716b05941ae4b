package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// A source is one kind of sender the receiver understands (Alertmanager, Grafana, Flux, ...).
// Every source shares the receiver's port, its token model (the bearer token in the token
// Secret of the URL's namespace), its caps and its upsert; a source says only where it is
// served, how to check the signature its sender adds (if any), and how a body becomes the
// messages it wants.
type source struct {
	// name is the source's path segment and its metrics label.
	name string
	// verify checks a signature the sender adds besides the bearer token; nil: none.
	verify func(r *http.Request, body []byte, c *credentials) error
	// parse turns a body into the notifications it carries (at least one).
	parse func(ctx context.Context, req *request) ([]notification, error)
}

// Source names: the first path segment of their URLs and the source label of their metrics.
const (
	SourceAlertmanager = "alertmanager"
	SourceGrafana      = "grafana"
)

// paths are the source's URL patterns (Go 1.22 ServeMux syntax): one target, or a route.
func (s *source) paths() []string {
	return []string{
		"POST /" + s.name + "/v1/namespaces/{namespace}/targets/{target}",
		"POST /" + s.name + "/v1/namespaces/{namespace}/routes/{route}",
	}
}

// request is one authenticated request to a source.
type request struct {
	h         *handler
	r         *http.Request
	namespace string
	body      []byte
	creds     *credentials
}

// notification is one thing a body asks to show: one ProactiveMessage per target.
type notification interface {
	// render builds the message for target, with the template ConfigMap tmpl ("" for the built-in card).
	render(ctx context.Context, h *handler, target, tmpl string) (*teamsv1alpha1.ProactiveMessage, error)
	// labels are what a route matches.
	labels() map[string]string
}

// allSources are the receiver's sources, in the order they are documented.
var allSources = []*source{
	{name: SourceAlertmanager, parse: parseAlertmanager},
	{name: SourceGrafana, verify: verifyGrafana, parse: parseGrafana},
	{name: SourceFlux, verify: verifyFlux, parse: parseFlux},
	{name: SourceArgoCD, parse: parseArgoCD},
	{name: SourceGeneric, parse: parseGeneric},
	{name: SourceCloudEvents, parse: parseCloudEvents},
}

// sourceNames label the metrics' series.
var sourceNames = func() []string {
	out := make([]string, len(allSources))
	for i, s := range allSources {
		out[i] = s.name
	}
	return out
}()

// amNotification is an Alertmanager (or Grafana) group: the built-in card or the template
// ConfigMap renders it, as always.
type amNotification struct {
	p         *Payload
	namespace string
}

func (n amNotification) render(ctx context.Context, h *handler, target, tmpl string) (*teamsv1alpha1.ProactiveMessage, error) {
	return h.render(ctx, n.p, n.namespace, target, tmpl)
}

// labels of a group: its common labels (every alert has them), as Alertmanager's own routes see a group.
func (n amNotification) labels() map[string]string { return n.p.CommonLabels }

func parseAlertmanager(_ context.Context, req *request) ([]notification, error) {
	p, err := Parse(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	return []notification{amNotification{p: p, namespace: req.namespace}}, nil
}

// serveSource answers one request to src.
func (h *handler) serveSource(src *source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		receivedTotal.Inc()
		sourceReceivedTotal.WithLabelValues(src.name).Inc()
		ns, target, route := r.PathValue("namespace"), r.PathValue("target"), r.PathValue("route")
		log := h.o.Log.WithValues("source", src.name, "namespace", ns, "target", target)
		if route != "" {
			log = h.o.Log.WithValues("source", src.name, "namespace", ns, "route", route)
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
		defer cancel()
		ctx, fb := withFallbacks(ctx)
		out, err := h.handle(ctx, w, r, src, ns, target, route)
		if err != nil {
			var rej *rejection
			if !errors.As(err, &rej) {
				rej = apiRejection(err)
			}
			notificationsTotal.WithLabelValues(ResultRejected).Inc()
			rejectedTotal.WithLabelValues(rej.reason).Inc()
			sourceNotificationsTotal.WithLabelValues(src.name, ResultRejected).Inc()
			sourceRejectedTotal.WithLabelValues(src.name, rej.reason).Inc()
			log.Info("Refused a notification", "status", rej.code, "reason", rej.reason, "error", rej.message)
			h.write(w, rej)
			return
		}
		if len(fb.notes) > 0 { // a broken template: shown with the built-in, and said so
			out.Warnings = append(out.Warnings, fb.notes...)
			templateFallbacksTotal.WithLabelValues(src.name).Inc()
		}
		notificationsTotal.WithLabelValues(out.Result).Inc()
		sourceNotificationsTotal.WithLabelValues(src.name, out.Result).Inc()
		log.V(logLevel(out.Result)).Info("Handled a notification", "proactiveMessage", out.Name, "result", out.Result,
			"messages", len(out.Messages), "warnings", out.Warnings)
		writeJSON(w, http.StatusOK, *out)
	}
}

func logLevel(result string) int {
	if result == ResultUnchanged {
		return 1 // repeats are routine
	}
	return 0
}

func (h *handler) handle(ctx context.Context, w http.ResponseWriter, r *http.Request, src *source, ns, target, route string) (*response, error) {
	// Authentication comes first: until it passes, the answer is 401 or a bare 503.
	creds, err := h.authorize(ctx, r, ns)
	if err != nil {
		return nil, err
	}
	if errs := validation.IsDNS1123Subdomain(target); route == "" && len(errs) > 0 {
		return nil, reject(http.StatusBadRequest, ReasonBadPath, "target %q is not a valid name: %s", target, strings.Join(errs, "; "))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, reject(http.StatusRequestEntityTooLarge, ReasonTooLarge, "the body is larger than %d bytes", h.o.MaxBodyBytes)
		}
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "reading the body: %v", err)
	}
	if src.verify != nil {
		if err := src.verify(r, body, creds); err != nil {
			return nil, err
		}
	}
	req := &request{h: h, r: r, namespace: ns, body: body, creds: creds}
	notes, err := src.parse(ctx, req)
	if err != nil {
		return nil, err
	}
	plan := &deliveryPlan{}
	if route == "" {
		for _, n := range notes {
			plan.add(n, target)
		}
	} else if err := h.planRoute(ctx, ns, route, notes, plan); err != nil {
		return nil, err
	}
	targets, err := h.targets(ctx, ns, plan)
	if err != nil {
		return nil, err
	}
	out := &response{Warnings: plan.warnings}
	for _, d := range plan.deliveries {
		name, result, err := h.deliver(ctx, targets[d.target], d.n, r.URL.Query().Get("template"))
		if err != nil {
			return nil, err
		}
		out.add(name, result)
	}
	if len(out.Messages) < 2 {
		out.Messages = nil
	}
	if out.Result == "" { // a route sent it nowhere; the warning says so
		out.Result = ResultUnchanged
	}
	return out, nil
}

// deliveryPlan is every notification of a request with the targets it goes to.
type deliveryPlan struct {
	deliveries []routedDelivery
	warnings   []string
}

type routedDelivery struct {
	n      notification
	target string
}

func (p *deliveryPlan) add(n notification, target string) {
	p.deliveries = append(p.deliveries, routedDelivery{n: n, target: target})
}

// planRoute chooses each notification's targets with the route ConfigMap route.
func (h *handler) planRoute(ctx context.Context, ns, route string, notes []notification, plan *deliveryPlan) error {
	rt, err := h.loadRoute(ctx, ns, route)
	if err != nil {
		return err
	}
	var allowed *bool
	for _, n := range notes {
		lbls := n.labels()
		targets := rt.Targets(lbls)
		if upn := lbls[rt.PersonLabel]; rt.PersonLabel != "" && upn != "" {
			t, warning, err := h.routePerson(ctx, ns, rt.PersonLabel, upn, &allowed)
			if err != nil {
				return err
			}
			if warning != "" && !slices.Contains(plan.warnings, warning) {
				plan.warnings = append(plan.warnings, warning)
			}
			if t != "" && !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			w := "no route matched and the route has no default: nothing was sent"
			if !slices.Contains(plan.warnings, w) {
				plan.warnings = append(plan.warnings, w)
			}
		}
		for _, t := range targets {
			plan.add(n, t)
		}
	}
	if len(plan.deliveries) > maxRouteTotal {
		return reject(http.StatusRequestEntityTooLarge, ReasonTooLarge,
			"the route makes %d messages of this request, at most %d are written", len(plan.deliveries), maxRouteTotal)
	}
	return nil
}

// routePerson returns the person's target when the namespace may address people by label, or
// a warning saying why the label was ignored.
func (h *handler) routePerson(ctx context.Context, ns, label, upn string, allowed **bool) (string, string, error) {
	if !upnValue(upn) {
		return "", fmt.Sprintf("label %s is not a user principal name; ignored", label), nil
	}
	if *allowed == nil {
		ok, err := h.personAllowed(ctx, ns)
		if err != nil {
			return "", "", err
		}
		*allowed = &ok
	}
	if !**allowed {
		return "", fmt.Sprintf("label %s names a person, but this namespace may not address people by label "+
			"(the manager's --receiver-person-namespace-selector); ignored", label), nil
	}
	t, err := h.personTarget(ctx, ns, upn)
	return t, "", err
}

// targets reads every ConversationTarget of the plan once: a missing one is a 404 before anything is written.
func (h *handler) targets(ctx context.Context, ns string, plan *deliveryPlan) (map[string]*teamsv1alpha1.ConversationTarget, error) {
	out := map[string]*teamsv1alpha1.ConversationTarget{}
	for _, d := range plan.deliveries {
		if _, ok := out[d.target]; ok {
			continue
		}
		ct := &teamsv1alpha1.ConversationTarget{}
		if err := h.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: d.target}, ct); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, reject(http.StatusNotFound, ReasonTargetNotFound, "ConversationTarget %s/%s not found", ns, d.target)
			}
			return nil, err
		}
		out[d.target] = ct
	}
	return out, nil
}

// add records one message's outcome: the answer's result is the strongest (created, updated,
// unchanged), its name the first message's, and messages lists them all when there are several.
func (r *response) add(name, result string) {
	if r.Name == "" {
		r.Name = name
	}
	r.Messages = append(r.Messages, name)
	rank := map[string]int{"": 0, ResultUnchanged: 1, ResultUpdated: 2, ResultCreated: 3}
	if rank[result] > rank[r.Result] {
		r.Result = result
	}
}

// deliver renders n for the target ct and creates or edits its message.
func (h *handler) deliver(ctx context.Context, ct *teamsv1alpha1.ConversationTarget, n notification, tmpl string) (string, string, error) {
	want, err := n.render(ctx, h, ct.Name, tmpl)
	var result string
	var buttons *buttonConfig
	if err == nil && want.Labels[SourceLabel] == "" { // the buttons act on Alertmanager only
		buttons, err = h.buttonConfig(ctx, ct.Namespace)
	}
	if err == nil {
		result, err = h.upsertWithRetry(ctx, want, buttons)
	}
	if err != nil {
		h.warn(ct, err)
		return "", "", err
	}
	return want.Name, result, nil
}

// errSignature is a body whose signature is missing or wrong although the source's key is
// configured: the caller had the bearer token, so the answer may say what is wrong.
func errSignature(format string, args ...any) *rejection {
	return reject(http.StatusUnauthorized, ReasonSignature, "%s", fmt.Sprintf(format, args...))
}
