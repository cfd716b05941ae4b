package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the field manager of every write the operator makes.
const FieldOwner = client.FieldOwner("teams-operator")

// Patcher remembers an object as it was read, so that one call at the end of a reconcile
// writes only what changed: a merge patch for metadata (finalizers, annotations) and one for
// the status subresource, and nothing at all when nothing changed.
type Patcher struct {
	client client.Client
	before client.Object
}

// NewPatcher snapshots obj.
func NewPatcher(c client.Client, obj client.Object) *Patcher {
	return &Patcher{client: c, before: obj.DeepCopyObject().(client.Object)}
}

// Patch writes the changes made to obj since the snapshot (or since the last Patch), and
// takes a new snapshot. Each write goes through a copy, so a response never overwrites what
// the reconciler set in obj; obj only takes the new resourceVersion.
func (p *Patcher) Patch(ctx context.Context, obj client.Object) error {
	var errs []error
	if metadataChanged(p.before, obj) {
		if err := p.write(ctx, obj, client.MergeFrom(p.before), false); err != nil {
			errs = append(errs, err)
		} else {
			p.before = metadataWritten(p.before, obj)
		}
	}
	if statusChanged(p.before, obj) {
		errs = append(errs, p.write(ctx, obj, client.MergeFrom(p.before), true))
	}
	p.before = obj.DeepCopyObject().(client.Object)
	return errors.Join(errs...)
}

// metadataWritten is the snapshot after obj's finalizers and annotations were written: the
// next patch is computed against it, so it carries neither those fields again nor the
// resourceVersion the write moved (a merge patch with a resourceVersion is optimistically
// locked, which a status patch must not be).
func metadataWritten(before, obj client.Object) client.Object {
	cp := before.DeepCopyObject().(client.Object)
	// Copies: a caller that later changes obj's annotation map in place must still see
	// that change written by the next Patch.
	cp.SetAnnotations(maps.Clone(obj.GetAnnotations()))
	cp.SetFinalizers(slices.Clone(obj.GetFinalizers()))
	cp.SetResourceVersion(obj.GetResourceVersion())
	return cp
}

// PatchMetadataLocked persists finalizers and annotations now, failing on a concurrent change
// (optimistic lock). It is for the few writes that must land before an external side effect:
// the finalizer before the first external write, and a message's send-attempt marker. Status
// changes stay pending for the next Patch.
func (p *Patcher) PatchMetadataLocked(ctx context.Context, obj client.Object) error {
	if !metadataChanged(p.before, obj) {
		return nil
	}
	patch := client.MergeFromWithOptions(p.before, client.MergeFromWithOptimisticLock{})
	if err := p.write(ctx, obj, patch, false); err != nil {
		return err
	}
	p.before = metadataWritten(p.before, obj)
	return nil
}

func (p *Patcher) write(ctx context.Context, obj client.Object, patch client.Patch, status bool) error {
	cp := obj.DeepCopyObject().(client.Object)
	if status {
		if err := p.client.Status().Patch(ctx, cp, patch, FieldOwner); err != nil {
			return fmt.Errorf("patching status: %w", err)
		}
	} else if err := p.client.Patch(ctx, cp, patch, FieldOwner); err != nil {
		return fmt.Errorf("patching metadata: %w", err)
	}
	obj.SetResourceVersion(cp.GetResourceVersion())
	return nil
}

func metadataChanged(before, after client.Object) bool {
	return !equality.Semantic.DeepEqual(before.GetFinalizers(), after.GetFinalizers()) ||
		!equality.Semantic.DeepEqual(before.GetAnnotations(), after.GetAnnotations())
}

func statusChanged(before, after client.Object) bool {
	return !equality.Semantic.DeepEqual(statusOf(before), statusOf(after))
}

// statusOf returns the status field through the unstructured view, so it works for every kind.
func statusOf(obj client.Object) any {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil
	}
	return u["status"]
}
