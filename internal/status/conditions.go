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

// MarkReady says the external state matches this generation, or (reason Scheduled) that the
// object is all its spec asks for until a time it waits for: kstatus Current (docs/gitops.md).
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

// MarkStalled says progress needs a person: a spec, Secret or permission change, or an act
// outside the cluster. It is also how a terminal end that is not a success is shown (a message
// Failed, Expired or Unknown), so that kstatus reports Failed and a waiter stops.
func MarkStalled(obj Object, reason, message string) {
	set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, message)
	set(obj, teamsv1alpha1.StalledCondition, metav1.ConditionTrue, reason, message)
	remove(obj, teamsv1alpha1.ReconcilingCondition)
}

// Finalize makes sure Ready is present and sets status.observedGeneration when this
// reconcile reached a decision for the current generation, whatever it was (ready, progressing,
// waiting or stalled): every Mark stamps Ready with the generation it describes (docs/gitops.md).
// A reconcile that ended on an error before deciding leaves it behind, which kstatus and the
// Argo CD checks report as in progress.
func Finalize(obj Object) {
	c := ReadyCondition(obj)
	if c != nil && c.Status != metav1.ConditionUnknown && c.ObservedGeneration == obj.GetGeneration() {
		obj.SetObservedGeneration(obj.GetGeneration())
	}
	if c == nil {
		set(obj, teamsv1alpha1.ReadyCondition, metav1.ConditionUnknown,
			teamsv1alpha1.ProgressingReason, "Reconciliation has started")
	}
}

// ReadyCondition returns the Ready condition, or nil.
func ReadyCondition(obj Object) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), teamsv1alpha1.ReadyCondition)
}

// IsStalled reports whether Stalled is True for the object's current generation: it cannot
// make progress until a person acts.
func IsStalled(obj Object) bool {
	c := meta.FindStatusCondition(obj.GetConditions(), teamsv1alpha1.StalledCondition)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.GetGeneration()
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
