package operator

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// delivered is the i-th delivered message as the API server sends it to the cache.
func delivered(t *testing.T, i int) *teamsv1alpha1.ProactiveMessage {
	t.Helper()
	now := metav1.NewTime(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	conversation := "a:1Xk2n3R4s5T6u7V8w9X0yZaBcDeFgHiJkLmNoPqRs"
	msg := &teamsv1alpha1.ProactiveMessage{
		TypeMeta: metav1.TypeMeta{APIVersion: teamsv1alpha1.GroupVersion.String(), Kind: "ProactiveMessage"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "alerts", Name: fmt.Sprintf("m-%d", i), UID: "uid", Generation: 1,
			Finalizers: []string{teamsv1alpha1.Finalizer}, Labels: map[string]string{"app": "checkout"},
			Annotations: map[string]string{
				teamsv1alpha1.ConversationIDAnnotation: conversation,
				teamsv1alpha1.ActivityIDAnnotation:     fmt.Sprintf("1:%d", i),
			},
		},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef: teamsv1alpha1.LocalObjectReference{Name: "oncall"}, Text: fmt.Sprintf("message %d", i),
			Priority: teamsv1alpha1.MessagePriority("Normal"),
		},
		Status: teamsv1alpha1.ProactiveMessageStatus{
			Phase: teamsv1alpha1.PhaseDelivered, ConversationID: conversation, ActivityID: fmt.Sprintf("1:%d", i),
			Conditions: []metav1.Condition{{Type: teamsv1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
				Reason: teamsv1alpha1.DeliveredReason, Message: `Delivered to ConversationTarget "oncall"`,
				LastTransitionTime: now}},
		},
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*teamsv1alpha1.ProactiveMessage)
}

// The cache keeps one copy of the strings every ProactiveMessage repeats (100,000 of them must
// fit in 512 MiB, docs/performance.md), and the objects read exactly as before.
func TestCacheTransformSharesRepeatedStrings(t *testing.T) {
	g := NewWithT(t)
	transform := CacheTransform()
	var cached []*teamsv1alpha1.ProactiveMessage
	for i := range 2 {
		runtime.GC() // the copies must stay shared across collections
		out, err := transform(delivered(t, i))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(Equal(delivered(t, i)), "the transform changes no value")
		cached = append(cached, out.(*teamsv1alpha1.ProactiveMessage))
	}
	a, b := cached[0], cached[1]
	key := func(m map[string]string, k string) string {
		for have := range m {
			if have == k {
				return have
			}
		}
		return ""
	}
	for name, pair := range map[string][2]string{
		"apiVersion":            {a.APIVersion, b.APIVersion},
		"kind":                  {a.Kind, b.Kind},
		"namespace":             {a.Namespace, b.Namespace},
		"finalizer":             {a.Finalizers[0], b.Finalizers[0]},
		"label value":           {a.Labels["app"], b.Labels["app"]},
		"annotation key":        {key(a.Annotations, teamsv1alpha1.ActivityIDAnnotation), key(b.Annotations, teamsv1alpha1.ActivityIDAnnotation)},
		"conversation-id value": {a.Annotations[teamsv1alpha1.ConversationIDAnnotation], b.Annotations[teamsv1alpha1.ConversationIDAnnotation]},
		"spec.targetRef.name":   {a.Spec.TargetRef.Name, b.Spec.TargetRef.Name},
		"spec.priority":         {string(a.Spec.Priority), string(b.Spec.Priority)},
		"status.phase":          {string(a.Status.Phase), string(b.Status.Phase)},
		"status.conversationId": {a.Status.ConversationID, b.Status.ConversationID},
		"condition reason":      {a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
		"condition message":     {a.Status.Conditions[0].Message, b.Status.Conditions[0].Message},
	} {
		g.Expect(unsafe.StringData(pair[0])).To(BeIdenticalTo(unsafe.StringData(pair[1])), "%s is one copy", name)
	}
	g.Expect(unsafe.StringData(a.Status.ActivityID)).NotTo(BeIdenticalTo(unsafe.StringData(b.Status.ActivityID)),
		"values that differ stay apart")
}
