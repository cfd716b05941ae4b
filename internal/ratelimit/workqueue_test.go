package ratelimit

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func req(ns string, i int) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: fmt.Sprint(i)}}
}

func newTestQueue(t *testing.T) *FairQueue {
	q := NewFairQueue(priorityqueue.New[reconcile.Request]("")) // no name: no metrics
	t.Cleanup(q.ShutDown)
	return q
}

// drain takes n items off q, marking each done, and returns "namespace/name".
func drain(g *WithT, q *FairQueue, n int) []string {
	var got []string
	for range n {
		g.Eventually(q.Len).Should(BeNumerically(">", 0))
		item, shutdown := q.Get()
		g.Expect(shutdown).To(BeFalse())
		got = append(got, item.String())
		q.Done(item)
	}
	return got
}

func TestFairQueueEncoding(t *testing.T) {
	g := NewWithT(t)
	for _, level := range []int{QueueLevelFinished, QueueLevel(Bulk, true), -100, 0, QueueLevel(High, false)} {
		for _, tag := range []int64{0, 1, tagUnit, 1 << 39, tagLimit} {
			p := encode(level, tag)
			g.Expect(isEncoded(p)).To(BeTrue())
			l, tg := decode(p)
			g.Expect([]int64{int64(l), tg}).To(Equal([]int64{int64(level), tag}))
			g.Expect(encode(level+1, tagLimit)).To(BeNumerically(">", p), "a higher level goes first whatever the tags")
			if tag > 0 {
				g.Expect(encode(level, tag-1)).To(BeNumerically(">", p), "a smaller tag goes first")
			}
		}
	}
	g.Expect(isEncoded(0) || isEncoded(handler.LowPriority) || isEncoded(1000)).To(BeFalse())
}

func TestFairQueueSharesALevelBetweenNamespaces(t *testing.T) {
	g := NewWithT(t)
	q := newTestQueue(t)
	for i := range 100 {
		q.AddLevel(0, req("flood", i))
	}
	g.Expect(drain(g, q, 3)).To(Equal([]string{"flood/0", "flood/1", "flood/2"}))
	q.Add(req("single", 0)) // another handler's add: Normal, no hint
	g.Expect(drain(g, q, 2)).To(ContainElement("single/0"), "one turn at most, not 97")
	for i := range 3 {
		q.AddLevel(0, req("second", i))
	}
	got := drain(g, q, 6)
	g.Expect(got).To(ConsistOf("second/0", "second/1", "second/2", "flood/4", "flood/5", "flood/6"), "alternating")
}

func TestFairQueueLevels(t *testing.T) {
	g := NewWithT(t)
	q := newTestQueue(t)
	q.AddLevel(QueueLevelFinished, req("done", 0))
	q.AddLevel(QueueLevel(Normal, true), req("backlog", 0), req("backlog", 1))
	q.AddLevel(QueueLevel(Bulk, false), req("bulk", 0))
	q.AddLevel(QueueLevel(Normal, false), req("new", 0))
	q.AddLevel(QueueLevel(High, true), req("alert-backlog", 0))
	q.AddLevel(QueueLevel(High, false), req("alert", 0))
	g.Expect(drain(g, q, 7)).To(Equal([]string{
		"alert/0", "alert-backlog/0", "new/0", "backlog/0", "backlog/1", "bulk/0", "done/0",
	}))
}

func TestFairQueueHintsAndUnchangedAdds(t *testing.T) {
	g := NewWithT(t)
	q := newTestQueue(t)
	q.SetHint(req("a", 0), QueueLevel(High, false))
	q.SetHint(req("a", 1), QueueLevel(Bulk, false))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: new(handler.LowPriority)}, req("a", 2)) // unchanged: Normal's resync level
	q.Add(req("a", 1))
	q.Add(req("a", 3))
	q.Add(req("a", 0))
	g.Expect(drain(g, q, 4)).To(Equal([]string{"a/0", "a/3", "a/2", "a/1"}))
	q.SetHint(req("a", 0), 0)
	q.Add(req("a", 0))
	q.Add(req("a", 4))
	g.Expect(drain(g, q, 2)).To(Equal([]string{"a/0", "a/4"}), "the hint is gone: Normal, in turn")
}

func TestFairQueueRequeueKeepsItsPlace(t *testing.T) {
	g := NewWithT(t)
	q := newTestQueue(t)
	q.AddLevel(QueueLevel(Bulk, false), req("bulk", 0))
	item, p, _ := q.GetWithPriority()
	g.Expect(item).To(Equal(req("bulk", 0)))
	q.Done(item)
	q.AddLevel(0, req("normal", 0))
	// What the controller does after a reconcile that asks to run again.
	q.AddWithOpts(priorityqueue.AddOpts{Priority: &p}, item)
	g.Expect(drain(g, q, 2)).To(Equal([]string{"normal/0", "bulk/0"}), "still Bulk")
}

func TestFairQueueWeights(t *testing.T) {
	g := NewWithT(t)
	q := newTestQueue(t)
	q.Weight = func(ns string) float64 {
		if ns == "heavy" {
			return 2
		}
		return 0
	}
	for i := range 20 {
		q.AddLevel(0, req("light", i))
		q.AddLevel(0, req("heavy", i))
	}
	heavy := 0
	for _, s := range drain(g, q, 15) {
		if s[:5] == "heavy" {
			heavy++
		}
	}
	g.Expect(heavy).To(BeNumerically("~", 10, 1))
}
