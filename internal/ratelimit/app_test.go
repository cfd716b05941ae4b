package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAppLimiterNeverExceedsTheRate(t *testing.T) {
	for _, rps := range []float64{48, 50, 2.5, 1} {
		t.Run(fmt.Sprint(rps), func(t *testing.T) {
			g := NewWithT(t)
			clk := newFakeClock(true)
			l := newAppLimiter(clk, rps)
			start := clk.Now()
			var times []time.Time
			for clk.Now().Sub(start) < 30*time.Second {
				g.Expect(l.Wait(context.Background(), "app", "tenant")).To(Succeed())
				times = append(times, clk.Now())
			}
			// ceil(rps) per half-open second; the rate itself over the whole run.
			perSecond := int(rps)
			if float64(perSecond) < rps {
				perSecond++
			}
			g.Expect(times).To(respectWindows([]Window{{Count: perSecond, Period: time.Second}}, 0))
			// The window is widened by the margin: rps per (window + margin).
			w := windowOf(rps)
			want := rps * 30 * w.Period.Seconds() / (w.Period + AppMargin).Seconds()
			g.Expect(float64(len(times))).To(BeNumerically("~", want, 3), "saturates the allowed rate")
		})
	}
}

func TestAppLimiterUnderRandomConcurrentLoad(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newAppLimiter(clk, 48)
	rng := rand.New(rand.NewPCG(3, 4))
	times := map[string][]time.Time{}
	for range 5000 {
		clk.Advance(time.Duration(rng.ExpFloat64() * float64(15*time.Millisecond)))
		tenant := fmt.Sprint("tenant-", rng.IntN(2))
		g.Expect(l.Wait(context.Background(), "app", tenant)).To(Succeed())
		times[tenant] = append(times[tenant], clk.Now())
	}
	for tenant, ts := range times {
		g.Expect(ts).To(respectWindows([]Window{{Count: 48, Period: time.Second}}, 0), tenant)
	}
}

func TestAppLimiterTryAcquire(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 10)
	var times []time.Time
	for len(times) < 200 {
		ok, delay := l.TryAcquire("app", "tenant")
		if !ok {
			g.Expect(delay).To(BeNumerically(">", 0))
			g.Expect(delay).To(BeNumerically("<=", time.Second+AppMargin))
			clk.Advance(delay)
			continue
		}
		times = append(times, clk.Now())
	}
	g.Expect(times).To(respectWindows([]Window{{Count: 10, Period: time.Second}}, AppMargin))
	ok, _ := l.TryAcquire("app", "other-tenant")
	g.Expect(ok).To(BeTrue(), "tenants are independent")
}

func TestAppLimiterDeadlineTooShort(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 1)
	g.Expect(l.Wait(context.Background(), "app", "tenant")).To(Succeed())
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(500*time.Millisecond))
	defer cancel()
	err := l.Wait(ctx, "app", "tenant")
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
	// Nothing was counted: the next turn is still one window (and the margin)
	// after the first.
	clk.Advance(time.Second + AppMargin)
	ok, _ := l.TryAcquire("app", "tenant")
	g.Expect(ok).To(BeTrue())
}

func TestAppLimiterCancelledWaiterGivesBackItsTurn(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 1)
	g.Expect(l.Wait(context.Background(), "app", "tenant")).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, "app", "tenant") }()
	g.Eventually(clk.Pending).Should(Equal(1))
	cancel()
	g.Eventually(done).Should(Receive(MatchError(context.Canceled)))
	clk.Advance(time.Second + AppMargin)
	ok, _ := l.TryAcquire("app", "tenant")
	g.Expect(ok).To(BeTrue())
}

func TestAppLimiterWaitersInOrder(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 1)
	g.Expect(l.Wait(context.Background(), "app", "tenant")).To(Succeed())
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if l.Wait(context.Background(), "app", "tenant") == nil {
				order <- i
			}
		}()
		g.Eventually(func() int { return l.waiting("app", "tenant") }).Should(Equal(i + 1))
	}
	for i := range 3 {
		g.Eventually(clk.Pending).Should(Equal(1), "the dispatcher sleeps until the next slot")
		clk.Advance(time.Second + AppMargin)
		g.Eventually(order).Should(Receive(Equal(i)))
	}
}

func TestAppLimiterUnlimitedAndSweep(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	unlimited := newAppLimiter(clk, 0)
	for range 1000 {
		ok, _ := unlimited.TryAcquire("app", "tenant")
		g.Expect(ok).To(BeTrue())
	}

	l := newAppLimiter(clk, 5)
	for i := range 50 {
		g.Expect(l.Wait(context.Background(), "app", fmt.Sprint("tenant-", i))).To(Succeed())
	}
	g.Expect(l.size()).To(Equal(50))
	clk.Advance(appSweep + time.Second)
	g.Expect(l.Wait(context.Background(), "app", "new")).To(Succeed())
	g.Expect(l.size()).To(Equal(1))
}

func TestAppLimiterConcurrentRealTime(t *testing.T) {
	g := NewWithT(t)
	l := NewAppLimiter(1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := l.Wait(context.Background(), "app", "tenant"); err != nil {
					t.Errorf("Wait: %v", err)
				}
			}
		})
	}
	wg.Wait()
	ok, delay := l.TryAcquire("app", "tenant")
	g.Expect(ok || delay <= time.Millisecond+time.Microsecond).To(BeTrue())
}

func BenchmarkAppWait(b *testing.B) {
	l := newAppLimiter(newFakeClock(true), 48)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx, "app", "tenant"); err != nil {
			b.Fatal(err)
		}
	}
}
