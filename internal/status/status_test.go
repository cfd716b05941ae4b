package status

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

func newTarget(gen int64) *teamsv1alpha1.ConversationTarget {
	t := &teamsv1alpha1.ConversationTarget{}
	t.Generation = gen
	t.Status.ObservedGeneration = -1
	return t
}

func TestConditionsFollowKstatus(t *testing.T) {
	tests := map[string]struct {
		mark           func(Object)
		wantReady      metav1.ConditionStatus
		wantReconcile  bool
		wantStalled    bool
		wantObservedGn int64
	}{
		"ready sets observedGeneration and drops the abnormal conditions": {
			mark:      func(o Object) { MarkStalled(o, "X", "x"); MarkReady(o, "Succeeded", "ok") },
			wantReady: metav1.ConditionTrue, wantObservedGn: 3,
		},
		"progressing sets observedGeneration (a decision was reached) and adds Reconciling": {
			mark:      func(o Object) { MarkProgressing(o, "Throttled", "wait") },
			wantReady: metav1.ConditionFalse, wantReconcile: true, wantObservedGn: 3,
		},
		"stalled sets observedGeneration and drops Reconciling": {
			mark:      func(o Object) { MarkProgressing(o, "A", "a"); MarkStalled(o, "InvalidSpec", "bad") },
			wantReady: metav1.ConditionFalse, wantStalled: true, wantObservedGn: 3,
		},
		"nothing marked still leaves Ready present": {
			mark:      func(Object) {},
			wantReady: metav1.ConditionUnknown, wantObservedGn: -1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			obj := newTarget(3)
			tc.mark(obj)
			Finalize(obj)
			ready := ReadyCondition(obj)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(tc.wantReady))
			g.Expect(ready.ObservedGeneration).To(Equal(int64(3)))
			has := func(ct string) bool {
				for _, c := range obj.Status.Conditions {
					if c.Type == ct {
						g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "abnormal conditions are present only when true")
						return true
					}
				}
				return false
			}
			g.Expect(has(teamsv1alpha1.ReconcilingCondition)).To(Equal(tc.wantReconcile))
			g.Expect(has(teamsv1alpha1.StalledCondition)).To(Equal(tc.wantStalled))
			g.Expect(obj.Status.ObservedGeneration).To(Equal(tc.wantObservedGn))
		})
	}
}

func TestTransitionTimeMovesOnlyOnFlip(t *testing.T) {
	g := NewWithT(t)
	obj := newTarget(1)
	MarkProgressing(obj, "A", "first")
	first := ReadyCondition(obj).LastTransitionTime
	first.Time = first.Add(-time.Hour)
	conds := obj.GetConditions()
	conds[0].LastTransitionTime = first
	obj.SetConditions(conds)

	MarkProgressing(obj, "B", "second")
	g.Expect(ReadyCondition(obj).LastTransitionTime).To(Equal(first), "same status: time kept")
	g.Expect(ReadyCondition(obj).Reason).To(Equal("B"))
	MarkReady(obj, "Succeeded", "ok")
	g.Expect(ReadyCondition(obj).LastTransitionTime.After(first.Time)).To(BeTrue(), "flip: time moves")
}

func TestLongMessagesAreTrimmed(t *testing.T) {
	g := NewWithT(t)
	obj := newTarget(1)
	long := make([]byte, 10*maxMessageLength)
	for i := range long {
		long[i] = 'x'
	}
	MarkStalled(obj, "InvalidSpec", string(long))
	g.Expect(ReadyCondition(obj).Message).To(HaveLen(maxMessageLength))
}

func TestObservedGenerationOnlyForADecisionOnThisGeneration(t *testing.T) {
	g := NewWithT(t)
	obj := newTarget(2)
	MarkProgressing(obj, "A", "decided on generation 2")
	obj.Generation = 3 // a new spec, and a reconcile that ended on an error before deciding
	Finalize(obj)
	g.Expect(obj.Status.ObservedGeneration).To(Equal(int64(-1)), "Ready describes generation 2, not 3")

	fresh := newTarget(1)
	Finalize(fresh) // nothing decided: only the Unknown placeholder
	Finalize(fresh)
	g.Expect(fresh.Status.ObservedGeneration).To(Equal(int64(-1)), "an Unknown placeholder is not a decision")
}

func TestNotifyRecordsTransitionsWarningOnlyWhenStalled(t *testing.T) {
	g := NewWithT(t)
	rec := events.NewFakeRecorder(10)
	obj := newTarget(1)
	step := func(mark func(Object)) {
		before := ReadyCondition(obj).DeepCopy()
		mark(obj)
		Notify(rec, obj, before)
	}
	step(func(o Object) { MarkProgressing(o, "Throttled", "retry in 1s") })
	step(func(o Object) { MarkProgressing(o, "Throttled", "retry in 2s") }) // a retry: no event
	step(func(o Object) { MarkStalled(o, "InvalidSpec", "bad") })
	step(func(o Object) { MarkReady(o, "Scheduled", "at noon") })
	step(func(o Object) { MarkReady(o, "Scheduled", "at noon") })
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, strings.Join(strings.Fields(e)[:2], " "))
	}
	g.Expect(got).To(Equal([]string{"Normal Throttled", "Warning InvalidSpec", "Normal Scheduled"}))
}

// A reconcile may read its object from a cache that does not show its own last status write:
// the transition it made is not announced again, and a real change is announced even when
// the stale state happens to equal the new one.
func TestNotifyIgnoresAStaleBefore(t *testing.T) {
	g := NewWithT(t)
	rec := events.NewFakeRecorder(10)
	obj := newTarget(1)
	obj.UID = "stale-read"
	pending := func() *metav1.Condition { return &metav1.Condition{Status: metav1.ConditionFalse, Reason: "Pending"} }

	MarkProgressing(obj, "ProgressingWithRetry", "retry in 1s")
	Notify(rec, obj, pending())
	MarkProgressing(obj, "ProgressingWithRetry", "retry in 2s")
	Notify(rec, obj, pending()) // the cache still showed Pending
	MarkProgressing(obj, "Pending", "waiting")
	Notify(rec, obj, pending()) // stale Pending, but the last state was ProgressingWithRetry
	obj.Generation = 2
	MarkProgressing(obj, "Pending", "waiting")
	Notify(rec, obj, nil) // a new generation whose outcome is news
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, strings.Fields(e)[1])
	}
	g.Expect(got).To(Equal([]string{"ProgressingWithRetry", "Pending", "Pending"}))
}
