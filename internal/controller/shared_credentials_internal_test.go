package controller

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// An object may be reconciled before the manager's cache shows the namespace it was just
// created in: the namespace is then read live, and not refused for the cache's lag.
func TestSharedCredentialsReadsANamespaceTheCacheDoesNotShowYet(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(corev1.AddToScheme(scheme)).To(Succeed())
	cache := fake.NewClientBuilder().WithScheme(scheme).Build()
	live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "new", Labels: map[string]string{"shared": "true"}}}).Build()
	selector := labels.SelectorFromSet(labels.Set{"shared": "true"})
	ctx := context.Background()

	lagging := &SharedCredentials{Namespaces: cache, Selector: selector}
	g.Expect(lagging.check(ctx, "new", "the default credentials")).To(HaveOccurred(), "without a live read the cache's miss refuses")

	shared := &SharedCredentials{Namespaces: cache, Live: live, Selector: selector}
	g.Expect(shared.check(ctx, "new", "the default credentials")).To(Succeed())
	g.Expect(shared.check(ctx, "gone", "the default credentials")).To(HaveOccurred(), "a namespace nobody has is refused")
}
