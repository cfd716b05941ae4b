package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// respectWindows checks the contract of docs/dev/contracts.md on a sorted list of
// admission times: no window (t-Period-Margin, t] holds more than Count of them,
// i.e. any Count+1 consecutive admissions span at least Period+Margin.
func respectWindows(windows []Window, margin time.Duration) types.GomegaMatcher {
	return WithTransform(func(times []time.Time) error {
		for _, w := range windows {
			for i := 0; i+w.Count < len(times); i++ {
				if span := times[i+w.Count].Sub(times[i]); span < w.Period+margin {
					return fmt.Errorf("window %s: admissions %d..%d span only %s", w, i, i+w.Count, span)
				}
			}
		}
		return nil
	}, Succeed())
}

func TestConversationWindowsUnderSaturation(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newConversationLimiter(clk)
	start := clk.Now()
	var times []time.Time
	for clk.Now().Sub(start) < 2*time.Hour {
		g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed())
		times = append(times, clk.Now())
	}
	g.Expect(times).To(respectWindows(DefaultConversationWindows, Margin))

	// Saturation: the first second takes the whole 1 s allowance, the first 30 s
	// the whole 60, the first hour all 1800.
	g.Expect(countBefore(times, start.Add(time.Second))).To(Equal(7))
	g.Expect(countBefore(times, start.Add(30*time.Second))).To(Equal(60))
	g.Expect(countBefore(times, start.Add(time.Hour))).To(Equal(1800))
	g.Expect(countBefore(times, start.Add(2*time.Hour))).To(Equal(3600))
}

func TestConversationWindowsUnderRandomLoad(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newConversationLimiter(clk)
	rng := rand.New(rand.NewPCG(1, 2))
	times := map[string][]time.Time{}
	for range 20000 {
		clk.Advance(time.Duration(rng.ExpFloat64() * float64(40*time.Millisecond)))
		conv := fmt.Sprintf("conv-%d", rng.IntN(3))
		g.Expect(l.Wait(context.Background(), "app", conv)).To(Succeed())
		times[conv] = append(times[conv], clk.Now())
	}
	for conv, ts := range times {
		g.Expect(ts).To(respectWindows(DefaultConversationWindows, Margin), conv)
	}
}

func TestConversationTryAcquire(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newConversationLimiter(clk)
	var times []time.Time
	for len(times) < 300 {
		ok, delay := l.TryAcquire("app", "conv")
		if !ok {
			g.Expect(delay).To(BeNumerically(">", 0))
			clk.Advance(delay)
			ok, _ = l.TryAcquire("app", "conv")
			g.Expect(ok).To(BeTrue(), "the returned delay is exact")
		}
		times = append(times, clk.Now())
	}
	g.Expect(times).To(respectWindows(DefaultConversationWindows, Margin))
}

func TestConversationKeysAreIndependent(t *testing.T) {
	g := NewWithT(t)
	l := newConversationLimiter(newFakeClock(false), Window{Count: 1, Period: time.Second})
	g.Expect(l.TryAcquire("app", "a")).To(BeTrue())
	g.Expect(l.TryAcquire("app", "b")).To(BeTrue())
	g.Expect(l.TryAcquire("other-app", "a")).To(BeTrue())
	ok, delay := l.TryAcquire("app", "a")
	g.Expect(ok).To(BeFalse())
	g.Expect(delay).To(Equal(time.Second + Margin))
}

func TestConversationWaitersAreServedInArrivalOrder(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newConversationLimiter(clk, Window{Count: 1, Period: time.Second})
	g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed()) // fills the window

	order := make(chan int, 5)
	for i := range 5 {
		go func() {
			if err := l.Wait(context.Background(), "app", "conv"); err == nil {
				order <- i
			}
		}()
		// Each waiter is queued before the next one starts.
		g.Eventually(func() int { return l.queued("app", "conv") }).Should(Equal(i + 1))
	}
	// A non-blocking caller does not jump the queue.
	ok, _ := l.TryAcquire("app", "conv")
	g.Expect(ok).To(BeFalse())

	for i := range 5 {
		g.Eventually(clk.Pending).Should(Equal(1), "the head waiter sleeps on one timer")
		g.Consistently(order).ShouldNot(Receive())
		clk.Advance(time.Second + Margin)
		g.Eventually(order).Should(Receive(Equal(i)))
	}
}

