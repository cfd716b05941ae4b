package status

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
)

// Notify records an event when the Ready condition changed status or reason since before
// (nil: the object had none), so users see transitions and not one event per reconcile.
// Warning when Stalled (a person must act), Normal otherwise, so alerting on warnings
// (Flux's eventSeverity: error) sees the failures and not every wait. The reason is the
// condition's reason (docs/gitops.md).
func Notify(rec events.EventRecorder, obj Object, before *metav1.Condition) {
	after := ReadyCondition(obj)
	if rec == nil || after == nil || after.Status == metav1.ConditionUnknown {
		return
	}
	if before != nil && before.Status == after.Status && before.Reason == after.Reason {
		return
	}
	eventType := corev1.EventTypeNormal
	if IsStalled(obj) {
		eventType = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}
