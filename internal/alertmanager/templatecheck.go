package alertmanager

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	crhandler "sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Templates are checked when saved. A ConfigMap labelled TemplateLabel (its value naming the
// source whose data the templates render) is run, as soon as it is saved, the way the receiver
// runs it, on a sample of that source's payload (its own sample.json, or the built-in one from
// the source's documentation), under the same budget. What the receiver would fall back on is
// a Warning event on the ConfigMap, in its own namespace, naming the key and the error; a
// ConfigMap that works gets a Normal event. The manager watches only labelled ConfigMaps (a
// cache of its own, with that label selector) and checks one at a time.

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// TemplateLabel marks a template ConfigMap to be checked when saved; its value is the source
// whose payload the templates render: alertmanager, grafana, flux, argocd, generic, cloudevents.
const TemplateLabel = "alertmanager.teams.operator.dev/template"

// SampleKey is the optional key of a template ConfigMap holding a body to check the templates
// with, as the source sends it (for generic JSON, the only way to check with real fields).
const SampleKey = "sample.json"

// Event reasons of the check.
const (
	// TemplateInvalidReason: the ConfigMap's templates fail on the sample; the receiver uses the built-in meanwhile.
	TemplateInvalidReason = "ReceiverTemplateInvalid"
	// TemplateValidReason: the ConfigMap's templates render a valid card on the sample.
	TemplateValidReason = "ReceiverTemplateValid"
)

// maxEventNote bounds an event's note (the API server refuses more than 1 KiB).
const maxEventNote = 1000

// sampleTarget is the target name templates see when checked.
const sampleTarget = "sample-target"

// CheckTemplates runs the templates of cm as the receiver would run them for the source its
// TemplateLabel names, on its sample.json or the source's built-in sample, and returns every
// problem the receiver would fall back on (nil: the templates work on the sample).
func CheckTemplates(cm *corev1.ConfigMap, lim Limits) []string {
	src := cm.Labels[TemplateLabel]
	if !slices.Contains(sourceNames, src) {
		return []string{fmt.Sprintf("label %s must name a source (%s), not %q",
			TemplateLabel, strings.Join(sourceNames, ", "), truncate(src, 64))}
	}
	body := []byte(builtinSamples[src])
	if s, ok := cm.Data[SampleKey]; ok {
		if len(s) > DefaultMaxBodyBytes {
			return []string{fmt.Sprintf("%s is %d bytes, more than %d", SampleKey, len(s), DefaultMaxBodyBytes)}
		}
		body = []byte(s)
	}
	ctx, fb := withFallbacks(context.Background())
	where := templateWhere(cm.Namespace, cm.Name)
	if err := checkSample(ctx, src, where, cm, body, lim); err != nil {
		return []string{fmt.Sprintf("%s: %v", SampleKey, err)}
	}
	out := make([]string, len(fb.notes))
	for i, n := range fb.notes {
		out[i] = strings.TrimPrefix(strings.TrimPrefix(n, where+": "), where+" ")
	}
	return out
}

// checkSample renders body as source src would with cm's templates; an error is a bad sample.
func checkSample(ctx context.Context, src, where string, cm *corev1.ConfigMap, body []byte, lim Limits) error {
	var data any
	var builtin func() (*teamsv1alpha1.AdaptiveCard, error)
	var gt *genericTemplates
	switch src {
	case SourceAlertmanager, SourceGrafana:
		p, err := Parse(body)
		if src == SourceGrafana {
			var gp *GrafanaPayload
			if gp, err = ParseGrafana(body); err == nil {
				p = &gp.Payload
			}
		}
		if err != nil {
			return err
		}
		v := NewView(p, cm.Namespace, sampleTarget, lim)
		data, builtin = v, func() (*teamsv1alpha1.AdaptiveCard, error) { return BuiltinCard(v, lim) }
		gt = parseTemplateSet(ctx, where, cm.Data, false)
	default:
		n, err := sampleNotice(src, cm.Namespace, body)
		if err != nil {
			return err
		}
		if src == SourceGeneric || src == SourceCloudEvents {
			gt = parseTemplateSet(ctx, where, cm.Data, true)
			n = templatedNotice(ctx, lim, *n, gt)
		} else {
			gt = parseTemplateSet(ctx, where, cm.Data, false)
		}
		n.Target = sampleTarget
		n.clamp(lim)
		data, builtin = n, func() (*teamsv1alpha1.AdaptiveCard, error) { return NoticeCard(n) }
	}
	_, err := renderOrBuiltin(ctx, where, gt.card, data, lim, builtin)
	return err
}

