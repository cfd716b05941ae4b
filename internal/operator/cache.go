package operator

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

// LastAppliedAnnotation is kubectl's copy of the whole object as last applied: for a Secret it
// holds the Secret's values, for a ProactiveMessage a second copy of its content.
const LastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// CacheTransform is the manager cache's DefaultTransform. It keeps out of memory what the
// operator never reads and a namespace could make large or secret:
//   - managedFields (a large share of the cache at scale, docs/performance.md);
//   - kubectl's last-applied-configuration annotation, on every kind: on a Secret it holds the
//     values, which must not sit in a metadata cache; elsewhere it doubles the object;
//   - every annotation of a Secret (the operator reads only a Secret's uid, version and labels);
//   - a ProactiveMessage's card larger than Teams accepts: such a card can never be sent, and
//     90 messages of 1 MiB filled the chart's memory limit. The cache keeps an empty card and
//     CardDroppedAnnotation, and the message fails with MessageTooLarge.
//
// And it keeps one copy of the strings many objects repeat (cache_intern.go).
func CacheTransform() toolscache.TransformFunc {
	stripManagedFields := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := stripManagedFields(in)
		if err != nil {
			return out, err
		}
		obj, ok := out.(metav1.Object)
		if !ok {
			return out, nil
		}
		if isSecret(out) {
			obj.SetAnnotations(nil)
			return out, nil
		}
		if a := obj.GetAnnotations(); a != nil {
			if _, ok := a[LastAppliedAnnotation]; ok {
				delete(a, LastAppliedAnnotation)
				obj.SetAnnotations(a)
			}
		}
		internMeta(obj)
		if m, ok := out.(*teamsv1alpha1.ProactiveMessage); ok {
			dropOversizedCard(m)
			internMessage(m)
		}
		return out, nil
	}
}

func isSecret(obj any) bool {
	switch o := obj.(type) {
	case *corev1.Secret:
		return true
	case *metav1.PartialObjectMetadata:
		return o.Kind == "Secret" && (o.APIVersion == "v1" || o.APIVersion == "")
	}
	return false
}

// dropOversizedCard replaces a card whose JSON alone is over what Teams accepts with an empty
// one, and records its size in CardDroppedAnnotation.
func dropOversizedCard(m *teamsv1alpha1.ProactiveMessage) {
	card := m.Spec.AdaptiveCard
	if card == nil {
		return
	}
	n := CardBytes(card)
	if n <= delivery.MaxActivityBytes {
		return
	}
	m.Spec.AdaptiveCard = &teamsv1alpha1.AdaptiveCard{Type: card.Type, Version: card.Version}
	a := m.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[teamsv1alpha1.CardDroppedAnnotation] = strconv.Itoa(n)
	m.SetAnnotations(a)
}

// CardBytes is a lower bound of the card's JSON size, without encoding it: the sum of its
// free-form parts and strings. The activity that carries the card is larger still.
func CardBytes(c *teamsv1alpha1.AdaptiveCard) int {
	n := len(c.Schema) + len(c.FallbackText) + len(c.Speak) + len(c.MinHeight) + len(c.Lang)
	for _, j := range c.Body {
		n += len(j.Raw)
	}
	for _, j := range c.Actions {
		n += len(j.Raw)
	}
	for _, j := range []*apiextensionsv1.JSON{c.SelectAction, c.BackgroundImage, c.Refresh, c.Authentication, c.Metadata, c.MSTeams} {
		if j != nil {
			n += len(j.Raw)
		}
	}
	return n
}
