package alertmanager

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// RBAC of the receiver: it creates, edits and (when a resolved group fires again) replaces
// ProactiveMessages, reads ConversationTargets, its token Secrets and template ConfigMaps.
// +kubebuilder:rbac:groups=teams.operator.dev,resources=proactivemessages,verbs=get;create;update;delete
// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets,verbs=get
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get

// Path is the receiver's URL pattern (Go 1.22 ServeMux syntax).
const Path = "POST /alertmanager/v1/namespaces/{namespace}/targets/{target}"

// Defaults of Options.
const (
	DefaultTokenSecret  = "alertmanager-webhook"
	TokenKey            = "token"
	TemplateKey         = "card.tmpl"
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 10 * time.Second
	DefaultResolvedTTL  = 24 * time.Hour
	fieldOwner          = "teams-operator-alertmanager"
)

// Options configure the receiver.
type Options struct {
	// Reader reads from the API server directly (the manager's APIReader): a notification is
	// rare, and an uncached read of a Secret does not make the manager cache every Secret.
	Reader client.Reader
	// Writer creates and updates ProactiveMessages.
	Writer client.Client
	// TokenSecret is the Secret, in the namespace of the URL, whose key "token" is the bearer token.
	TokenSecret string
	// ResolvedTTL is ttlAfterFinished of a resolved group's message; zero keeps it.
	ResolvedTTL time.Duration
	// Limits cap the card.
	Limits Limits
	// MaxBodyBytes caps the request body (413 above it).
	MaxBodyBytes int64
	// Timeout bounds the API server calls of one request (503 when it passes).
	Timeout time.Duration
	// Log is the receiver's logger.
	Log logr.Logger
	// Recorder, when set, records a Warning event on the ConversationTarget when a notification
	// for it is refused for its configuration (a bad template, a card the API server refuses),
	// so the target's owners see it with kubectl describe.
	Recorder events.EventRecorder
	// Metadata reads Secret metadata from the manager's cache (a metadata-only informer), so an
	// unauthenticated request costs no API call: the token's value is read again only when its
	// Secret's version changes. nil: Reader.
	Metadata client.Reader
	// MaxInFlight caps the requests handled at once, and RatePerSecond (with a burst of twice
	// that) the requests accepted; beyond either, a bare 503 with Retry-After.
	MaxInFlight   int
	RatePerSecond float64
	// Buttons adds the card's Acknowledge and Silence buttons where the namespace names its
	// Alertmanager (Secret APISecret): on when the bot endpoint, which receives the presses, runs.
	Buttons bool
	// APISecret is the name of each namespace's Alertmanager Secret (DefaultAPISecret).
	APISecret string
	// PersonNamespaces selects the namespaces whose routes may address a person named in a label
	// (personLabel); nil or empty: none.
	PersonNamespaces labels.Selector
	// Now is the clock (tests).
	Now func() time.Time
}

// Defaults of the request caps: far above what Alertmanager sends (a few notifications per
// group_interval), far below what would load the API server.
const (
	DefaultMaxInFlight   = 32
	DefaultRatePerSecond = 50
)

// RejectedReason is the event reason of a notification refused for the target's configuration.
const RejectedReason = "AlertmanagerNotificationRejected"

func (o Options) withDefaults() Options {
	if o.TokenSecret == "" {
		o.TokenSecret = DefaultTokenSecret
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log.GetSink() == nil {
		o.Log = ctrl.Log.WithName("alertmanager")
	}
	if o.Metadata == nil {
		o.Metadata = o.Reader
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = DefaultRatePerSecond
	}
	if o.APISecret == "" {
		o.APISecret = DefaultAPISecret
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// NewHandler returns the receiver's http.Handler. Every other path or method gets 401: before
// authentication the receiver answers nothing else but a bare 503.
func NewHandler(o Options) http.Handler {
	o = o.withDefaults()
	h := &handler{o: o, inFlight: make(chan struct{}, o.MaxInFlight),
		limiter: rate.NewLimiter(rate.Limit(o.RatePerSecond), max(1, int(2*o.RatePerSecond)))}
	mux := http.NewServeMux()
	for _, src := range allSources {
		for _, p := range src.paths() {
			mux.HandleFunc(p, h.serveSource(src))
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { h.refuse(w, errDenied()) })
	return h.capped(mux)
}

type handler struct {
	o        Options
	inFlight chan struct{}
	limiter  *rate.Limiter
	tokens   tokenCache
}

// capped refuses, with a bare 503, requests over the rate or over MaxInFlight at once.
func (h *handler) capped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.limiter.Allow() {
			h.refuse(w, errBusy())
			return
		}
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
			next.ServeHTTP(w, r)
		default:
			h.refuse(w, errBusy())
		}
	})
}

