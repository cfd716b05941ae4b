package status

import (
	"context"
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// recordedPatch is one write the Patcher made: to the object or to its status.
type recordedPatch struct {
	status bool
	body   string
}

// patchRig is a fake API server that records every patch body, and can refuse metadata writes.
type patchRig struct {
	client  client.Client
	patches []recordedPatch
	refuse  error
}

func newPatchRig(t *testing.T, obj client.Object) *patchRig {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := teamsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rig := &patchRig{}
	record := func(status bool, obj client.Object, patch client.Patch) {
		body, _ := patch.Data(obj)
		rig.patches = append(rig.patches, recordedPatch{status: status, body: string(body)})
	}
	rig.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(obj).WithStatusSubresource(obj).
		WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				record(false, obj, patch)
				if rig.refuse != nil {
					return rig.refuse
				}
				return c.Patch(ctx, obj, patch, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				record(true, obj, patch)
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	return rig
}

// fetch reads obj back as the reconciler would.
func (r *patchRig) fetch(t *testing.T, name string) *teamsv1alpha1.ConversationTarget {
	t.Helper()
	got := &teamsv1alpha1.ConversationTarget{}
	if err := r.client.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func seedTarget() *teamsv1alpha1.ConversationTarget {
	return &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "t", Generation: 1}}
}

func TestPatchWritesNothingWhenNothingChanged(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	g.Expect(NewPatcher(rig.client, obj).Patch(context.Background(), obj)).To(Succeed())
	g.Expect(rig.patches).To(BeEmpty())
}

func TestPatchWritesOnlyStatusWhenOnlyStatusChanged(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	p := NewPatcher(rig.client, obj)
	obj.Status.ConversationID = "c1"
	g.Expect(p.Patch(context.Background(), obj)).To(Succeed())
	g.Expect(rig.patches).To(HaveLen(1))
	g.Expect(rig.patches[0].status).To(BeTrue())
	g.Expect(rig.patches[0].body).NotTo(ContainSubstring("resourceVersion"), "a status merge patch is not locked")
	g.Expect(rig.fetch(t, "t").Status.ConversationID).To(Equal("c1"))
}

// The fault issue 16 found: after the metadata write moved resourceVersion, the status patch
// was computed against the old snapshot and carried the new resourceVersion, so a concurrent
// writer made it fail with a conflict.
func TestStatusPatchIsNotLockedWhenMetadataChangedToo(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	p := NewPatcher(rig.client, obj)
	obj.SetAnnotations(map[string]string{"a": "1"})
	obj.SetFinalizers([]string{teamsv1alpha1.Finalizer})
	obj.Status.ConversationID = "c1"
	g.Expect(p.Patch(context.Background(), obj)).To(Succeed())

	g.Expect(rig.patches).To(HaveLen(2))
	g.Expect(rig.patches[0].status).To(BeFalse())
	g.Expect(rig.patches[1].status).To(BeTrue())
	g.Expect(rig.patches[1].body).NotTo(ContainSubstring("resourceVersion"))
	g.Expect(rig.patches[1].body).NotTo(ContainSubstring("finalizers"), "metadata is written once")
	got := rig.fetch(t, "t")
	g.Expect(got.Annotations).To(HaveKeyWithValue("a", "1"))
	g.Expect(got.Status.ConversationID).To(Equal("c1"))
	g.Expect(obj.ResourceVersion).To(Equal(got.ResourceVersion), "obj takes the latest resourceVersion")
}

func TestStatusIsWrittenWhenTheMetadataWriteFails(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	p := NewPatcher(rig.client, obj)
	rig.refuse = errors.New("API server away")
	obj.SetAnnotations(map[string]string{"a": "1"})
	obj.Status.ConversationID = "c1"
	err := p.Patch(context.Background(), obj)
	g.Expect(err).To(MatchError(ContainSubstring("patching metadata")))
	g.Expect(rig.fetch(t, "t").Status.ConversationID).To(Equal("c1"))
	g.Expect(rig.patches[len(rig.patches)-1].body).NotTo(ContainSubstring("resourceVersion"))
}

func TestPatchMetadataLockedIsLockedAndLeavesStatusPending(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	p := NewPatcher(rig.client, obj)
	obj.SetAnnotations(map[string]string{"marker": "1"})
	obj.Status.ConversationID = "c1"
	g.Expect(p.PatchMetadataLocked(context.Background(), obj)).To(Succeed())
	g.Expect(rig.patches).To(HaveLen(1))
	g.Expect(rig.patches[0].body).To(ContainSubstring("resourceVersion"), "the marker write is locked")
	g.Expect(rig.fetch(t, "t").Status.ConversationID).To(BeEmpty(), "status waits for Patch")

	// The annotation map changed in place after the locked write must still be written.
	obj.Annotations["marker"] = "2"
	g.Expect(p.Patch(context.Background(), obj)).To(Succeed())
	got := rig.fetch(t, "t")
	g.Expect(got.Annotations).To(HaveKeyWithValue("marker", "2"))
	g.Expect(got.Status.ConversationID).To(Equal("c1"))
	for _, w := range rig.patches[1:] {
		g.Expect(w.body).NotTo(ContainSubstring("resourceVersion"), w.body)
	}
}

func TestPatchMetadataLockedFailsOnAConcurrentChange(t *testing.T) {
	g := NewWithT(t)
	rig := newPatchRig(t, seedTarget())
	obj := rig.fetch(t, "t")
	other := rig.fetch(t, "t")
	other.SetLabels(map[string]string{"x": "y"})
	g.Expect(rig.client.Update(context.Background(), other)).To(Succeed())

	p := NewPatcher(rig.client, obj)
	obj.SetAnnotations(map[string]string{"marker": "1"})
	err := p.PatchMetadataLocked(context.Background(), obj)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
	g.Expect(strings.Contains(err.Error(), "patching metadata")).To(BeTrue())
}
