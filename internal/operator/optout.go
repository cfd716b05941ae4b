package operator

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/optout"
)

// The manager keeps the opt-out record in ConfigMaps of its own namespace (internal/optout): a
// Role in that namespace (the chart's opt-out-role.yaml, config/rbac/opt_out_role.yaml) grants
// get, list, watch, create and patch there only, never cluster-wide.

// OptOutOptions configure the opt-out record (docs/bot-endpoint.md).
type OptOutOptions struct {
	// Namespace holds the record (the manager's namespace); empty turns opt-outs off.
	Namespace string
	// Override selects the namespaces whose messages may set spec.ignoreOptOut; nil: none.
	Override labels.Selector
	// OptOutKeywords and OptInKeywords are what a person replies; empty: "stop" and "start".
	OptOutKeywords, OptInKeywords []string
}

// optOutCache is an informer on the record's ConfigMaps only. It runs with the manager's caches
// (GetCache), on every replica: the bot endpoint of each writes, the leader's controller reads.
type optOutCache struct{ cache.Cache }

func (c optOutCache) GetCache() cache.Cache { return c.Cache }

// setupOptOut returns the record and the ProactiveMessage controller's policy; both nil when
// opt-outs are off.
func setupOptOut(mgr ctrl.Manager, opts Options) (*optout.Store, *controller.OptOutPolicy, error) {
	o := opts.OptOut
	if o.Namespace == "" {
		return nil, nil, nil
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces:    map[string]cache.Config{o.Namespace: {}},
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{optout.LabelOptOut: "true"}),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the opt-out record's cache: %w", err)
	}
	// Registered now, so the informer starts and syncs with the manager's caches.
	if _, err := c.GetInformer(context.Background(), &corev1.ConfigMap{}); err != nil {
		return nil, nil, fmt.Errorf("watching the opt-out record: %w", err)
	}
	if err := mgr.Add(optOutCache{c}); err != nil {
		return nil, nil, err
	}
	store := &optout.Store{Namespace: o.Namespace, Reader: c, Writer: mgr.GetClient()}
	return store, &controller.OptOutPolicy{Lookup: store, Namespaces: mgr.GetClient(),
		Live: mgr.GetAPIReader(), Override: o.Override}, nil
}