func TestConversationCancelledWaitersCountNothing(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newConversationLimiter(clk, Window{Count: 1, Period: time.Second})
	g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed())

	headCtx, cancelHead := context.WithCancel(context.Background())
	midCtx, cancelMid := context.WithCancel(context.Background())
	results := make(chan string, 3)
	wait := func(ctx context.Context, name string) {
		err := l.Wait(ctx, "app", "conv")
		results <- fmt.Sprint(name, ":", err)
	}
	go wait(headCtx, "head")
	g.Eventually(func() int { return l.queued("app", "conv") }).Should(Equal(1))
	go wait(midCtx, "mid")
	g.Eventually(func() int { return l.queued("app", "conv") }).Should(Equal(2))
	go wait(context.Background(), "tail")
	g.Eventually(func() int { return l.queued("app", "conv") }).Should(Equal(3))

	cancelMid()
	g.Eventually(results).Should(Receive(Equal("mid:context canceled")))
	cancelHead()
	g.Eventually(results).Should(Receive(Equal("head:context canceled")))

	// The tail waiter is now head and is still bound by the first admission only.
	g.Eventually(clk.Pending).Should(Equal(1))
	clk.Advance(time.Second + Margin)
	g.Eventually(results).Should(Receive(Equal("tail:<nil>")))
	g.Expect(l.queued("app", "conv")).To(BeZero())
}

func TestConversationWaitHonoursAnExpiredContext(t *testing.T) {
	g := NewWithT(t)
	l := newConversationLimiter(newFakeClock(false), Window{Count: 1, Period: time.Hour})
	g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.Expect(l.Wait(ctx, "app", "conv")).To(MatchError(context.Canceled))
	g.Expect(l.queued("app", "conv")).To(BeZero())
}

func TestConversationMemoryIsBounded(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newConversationLimiter(clk)
	for range 5000 {
		g.Expect(l.Wait(context.Background(), "app", "busy")).To(Succeed())
	}
	l.mu.Lock()
	g.Expect(len(l.convs[convKey{"app", "busy"}].log.sendTimes())).To(BeNumerically("<=", 1800),
		"the log keeps only what may count in a window: at most the last hour's 1800")
	l.mu.Unlock()

	for i := range 100 {
		g.Expect(l.TryAcquire("app", fmt.Sprint("quiet-", i))).To(BeTrue())
	}
	g.Expect(l.size()).To(Equal(101))
	clk.Advance(time.Hour + time.Minute)
	g.Expect(l.TryAcquire("app", "new")).To(BeTrue())
	g.Expect(l.size()).To(Equal(1), "conversations idle for longer than the longest window are forgotten")
}

func TestConversationConcurrentRealTime(t *testing.T) {
	g := NewWithT(t)
	// Small real windows; the 1000/h window never binds but makes the log keep
	// every admission, so the invariant is checked on the limiter's own record
	// rather than on timings observed by the goroutines.
	windows := []Window{{Count: 3, Period: 30 * time.Millisecond}, {Count: 4, Period: 60 * time.Millisecond}, {Count: 1000, Period: time.Hour}}
	l := NewConversationLimiter(windows...)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 6 {
				if err := l.Wait(context.Background(), "app", fmt.Sprint("conv-", i%2)); err != nil {
					t.Errorf("Wait: %v", err)
				}
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, c := range l.convs {
		g.Expect(c.log.sendTimes()).To(HaveLen(24), key.conversation)
		g.Expect(c.log.sendTimes()).To(respectWindows(windows, Margin), key.conversation)
	}
}

func TestConversationDefaultsAndBadWindows(t *testing.T) {
	g := NewWithT(t)
	l := NewConversationLimiter()
	g.Expect(l.windows).To(Equal(DefaultConversationWindows))
	g.Expect(l.longest).To(Equal(time.Hour))
	l = NewConversationLimiter(Window{Count: 0, Period: time.Second}, Window{Count: 2, Period: 0}, Window{Count: 3, Period: time.Second})
	g.Expect(l.windows).To(Equal([]Window{{Count: 3, Period: time.Second}}))
	l = NewConversationLimiter(Window{Count: -1, Period: time.Second})
	g.Expect(l.windows).To(Equal(DefaultConversationWindows))
	g.Expect(l.TryAcquire("app", "conv")).To(BeTrue())
}

func TestConversationWaitMetric(t *testing.T) {
	g := NewWithT(t)
	l := newConversationLimiter(newFakeClock(true), Window{Count: 1, Period: time.Second})
	g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed())
	g.Expect(l.Wait(context.Background(), "app", "conv")).To(Succeed())
	g.Expect(testutil.CollectAndCount(waitHistogram(), "teams_operator_ratelimit_wait_seconds")).To(BeNumerically(">=", 1))
}

func countBefore(times []time.Time, t time.Time) int {
	n := 0
	for _, x := range times {
		if x.Before(t) {
			n++
		}
	}
	return n
}

func BenchmarkConversationWait(b *testing.B) {
	l := newConversationLimiter(newFakeClock(true))
	ctx := context.Background()
	convs := make([]string, 1000)
	for i := range convs {
		convs[i] = fmt.Sprint("conv-", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := l.Wait(ctx, "app", convs[i%len(convs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConversationTryAcquireParallel(b *testing.B) {
	l := NewConversationLimiter()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1 << 20)
		for pb.Next() {
			i++
			l.TryAcquire("app", fmt.Sprint("conv-", i%10000))
		}
	})
}