// response is the JSON body of every answer; Alertmanager logs it when the status is not 2xx.
type response struct {
	Result  string `json:"result"`
	Reason  string `json:"reason,omitempty"`
	Name    string `json:"name,omitempty"`
	Message string `json:"message,omitempty"`
	// Messages are every message a request wrote or found (routes, batches), when more than one.
	Messages []string `json:"messages,omitempty"`
	// Warnings say what a route ignored (a label naming a person where that is not allowed).
	Warnings []string `json:"warnings,omitempty"`
}

// rejection is a refused notification: its HTTP status, metric reason and a message for the sender.
type rejection struct {
	code    int
	reason  string
	message string
}

func (e *rejection) Error() string { return e.message }

func reject(code int, reason, format string, args ...any) *rejection {
	return &rejection{code: code, reason: reason, message: fmt.Sprintf(format, args...)}
}

// errDenied is every authentication failure: one answer, so a caller learns nothing about
// which namespaces, Secrets or paths exist.
func errDenied() *rejection {
	return reject(http.StatusUnauthorized, ReasonUnauthorized, "a valid bearer token is required")
}

// errBusy is the bare 503 of a request that could not be authenticated now: no API server
// text, names or URLs before authentication.
func errBusy() *rejection {
	return &rejection{code: http.StatusServiceUnavailable, reason: ReasonUnavailable}
}

// refuse answers a rejection that happened before authentication.
func (h *handler) refuse(w http.ResponseWriter, rej *rejection) {
	receivedTotal.Inc()
	notificationsTotal.WithLabelValues(ResultRejected).Inc()
	rejectedTotal.WithLabelValues(rej.reason).Inc()
	h.write(w, rej)
}

func (h *handler) write(w http.ResponseWriter, rej *rejection) {
	switch rej.code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="teams-operator"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, rej.code, response{Result: ResultRejected, Reason: rej.reason, Message: rej.message})
}

// warn records a configuration error (422) on the target; other failures are the operator's or
// the API server's, and the log and metrics have them.
func (h *handler) warn(ct *teamsv1alpha1.ConversationTarget, err error) {
	var rej *rejection
	if !errors.As(err, &rej) {
		rej = apiRejection(err)
	}
	if h.o.Recorder != nil && rej.code == http.StatusUnprocessableEntity {
		h.o.Recorder.Eventf(ct, nil, corev1.EventTypeWarning, RejectedReason, "Render",
			"Refused an Alertmanager notification: %s", rej.message)
	}
}

// authorize compares the bearer token with the namespace's token Secret and returns the
// namespace's credentials (the token and the optional signing keys of the sources). Every
// failure is the same 401, and an API server that cannot answer a bare 503, so a caller learns
// nothing about which namespaces or Secrets exist. The Secret's metadata comes from the
// manager's cache and its value is read only when its version changed, so unauthenticated
// requests cost no API call.
func (h *handler) authorize(ctx context.Context, r *http.Request, ns string) (*credentials, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(validation.IsDNS1123Label(ns)) > 0 {
		return nil, errDenied()
	}
	key := client.ObjectKey{Namespace: ns, Name: h.o.TokenSecret}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := h.o.Metadata.Get(ctx, key, meta); err != nil {
		return nil, h.authError(err)
	}
	creds, ok := h.tokens.get(key, meta)
	if !ok {
		secret := &corev1.Secret{}
		if err := h.o.Reader.Get(ctx, key, secret); err != nil {
			return nil, h.authError(err)
		}
		creds = credentialsOf(secret)
		h.tokens.put(key, secret, creds)
	}
	if len(creds.token) == 0 || subtle.ConstantTimeCompare([]byte(token), creds.token) != 1 {
		return nil, errDenied()
	}
	return creds, nil
}

// authError: a Secret that is not there, or not readable (a namespace outside the manager's
// Secret scope), is a 401; anything else a bare 503. The log has the details.
func (h *handler) authError(err error) error {
	// "unknown namespace": the manager's Secret cache does not cover it (--secret-namespaces).
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || strings.Contains(err.Error(), "unknown namespace") {
		return errDenied()
	}
	h.o.Log.Info("Cannot read the token Secret", "error", err.Error())
	return errBusy()
}

