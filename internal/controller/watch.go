package controller

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// credentialsIndex indexes objects by the Secret they take credentials from, so a Secret
// event wakes exactly the objects that use it.
const credentialsIndex = ".spec.credentialsRef.name" //nolint:gosec // G101: a field path, not a credential

// defaultCredentialsKey is the index value of objects that use the manager's default credentials.
const defaultCredentialsKey = "(default)"

func credentialsKey(ref *teamsv1alpha1.LocalObjectReference) string {
	if ref == nil {
		return defaultCredentialsKey
	}
	return ref.Name
}

// secretMetadata is the type of a metadata-only Secret watch: Secret data never enters the cache.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// watchCredentials adds a metadata-only Secret watch that enqueues the objects of list's kind
// that use the Secret: those naming it in their namespace and, for the default Secret, those
// naming none.
func watchCredentials(b *builder.TypedBuilder[reconcile.Request], c client.Client, list client.ObjectList,
	defaultSecret types.NamespacedName) *builder.TypedBuilder[reconcile.Request] {
	mapFn := func(ctx context.Context, secret client.Object) []reconcile.Request {
		reqs := requestsFor(ctx, c, list, client.InNamespace(secret.GetNamespace()),
			client.MatchingFields{credentialsIndex: secret.GetName()})
		if secret.GetNamespace() == defaultSecret.Namespace && secret.GetName() == defaultSecret.Name {
			reqs = append(reqs, requestsFor(ctx, c, list, client.MatchingFields{credentialsIndex: defaultCredentialsKey})...)
		}
		return reqs
	}
	nsMapFn := func(ctx context.Context, ns client.Object) []reconcile.Request {
		return requestsFor(ctx, c, list, client.InNamespace(ns.GetName()))
	}
	return b.WatchesMetadata(secretMetadata(), handler.EnqueueRequestsFromMapFunc(mapFn)).
		WatchesMetadata(namespaceMetadata(), handler.EnqueueRequestsFromMapFunc(nsMapFn),
			builder.WithPredicates(labelsChanged()))
}

// namespaceMetadata is the type of a metadata-only Namespace watch.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

// labelsChanged passes only a change of an existing object's labels: a Namespace's labels
// decide whether its objects may use the manager's credentials, so the platform team labelling
// a namespace takes effect at once. Creations pass nothing (a new namespace has no objects yet,
// and a restart reconciles every object anyway).
func labelsChanged() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
	}
}

// requestsFor lists objects of list's kind and returns a request for each.
func requestsFor(ctx context.Context, c client.Client, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	// Handlers of different watches run at once: each call lists into its own copy.
	list = list.DeepCopyObject().(client.ObjectList)
	if err := c.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing objects to requeue")
		return nil
	}
	var reqs []reconcile.Request
	_ = metaEach(list, func(o client.Object) {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
	})
	return reqs
}
