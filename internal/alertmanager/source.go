package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// paths are the source's URL patterns (Go 1.22 ServeMux syntax).
func (s *source) paths() []string {
	return []string{"POST /" + s.name + "/v1/namespaces/{namespace}/targets/{target}"}
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
		ns, target := r.PathValue("namespace"), r.PathValue("target")
		log := h.o.Log.WithValues("source", src.name, "namespace", ns, "target", target)
		ctx, cancel := context.WithTimeout(r.Context(), h.o.Timeout)
		defer cancel()
		name, result, err := h.handle(ctx, w, r, src, ns, target)
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
		notificationsTotal.WithLabelValues(result).Inc()
		sourceNotificationsTotal.WithLabelValues(src.name, result).Inc()
		log.V(logLevel(result)).Info("Handled a notification", "proactiveMessage", name, "result", result)
		writeJSON(w, http.StatusOK, response{Result: result, Name: name})
	}
}

func logLevel(result string) int {
	if result == ResultUnchanged {
		return 1 // repeats are routine
	}
	return 0
}

func (h *handler) handle(ctx context.Context, w http.ResponseWriter, r *http.Request, src *source, ns, target string) (string, string, error) {
	// Authentication comes first: until it passes, the answer is 401 or a bare 503.
	creds, err := h.authorize(ctx, r, ns)
	if err != nil {
		return "", "", err
	}
	if errs := validation.IsDNS1123Subdomain(target); len(errs) > 0 {
		return "", "", reject(http.StatusBadRequest, ReasonBadPath, "target %q is not a valid name: %s", target, strings.Join(errs, "; "))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", "", reject(http.StatusRequestEntityTooLarge, ReasonTooLarge, "the body is larger than %d bytes", h.o.MaxBodyBytes)
		}
		return "", "", reject(http.StatusBadRequest, ReasonMalformed, "reading the body: %v", err)
	}
	if src.verify != nil {
		if err := src.verify(r, body, creds); err != nil {
			return "", "", err
		}
	}
	req := &request{h: h, r: r, namespace: ns, body: body, creds: creds}
	notes, err := src.parse(ctx, req)
	if err != nil {
		return "", "", err
	}
	ct := &teamsv1alpha1.ConversationTarget{}
	if err := h.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: target}, ct); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", reject(http.StatusNotFound, ReasonTargetNotFound, "ConversationTarget %s/%s not found", ns, target)
		}
		return "", "", err
	}
	var name, result string
	for _, n := range notes {
		name, result, err = h.deliver(ctx, ct, n, r.URL.Query().Get("template"))
		if err != nil {
			return "", "", err
		}
	}
	return name, result, nil
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
