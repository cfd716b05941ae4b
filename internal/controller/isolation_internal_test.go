package controller

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// TestQueueDoesNotCopyMessages: every reconcile lists the messages to its target; with deep
// copies, a namespace's queue of large messages was copied whole on each of them (issue 14).
func TestQueueDoesNotCopyMessages(t *testing.T) {
	g := NewWithT(t)
	var lists, uncopied int
	c := interceptor.NewClient(fake.NewClientBuilder().WithScheme(isolationScheme(t)).
		WithIndex(&teamsv1alpha1.ProactiveMessage{}, messageTargetIndex, func(o client.Object) []string {
			return []string{o.(*teamsv1alpha1.ProactiveMessage).Spec.TargetRef.Name}
		}).
		WithIndex(&teamsv1alpha1.ProactiveMessage{}, messageReplyToIndex, func(client.Object) []string { return nil }).Build(),
		interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists++
			o := &client.ListOptions{}
			o.ApplyOptions(opts)
			if o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy {
				uncopied++
			}
			return c.List(ctx, list, opts...)
		}})
	r := &ProactiveMessageReconciler{Client: c}
	msg := &teamsv1alpha1.ProactiveMessage{}
	msg.Namespace, msg.Name, msg.Spec.TargetRef.Name = "team-a", "m", "t"
	_, err := r.queue(context.Background(), "team-a", "t")
	g.Expect(err).NotTo(HaveOccurred())
	r.messagesOfTarget(context.Background(), &teamsv1alpha1.ConversationTarget{})
	r.enqueueReplies(context.Background(), msg, nil)
	g.Expect(lists).To(Equal(3))
	g.Expect(uncopied).To(Equal(lists), "every list of a queue reads the cache's objects without copying them")
}

func isolationScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := teamsv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
