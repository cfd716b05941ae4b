package alertmanager

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestTemplateCheckOnSave runs the check in a manager against a real API server: a labelled
// template ConfigMap that fails gets a Warning event naming the key and the error as soon as it
// is saved, in its own namespace; fixed, it gets a Normal event; an unlabelled ConfigMap is not
// even watched.
func TestTemplateCheckOnSave(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or set it to the directory with kube-apiserver and etcd")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	scheme := testScheme(t)
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range []string{"monitoring", "other"} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	// Saved before the manager starts, broken, and not labelled: never checked.
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "unmarked"},
		Data: map[string]string{TemplateKey: `{{ .Status `}})).To(Succeed())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(AddTemplateCheck(mgr, Limits{})).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	})

	eventsOf := func(ns, name string) func(g Gomega) []eventsv1.Event {
		return func(g Gomega) []eventsv1.Event {
			list := &eventsv1.EventList{}
			g.Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			var out []eventsv1.Event
			for _, e := range list.Items {
				if e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == name {
					out = append(out, e)
				}
			}
			return out
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "oncall-card",
		Labels: map[string]string{TemplateLabel: SourceAlertmanager}},
		Data: map[string]string{TemplateKey: `{{ range 1000000000 }}x{{ end }}`}}
	g.Expect(k8s.Create(ctx, cm)).To(Succeed())
	g.Eventually(eventsOf("monitoring", "oncall-card")).WithTimeout(time.Minute).Should(ContainElement(And(
		HaveField("Type", corev1.EventTypeWarning), HaveField("Reason", TemplateInvalidReason),
		HaveField("Note", And(HavePrefix("card.tmpl: card template: the template exceeds its budget"),
			HaveSuffix("the built-in card was used"))))))

	cm.Data[TemplateKey] = customTemplate
	g.Expect(k8s.Update(ctx, cm)).To(Succeed())
	g.Eventually(eventsOf("monitoring", "oncall-card")).WithTimeout(time.Minute).Should(ContainElement(And(
		HaveField("Type", corev1.EventTypeNormal), HaveField("Reason", TemplateValidReason))))

	// Both events are the ConfigMap's namespace's only; the unmarked ConfigMap has none.
	g.Expect(eventsOf("other", "oncall-card")(g)).To(BeEmpty())
	g.Expect(eventsOf("other", "unmarked")(g)).To(BeEmpty())
}