// sampleNotice is the notice sources other than Alertmanager and Grafana make of body, before
// any key, status or title template runs.
func sampleNotice(src, ns string, body []byte) (*Notice, error) {
	var n Notice
	switch src {
	case SourceFlux:
		e, err := ParseFlux(body)
		if err != nil {
			return nil, err
		}
		data, _ := decodeAny(body) // decoded already by ParseFlux
		n = FluxNotice(e)
		n.Data = data
	case SourceArgoCD:
		p, err := ParseArgoCD(body)
		if err != nil {
			return nil, err
		}
		n = ArgoCDNotice(p)
		n.Data = p
	case SourceGeneric:
		data, err := decodeAny(body)
		if err != nil {
			return nil, err
		}
		n = genericNotice(ns, data, body)
	case SourceCloudEvents:
		r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/cloudevents+json")
		evs, err := ParseCloudEvents(r, body)
		if err != nil {
			return nil, err
		}
		n = CloudEventNotice(&evs[0]) // a batch's first event; a single event in structured mode
		n.Data = &evs[0]
	}
	n.Namespace = ns
	return &n, nil
}

// templateChecker records the result of CheckTemplates on each labelled ConfigMap when it changes.
type templateChecker struct {
	reader   client.Reader
	recorder events.EventRecorder
	lim      Limits

	mu sync.Mutex
	// checked is the resourceVersion last checked per ConfigMap, so a resync records nothing again.
	checked map[types.NamespacedName]string
}

func (c *templateChecker) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cm := &corev1.ConfigMap{}
	if err := c.reader.Get(ctx, req.NamespacedName, cm); err != nil {
		if apierrors.IsNotFound(err) {
			c.mu.Lock()
			delete(c.checked, req.NamespacedName)
			c.mu.Unlock()
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	c.mu.Lock()
	done := c.checked[req.NamespacedName] == cm.ResourceVersion
	c.mu.Unlock()
	if done {
		return reconcile.Result{}, nil
	}
	if problems := CheckTemplates(cm, c.lim); len(problems) > 0 {
		c.recorder.Eventf(cm, nil, corev1.EventTypeWarning, TemplateInvalidReason, "Check",
			"%s", truncate(strings.Join(problems, "; "), maxEventNote))
	} else {
		c.recorder.Eventf(cm, nil, corev1.EventTypeNormal, TemplateValidReason, "Check",
			"The templates render a valid card for the %s sample; the receiver uses them", cm.Labels[TemplateLabel])
	}
	c.mu.Lock()
	c.checked[req.NamespacedName] = cm.ResourceVersion
	c.mu.Unlock()
	return reconcile.Result{}, nil
}

// templateCache is the labelled ConfigMaps' informer, started with the manager's caches.
type templateCache struct{ cache.Cache }

func (c templateCache) GetCache() cache.Cache { return c.Cache }

// AddTemplateCheck checks template ConfigMaps when saved (on the leader: one event per save).
func AddTemplateCheck(mgr ctrl.Manager, lim Limits) error {
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	marked, err := labels.NewRequirement(TemplateLabel, selection.Exists, nil)
	if err != nil {
		return err
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultLabelSelector: labels.NewSelector().Add(*marked),
		DefaultTransform:     cache.TransformStripManagedFields(),
	})
	if err != nil {
		return fmt.Errorf("creating the template ConfigMaps' cache: %w", err)
	}
	if err := mgr.Add(templateCache{c}); err != nil {
		return err
	}
	checker := &templateChecker{reader: c, recorder: mgr.GetEventRecorder("receiver-templates"), lim: lim,
		checked: map[types.NamespacedName]string{}}
	return ctrl.NewControllerManagedBy(mgr).Named("receiver-templates").
		WatchesRawSource(crsource.Kind(c, &corev1.ConfigMap{}, &crhandler.TypedEnqueueRequestForObject[*corev1.ConfigMap]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(checker)
}
