package operator

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// With 100,000 ProactiveMessages cached, most of their strings are the same in every object:
// the API version and kind, the namespace, annotation keys, the finalizer, defaulted enums,
// condition types, reasons and messages, and the conversation ids of a few hundred targets. The
// decoder allocates each one anew per object; interning them keeps one copy of each. Strings
// are immutable, so a shared copy reads exactly as before (docs/performance.md, "Scale").

// maxInterned bounds the pool: when it is full it starts again, so values that stop repeating
// (names of deleted targets, old messages) are not kept for ever. Tens of thousands of short
// strings are a few MiB.
const maxInterned = 1 << 16

// pool holds the canonical copies. It keeps them itself: Go's unique package holds its values
// only weakly, so after a garbage collection each object would get its own copy again.
var pool = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// intern returns the canonical copy of s.
func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	pool.Lock()
	defer pool.Unlock()
	if c, ok := pool.m[string(s)]; ok {
		return S(c)
	}
	if len(pool.m) >= maxInterned {
		clear(pool.m)
	}
	pool.m[string(s)] = string(s)
	return s
}

// internMeta interns the metadata every kind has. Maps are rebuilt with interned keys (and
// values where they repeat across objects: labels, and the annotations in repeatedValues).
func internMeta(obj metav1.Object) {
	obj.SetNamespace(intern(obj.GetNamespace()))
	if f := obj.GetFinalizers(); len(f) > 0 {
		for i := range f {
			f[i] = intern(f[i])
		}
	}
	if l := obj.GetLabels(); len(l) > 0 {
		obj.SetLabels(internMap(l, func(string) bool { return true }))
	}
	if a := obj.GetAnnotations(); len(a) > 0 {
		obj.SetAnnotations(internMap(a, repeatedValue))
	}
	if refs := obj.GetOwnerReferences(); len(refs) > 0 {
		for i := range refs {
			refs[i].APIVersion, refs[i].Kind = intern(refs[i].APIVersion), intern(refs[i].Kind)
		}
	}
}

// repeatedValue reports the annotations whose values many objects share.
func repeatedValue(key string) bool {
	return key == teamsv1alpha1.ConversationIDAnnotation
}

func internMap(m map[string]string, internValue func(key string) bool) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if internValue(k) {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

// internMessage interns what repeats across ProactiveMessages.
func internMessage(m *teamsv1alpha1.ProactiveMessage) {
	m.APIVersion, m.Kind = intern(m.APIVersion), intern(m.Kind)
	s := &m.Spec
	s.TargetRef.Name = intern(s.TargetRef.Name)
	s.TextFormat, s.OnUpdate, s.DeletionPolicy = intern(s.TextFormat), intern(s.OnUpdate), intern(s.DeletionPolicy)
	s.DeliveryGuarantee, s.Priority = intern(s.DeliveryGuarantee), intern(s.Priority)
	st := &m.Status
	st.Phase, st.ConversationID, st.LastError = intern(st.Phase), intern(st.ConversationID), intern(st.LastError)
	internConditions(st.Conditions)
}

func internConditions(conds []metav1.Condition) {
	for i := range conds {
		c := &conds[i]
		c.Type, c.Status, c.Reason, c.Message = intern(c.Type), intern(c.Status), intern(c.Reason), intern(c.Message)
	}
}
