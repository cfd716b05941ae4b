package crd

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// newNamespace creates a namespace for one test, so tests never see each other's objects.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed()) })
	return ns.Name
}

// parse turns one YAML document into an unstructured object in namespace ns.
func parse(doc, ns string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed())
	obj.SetNamespace(ns)
	return obj
}

func sampleFiles() []string {
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var samples []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			samples = append(samples, f)
		}
	}
	return samples
}

var _ = Describe("config/samples", func() {
	It("has one sample for each meaningful shape", func() {
		var names []string
		for _, f := range sampleFiles() {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
		}
		Expect(names).To(ContainElements(
			"installation_team", "installation_user", "installation_chat",
			"target_user", "target_channel", "target_general", "target_chat", "target_installation",
			"message_text", "message_markdown", "message_card", "message_mention", "message_scheduled", "message_reply",
			"reachpolicy",
		))
	})

	It("are all accepted by the API server, with defaults filled in", func() {
		ns := newNamespace()
		for _, f := range sampleFiles() {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			obj := parse(string(data), ns)
			if obj.GetKind() == "ReachPolicy" { // cluster-scoped, no status
				obj.SetNamespace("")
				obj.SetName(obj.GetName() + "-" + ns)
				Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "sample %s was rejected", filepath.Base(f))
				DeferCleanup(func() { Expect(k8sClient.Delete(ctx, obj)).To(Succeed()) })
				continue
			}
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "sample %s was rejected", filepath.Base(f))

			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(obj.GroupVersionKind())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
			gen, found, err := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "%s: status.observedGeneration is not defaulted", f)
			Expect(gen).To(Equal(int64(-1)))
			expectDefaults(got)
		}
	})
})

// expectDefaults checks the defaults each kind documents.
func expectDefaults(obj *unstructured.Unstructured) {
	field := func(path ...string) string {
		v, _, err := unstructured.NestedString(obj.Object, append([]string{"spec"}, path...)...)
		Expect(err).NotTo(HaveOccurred())
		return v
	}
	switch obj.GetKind() {
	case "TeamsAppInstallation":
		Expect(field("deletionPolicy")).To(BeElementOf("Delete", "Orphan"))
		Expect(field("upgradePolicy")).To(Equal("Automatic"))
	case "ProactiveMessage":
		Expect(field("onUpdate")).To(BeElementOf("Edit", "Ignore"))
		Expect(field("deletionPolicy")).To(BeElementOf("Retain", "Delete"))
		Expect(field("deliveryGuarantee")).To(BeElementOf("AtMostOnce", "AtLeastOnce"))
		Expect(field("priority")).To(BeElementOf("High", "Normal", "Bulk"))
		if field("text") != "" {
			Expect(field("textFormat")).To(BeElementOf("markdown", "plain", "xml"))
		}
	}
}