// credentials are what a namespace's token Secret holds for the receiver: the bearer token
// every source must send, and the signing keys of the sources that sign their bodies.
type credentials struct {
	token []byte
	// keys are the signing keys by Secret key (GrafanaHMACKey, FluxHMACKey); absent: not checked.
	keys map[string][]byte
}

// credentialsOf keeps only the keys the receiver uses, so the cache holds nothing else of the Secret.
func credentialsOf(s *corev1.Secret) *credentials {
	// A Secret made from a file often ends with a newline; Alertmanager trims its credentials file too.
	c := &credentials{token: bytes.Clone(bytes.TrimSpace(s.Data[TokenKey])), keys: map[string][]byte{}}
	for _, k := range signingKeys {
		if v := bytes.TrimSpace(s.Data[k]); len(v) > 0 {
			c.keys[k] = bytes.Clone(v)
		}
	}
	return c
}

// tokenCache keeps each namespace's credentials with its Secret's uid and version.
type tokenCache struct {
	mu sync.Mutex
	m  map[client.ObjectKey]cachedToken
}

type cachedToken struct {
	uid             types.UID
	resourceVersion string
	creds           *credentials
}

func (c *tokenCache) get(key client.ObjectKey, meta *metav1.PartialObjectMetadata) (*credentials, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	if !ok || t.uid != meta.UID || t.resourceVersion != meta.ResourceVersion {
		return nil, false
	}
	return t.creds, true
}

func (c *tokenCache) put(key client.ObjectKey, s *corev1.Secret, creds *credentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[client.ObjectKey]cachedToken{}
	}
	c.m[key] = cachedToken{uid: s.UID, resourceVersion: s.ResourceVersion, creds: creds}
}

// render builds the group's message with the built-in card or the template in ConfigMap tmpl.
func (h *handler) render(ctx context.Context, p *Payload, ns, target, tmpl string) (*teamsv1alpha1.ProactiveMessage, error) {
	v := NewView(p, ns, target, h.o.Limits)
	card, err := h.renderCard(ctx, ns, tmpl, v, func() (*teamsv1alpha1.AdaptiveCard, error) { return BuiltinCard(v, h.o.Limits) })
	if err != nil {
		return nil, err
	}
	return Message(v, card, tmpl, h.o.ResolvedTTL), nil
}

// renderCard renders data with the template in ConfigMap tmpl of ns, or with builtin when tmpl
// is "" or its template is broken (noted in the answer's warnings).
func (h *handler) renderCard(ctx context.Context, ns, tmpl string, data any,
	builtin func() (*teamsv1alpha1.AdaptiveCard, error)) (*teamsv1alpha1.AdaptiveCard, error) {
	if tmpl == "" {
		return renderOrBuiltin(ctx, "", nil, data, h.o.Limits, builtin)
	}
	cm, err := h.templateConfigMap(ctx, ns, tmpl)
	if err != nil {
		return nil, err
	}
	gt := parseTemplateSet(ctx, templateWhere(ns, tmpl), cm.Data, false)
	return renderOrBuiltin(ctx, gt.where, gt.card, data, h.o.Limits, builtin)
}

// upsertWithRetry retries a write that lost a race (another replica, the controller) with
// client-go's conflict backoff: each attempt reads again, so the last one decides on fresh state.
func (h *handler) upsertWithRetry(ctx context.Context, want *teamsv1alpha1.ProactiveMessage, buttons *buttonConfig) (string, error) {
	var result string
	lostRace := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(retry.DefaultRetry, lostRace, func() error {
		var err error
		result, err = h.upsert(ctx, want.DeepCopy(), buttons)
		return err
	})
	if err != nil {
		return "", err
	}
	return result, nil
}

