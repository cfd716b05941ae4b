package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// fairRig queues waiters one after the other on a limiter of 10 per second with
// a manual clock, then lets them through one slot at a time and records whose
// turn each slot was.
type fairRig struct {
	t     *testing.T
	g     *WithT
	clk   *fakeClock
	l     *AppLimiter
	order chan string
}

func newFairRig(t *testing.T) *fairRig {
	g := NewWithT(t)
	clk := newFakeClock(false)
	r := &fairRig{t: t, g: g, clk: clk, l: newAppLimiter(clk, 10), order: make(chan string, 1000)}
	// Take the free slot, so that every waiter below has to queue.
	g.Expect(r.l.Wait(context.Background(), "app", "tenant")).To(Succeed())
	return r
}

// queue adds n waiters of turn t, labelled with the namespace and a number,
// each queued before the next starts.
func (r *fairRig) queue(t Turn, n int) {
	for i := range n {
		want := r.l.waiting("app", "tenant") + 1
		label := fmt.Sprintf("%s/%d", t.Namespace, i)
		go func() {
			ctx := WithTurn(context.Background(), t)
			if err := r.l.Wait(ctx, "app", "tenant"); err != nil {
				r.t.Errorf("Wait %s: %v", label, err)
				return
			}
			r.order <- label
		}()
		r.g.Eventually(func() int { return r.l.waiting("app", "tenant") }).Should(Equal(want))
	}
}

// serve lets n waiters through, one slot (100 ms, plus the margin) at a time, and returns whose
// they were, in order.
func (r *fairRig) serve(n int) []string {
	var got []string
	for range n {
		r.g.Eventually(r.clk.Pending).Should(Equal(1), "the dispatcher sleeps until the next slot")
		r.clk.Advance(100*time.Millisecond + AppMargin) // a slot, and the margin past the window
		var label string
		r.g.Eventually(r.order).Should(Receive(&label))
		got = append(got, label)
	}
	return got
}

func namespaces(labels []string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		for j := range l {
			if l[j] == '/' {
				out[i] = l[:j]
				break
			}
		}
	}
	return out
}

func TestAppLimiterPriorityGoesFirst(t *testing.T) {
	r := newFairRig(t)
	r.queue(Turn{Namespace: "flood", Priority: Bulk}, 5)
	r.queue(Turn{Namespace: "team", Priority: Normal}, 2)
	r.queue(Turn{Namespace: "alerts", Priority: High}, 1)
	r.g.Expect(r.serve(8)).To(Equal([]string{
		"alerts/0", "team/0", "team/1", "flood/0", "flood/1", "flood/2", "flood/3", "flood/4",
	}))
}

func TestAppLimiterNamespacesShareAPriority(t *testing.T) {
	r := newFairRig(t)
	r.queue(Turn{Namespace: "flood"}, 10)
	r.g.Expect(r.serve(4)).To(Equal([]string{"flood/0", "flood/1", "flood/2", "flood/3"}))
	// A single message of another namespace waits one turn at most, not for the
	// six of the flood still queued.
	r.queue(Turn{Namespace: "single"}, 1)
	r.g.Expect(r.serve(2)).To(ContainElement("single/0"))
	// Two namespaces with backlogs alternate; each keeps its own order.
	r.queue(Turn{Namespace: "second"}, 4)
	got := r.serve(8)
	r.g.Expect(namespaces(got[:6])).To(Equal([]string{"second", "flood", "second", "flood", "second", "flood"}),
		"%v", got)
	r.g.Expect(got).To(ContainElements("second/0", "second/1", "second/2", "second/3"))
	r.g.Expect(got[0]).To(Equal("second/0"))
}

func TestAppLimiterWeights(t *testing.T) {
	r := newFairRig(t)
	r.queue(Turn{Namespace: "heavy", Weight: 3}, 12)
	r.queue(Turn{Namespace: "light"}, 12)
	got := namespaces(r.serve(12))
	heavy := 0
	for _, ns := range got {
		if ns == "heavy" {
			heavy++
		}
	}
	// Both arrived at virtual time 0: heavy's tags are 1/3 apart, light's 1.
	r.g.Expect(heavy).To(BeNumerically("~", 9, 1), "%v", got)
	r.serve(12)
}

func TestAppLimiterNamespaceCap(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true) // each wait moves the clock to its turn: a simulation
	l := newAppLimiter(clk, 50)
	capped := WithTurn(context.Background(), Turn{Namespace: "capped", Priority: High, MaxRPS: 5})
	start := clk.Now()
	var times []time.Time
	for clk.Now().Sub(start) < 10*time.Second {
		g.Expect(l.Wait(capped, "app", "tenant")).To(Succeed())
		times = append(times, clk.Now())
	}
	g.Expect(times).To(respectWindows([]Window{{Count: 5, Period: time.Second}}, 0))
	g.Expect(len(times)).To(BeNumerically("~", 50, 1))
}

func TestAppLimiterCappedNamespaceLetsOthersGo(t *testing.T) {
	r := newFairRig(t)
	// Capped at 2 per second, High: it goes first whenever its cap allows, and the
	// slots in between go to the Bulk namespace instead of staying empty.
	r.queue(Turn{Namespace: "capped", Priority: High, MaxRPS: 2}, 3)
	r.queue(Turn{Namespace: "bulk", Priority: Bulk}, 10)
	got := namespaces(r.serve(11))
	r.g.Expect(got).To(Equal([]string{
		"capped", "bulk", "bulk", "bulk", "bulk", "capped", "bulk", "bulk", "bulk", "bulk", "capped",
	}))
}

func TestAppLimiterDeadlineCountsTheWaitersAhead(t *testing.T) {
	r := newFairRig(t)
	r.queue(Turn{Namespace: "flood", Priority: Bulk}, 5)
	// Five Bulk waiters ahead would be 600 ms for another Bulk request, but a High
	// one goes at the next slot.
	ctx, cancel := context.WithDeadline(context.Background(), r.clk.Now().Add(300*time.Millisecond))
	defer cancel()
	err := r.l.Wait(WithTurn(ctx, Turn{Namespace: "other", Priority: Bulk}), "app", "tenant")
	r.g.Expect(err).To(MatchError(context.DeadlineExceeded))
	r.g.Expect(r.l.waiting("app", "tenant")).To(Equal(5), "the refused waiter did not queue")
	r.queue(Turn{Namespace: "alert", Priority: High}, 1)
	r.g.Expect(r.serve(1)).To(Equal([]string{"alert/0"}))
	r.serve(5)
}

func TestTurnInContext(t *testing.T) {
	g := NewWithT(t)
	g.Expect(TurnFrom(context.Background())).To(Equal(Turn{}))
	want := Turn{Namespace: "ns", Priority: Bulk, Weight: 2, MaxRPS: 3}
	g.Expect(TurnFrom(WithTurn(context.Background(), want))).To(Equal(want))
	for s, p := range map[string]Priority{"": Normal, "Normal": Normal, "High": High, "Bulk": Bulk} {
		got, err := ParsePriority(s)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(p))
	}
	_, err := ParsePriority("Urgent")
	g.Expect(err).To(HaveOccurred())
	g.Expect(High.String() + Normal.String() + Bulk.String()).To(Equal("HighNormalBulk"))
}
