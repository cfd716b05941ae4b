package status

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/lru"
)

// announcedSize bounds the memory of announced states: an object evicted from it at worst
// gets one repeated event after a stale read.
const announcedSize = 16384

// announced is the Ready state last announced per object UID in this process. A reconcile
// can read its object from a cache that does not show its own last status write yet; its
// "before" is then an older state, and without this memory the same transition would be
// announced twice.
var announced = lru.New(announcedSize)

// announcement is what one event announced.
type announcement struct {
	generation int64
	status     metav1.ConditionStatus
	reason     string
}

// Notify records an event when the Ready condition changed status or reason since before
// (nil: the object had none, or a new generation whose outcome is news), so users see
// transitions and not one event per reconcile. Warning when Stalled (a person must act),
// Normal otherwise, so alerting on warnings (Flux's eventSeverity: error) sees the failures
// and not every wait. The reason is the condition's reason (docs/gitops.md).
func Notify(rec events.EventRecorder, obj Object, before *metav1.Condition) {
	after := ReadyCondition(obj)
	if rec == nil || after == nil || after.Status == metav1.ConditionUnknown {
		return
	}
	now := announcement{generation: obj.GetGeneration(), status: after.Status, reason: after.Reason}
	if !changed(obj, before, now) {
		return
	}
	eventType := corev1.EventTypeNormal
	if IsStalled(obj) {
		eventType = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}

// changed reports whether now is news. What this process last saw of the object's current
// generation decides when it has seen it (before may come from a stale cache); otherwise
// before does. It remembers now as the last state seen.
func changed(obj Object, before *metav1.Condition, now announcement) bool {
	uid := obj.GetUID()
	if uid != "" {
		last, ok := announced.Get(uid)
		announced.Add(uid, now)
		if ok && last.(announcement).generation == now.generation {
			return last.(announcement) != now
		}
	}
	return before == nil || before.Status != now.status || before.Reason != now.reason
}