func (h *handler) upsert(ctx context.Context, want *teamsv1alpha1.ProactiveMessage, buttons *buttonConfig) (string, error) {
	have := &teamsv1alpha1.ProactiveMessage{}
	err := h.o.Reader.Get(ctx, client.ObjectKeyFromObject(want), have)
	switch {
	case apierrors.IsNotFound(err):
		h.addSection(want, ActionState{}, buttons)
		return ResultCreated, h.o.Writer.Create(ctx, want.DeepCopy(), client.FieldOwner(fieldOwner))
	case err != nil:
		return "", err
	case !have.DeletionTimestamp.IsZero():
		return "", reject(http.StatusServiceUnavailable, ReasonUnavailable,
			"ProactiveMessage %s/%s is being deleted; retry", have.Namespace, have.Name)
	case !createdByReceiver(have, want):
		// The name is the group's, but the object is someone else's: never overwrite or delete it.
		return "", reject(http.StatusConflict, ReasonConflict,
			"ProactiveMessage %s/%s exists and was not created by the receiver for this alert group; delete or rename it",
			have.Namespace, have.Name)
	case have.Labels[StatusLabel] == StatusResolved && want.Labels[StatusLabel] == StatusFiring:
		// The group fired again after it resolved: a new Teams message, so people are notified,
		// rather than an edit of the old one. The old message stays in Teams.
		uid, rv := have.UID, have.ResourceVersion
		err := h.o.Writer.Delete(ctx, have, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		if client.IgnoreNotFound(err) != nil {
			return "", err
		}
		h.addSection(want, ActionState{}, buttons) // a new incident: nobody acted on it yet
		return ResultCreated, h.o.Writer.Create(ctx, want.DeepCopy(), client.FieldOwner(fieldOwner))
	}
	// What people did with the card stays on it when the group changes.
	h.addSection(want, stateOf(have.Annotations), buttons)
	if !apply(have, want) {
		return ResultUnchanged, nil
	}
	return ResultUpdated, h.o.Writer.Update(ctx, have, client.FieldOwner(fieldOwner))
}

// createdByReceiver reports whether have is the receiver's message for want's group: the
// receiver's label and group key and, where the API server records them, a write by the
// receiver's field manager.
func createdByReceiver(have, want *teamsv1alpha1.ProactiveMessage) bool {
	if have.Labels[ManagedByLabel] != ManagedByValue || have.Annotations[GroupKeyAnnotation] != want.Annotations[GroupKeyAnnotation] {
		return false
	}
	if len(have.ManagedFields) == 0 {
		return true // a client that does not record them (tests); the API server always does
	}
	for _, f := range have.ManagedFields {
		if f.Manager == fieldOwner {
			return true
		}
	}
	return false
}

// apiRejection maps an API server error: the object was refused (422), the manager lacks a
// permission (500), anything else means the API server could not answer now (503), so
// Alertmanager retries.
func apiRejection(err error) *rejection {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return reject(http.StatusUnprocessableEntity, ReasonInvalid, "the API server refused the ProactiveMessage: %v", err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return reject(http.StatusInternalServerError, ReasonInternal,
			"the operator is not allowed to do this (check its RBAC): %v", err)
	case errors.Is(err, ErrTemplate):
		return reject(http.StatusUnprocessableEntity, ReasonTemplate, "%v", err)
	default:
		return reject(http.StatusServiceUnavailable, ReasonUnavailable, "the Kubernetes API server is unavailable: %v", err)
	}
}

func writeJSON(w http.ResponseWriter, code int, body response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// buttonConfig is what the card's buttons depend on: nil when they are off.
type buttonConfig struct {
	cfg *APIConfig
	err error
}

// buttonConfig reads the namespace's Alertmanager Secret when the buttons are on. A Secret that
// is wrong turns the buttons off with a note on the card; an API server that cannot answer is a
// 503, so Alertmanager retries.
func (h *handler) buttonConfig(ctx context.Context, ns string) (*buttonConfig, error) {
	if !h.o.Buttons {
		return nil, nil
	}
	cfg, err := LoadAPIConfig(ctx, h.o.Metadata, h.o.Reader, ns, h.o.APISecret)
	switch {
	case err == nil, errors.Is(err, ErrNoAPIConfig):
	case isConfigError(err):
		h.o.Log.Info("The namespace's Alertmanager Secret is invalid; the card has no buttons", "namespace", ns, "error", err.Error())
	default:
		return nil, err
	}
	return &buttonConfig{cfg: cfg, err: err}, nil
}

// addSection puts the actions element (state and buttons) on want's card.
func (h *handler) addSection(want *teamsv1alpha1.ProactiveMessage, s ActionState, b *buttonConfig) {
	if b == nil && s == (ActionState{}) {
		return
	}
	var sec *section
	if b == nil {
		sec = actionsSection(want, s, nil, ErrNoAPIConfig, false, h.o.Now())
	} else {
		sec = actionsSection(want, s, b.cfg, b.err, true, h.o.Now())
	}
	card := withSection(want.Spec.AdaptiveCard, sec.element())
	if checkCard(card) == nil { // a custom card with no room left keeps its own content
		want.Spec.AdaptiveCard = card
	}
}
