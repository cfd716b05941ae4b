// Package status holds the small helpers every reconciler uses to keep kstatus-compatible
// conditions and to write status once per reconcile.
package status

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// maxMessageLength keeps condition messages well inside the API's 32 KiB limit.
const maxMessageLength = 4096

// Object is a kind of ours: a client.Object with conditions and an observed generation.
type Object interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// set records one condition with the object's generation. LastTransitionTime moves only when
// the status flips (meta.SetStatusCondition), and is truncated to seconds as the API stores it.
func set(obj Object, condType string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            trim(message),
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second)),
	})
	obj.SetConditions(conds)
}

func remove(obj Object, condType string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, condType)
	obj.SetConditions(conds)
}

// MarkReady says the external state matches this generation.
func MarkReady(obj Object, reason, message string) {
	set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionTrue, reason, message)
	remove(obj, teamsv1alpha1.ReconcilingCondition)
	remove(obj, teamsv1alpha1.StalledCondition)
}

// MarkProgressing says the operator is working towards Ready and will retry by itself.
func MarkProgressing(obj Object, reason, message string) {
	set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, message)
	set(obj, teamsv1alpha1.ReconcilingCondition, metav1.ConditionTrue, reason, message)
	remove(obj, teamsv1alpha1.StalledCondition)
}

// MarkStalled says progress needs a person: a spec, Secret or permission change.
func MarkStalled(obj Object, reason, message string) {
	set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, message)
	set(obj, teamsv1alpha1.StalledCondition, metav1.ConditionTrue, reason, message)
	remove(obj, teamsv1alpha1.ReconcilingCondition)
}

// MarkNotReady sets Ready=False without Reconciling or Stalled: a final state that is not a
// success (for example a message that expired) and needs no more work.
func MarkNotReady(obj Object, reason, message string) {
	set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, message)
	remove(obj, teamsv1alpha1.ReconcilingCondition)
	remove(obj, teamsv1alpha1.StalledCondition)
}

// Finalize sets status.observedGeneration when Ready or Stalled describe this generation,
// as kstatus expects, and makes sure Ready is present.
func Finalize(obj Object) {
	conds := obj.GetConditions()
	if meta.FindStatusCondition(conds, teamsv1alpha1.ReadyCondition) == nil {
		set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionUnknown,
			teamsv1alpha1.ProgressingReason, "Reconciliation has started")
		conds = obj.GetConditions()
	}
	if meta.IsStatusConditionTrue(conds, teamsv1alpha1.ReadyCondition) ||
		meta.IsStatusConditionTrue(conds, teamsv1alpha1.StalledCondition) {
		obj.SetObservedGeneration(obj.GetGeneration())
	}
}

// ReadyCondition returns the Ready condition, or nil.
func ReadyCondition(obj Object) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), teamsv1alpha1.ReadyCondition)
}

// IsReady reports whether Ready is True for the object's current generation.
func IsReady(obj Object) bool {
	c := ReadyCondition(obj)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.GetGeneration()
}

func trim(message string) string {
	message = strings.TrimSpace(message)
	if len(message) <= maxMessageLength {
		return message
	}
	return message[:maxMessageLength-3] + "..."
}
