package status

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
)

// Notify records an event when the Ready condition changed status or reason since before
// (nil: the object had none), so users see transitions and not one event per reconcile.
// Normal when Ready is True, Warning otherwise.
func Notify(rec events.EventRecorder, obj Object, before *metav1.Condition) {
	after := ReadyCondition(obj)
	if rec == nil || after == nil || after.Status == metav1.ConditionUnknown {
		return
	}
	if before != nil && before.Status == after.Status && before.Reason == after.Reason {
		return
	}
	eventType := corev1.EventTypeWarning
	if after.Status == metav1.ConditionTrue {
		eventType = corev1.EventTypeNormal
	}
	rec.Eventf(obj, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}
