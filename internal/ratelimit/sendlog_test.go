package ratelimit

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A request that took long may have reached Teams late, bunched with the ones
// sent after it: Acquire's requests count until their answer (less the
// shortest round trip seen), not from their send time alone.
func TestAppLimiterCountsARequestUntilItsAnswer(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 1) // one per second
	ctx := context.Background()

	// A quick request sets the shortest round trip: 10 ms.
	done, err := l.Acquire(ctx, "app", "tenant")
	g.Expect(err).NotTo(HaveOccurred())
	clk.Advance(10 * time.Millisecond)
	done()
	clk.Advance(time.Second + AppMargin)

	// A slow one: answered 300 ms after it left, so it may have arrived 290 ms late.
	done, err = l.Acquire(ctx, "app", "tenant")
	g.Expect(err).NotTo(HaveOccurred())
	sent := clk.Now()
	clk.Advance(300 * time.Millisecond)
	done()
	done() // a second call changes nothing

	clk.Advance(sent.Add(time.Second + AppMargin).Sub(clk.Now()))
	ok, delay := l.TryAcquire("app", "tenant")
	g.Expect(ok).To(BeFalse(), "one window after the send is too early")
	g.Expect(delay).To(Equal(290 * time.Millisecond))
	clk.Advance(delay)
	ok, _ = l.TryAcquire("app", "tenant")
	g.Expect(ok).To(BeTrue(), "one window after it may have arrived")
}

func TestAppLimiterHoldsAPlaceWhileInFlight(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newAppLimiter(clk, 2) // two per second
	ctx := context.Background()
	done1, err := l.Acquire(ctx, "app", "tenant")
	g.Expect(err).NotTo(HaveOccurred())
	clk.Advance(300 * time.Millisecond) // past the spacing of a half-full window (250 ms)
	done2, err := l.Acquire(ctx, "app", "tenant")
	g.Expect(err).NotTo(HaveOccurred())

	// Neither has an answer after 5 s: both may still reach Teams at any moment.
	clk.Advance(5 * time.Second)
	ok, _ := l.TryAcquire("app", "tenant")
	g.Expect(ok).To(BeFalse())

	// Waiters behind them go one window after the first answer.
	got := make(chan error, 1)
	go func() { got <- l.Wait(ctx, "app", "tenant") }()
	g.Eventually(func() int { return l.waiting("app", "tenant") }).Should(Equal(1))
	done1()
	g.Consistently(got, 50*time.Millisecond).ShouldNot(Receive())
	clk.Advance(time.Second + AppMargin)
	g.Eventually(got).Should(Receive(BeNil()))
	done2()
}

// Pauses (a worker busy elsewhere) leave slots that are caught up later, at
// most a window's worth, and never more than the window allows.
func TestAppLimiterCatchesUpAPause(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newAppLimiter(clk, 50)
	ctx := context.Background()
	start := clk.Now()
	var times []time.Time
	for i := 0; clk.Now().Sub(start) < 20*time.Second; i++ {
		if i%100 == 99 {
			clk.Advance(300 * time.Millisecond) // a pause every 100 requests
		}
		g.Expect(l.Wait(ctx, "app", "tenant")).To(Succeed())
		times = append(times, clk.Now())
	}
	g.Expect(times).To(respectWindows([]Window{{Count: 50, Period: time.Second}}, AppMargin))
	// 20 s at 50 per 1.01 s is 990; a limiter that spaced requests 1/50 s apart
	// would lose the pauses' 15 slots every 2.3 s (870 in all). Catching up
	// gradually (not in one burst) gets most of them back (960; a spacing of
	// the interval times the fill, not its fourth power, would get 905).
	g.Expect(len(times)).To(BeNumerically(">=", 955))
}

func TestConversationLimiterCountsARequestUntilItsAnswer(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(false)
	l := newConversationLimiter(clk, Window{Count: 1, Period: time.Second})
	ctx := context.Background()
	done, err := l.Acquire(ctx, "app", "conv")
	g.Expect(err).NotTo(HaveOccurred())
	clk.Advance(10 * time.Millisecond)
	done()
	clk.Advance(time.Second + Margin)

	// A first request on a new connection: the handshake makes it 200 ms slower.
	done, err = l.Acquire(ctx, "app", "conv")
	g.Expect(err).NotTo(HaveOccurred())
	clk.Advance(210 * time.Millisecond)
	done()
	clk.Advance(time.Second + Margin - 210*time.Millisecond)
	ok, delay := l.TryAcquire("app", "conv")
	g.Expect(ok).To(BeFalse())
	g.Expect(delay).To(Equal(200 * time.Millisecond))

	// In flight, a request holds its place however long it takes.
	clk.Advance(delay)
	done, err = l.Acquire(ctx, "app", "conv")
	g.Expect(err).NotTo(HaveOccurred())
	clk.Advance(time.Minute)
	ok, _ = l.TryAcquire("app", "conv")
	g.Expect(ok).To(BeFalse())
	done()
	clk.Advance(time.Second + Margin)
	ok, _ = l.TryAcquire("app", "conv")
	g.Expect(ok).To(BeTrue())
}

func TestRTTFloorFollowsTheRecentRoundTrips(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var f rttFloor
	g.Expect(f.get(now)).To(BeZero(), "nothing seen: no floor")
	f.observe(80*time.Millisecond, now)
	f.observe(90*time.Millisecond, now.Add(time.Second))
	g.Expect(f.get(now.Add(time.Second))).To(Equal(80 * time.Millisecond))
	now = now.Add(floorPeriod + time.Second)
	f.observe(120*time.Millisecond, now)
	g.Expect(f.get(now)).To(Equal(80*time.Millisecond), "the last period still counts")
	now = now.Add(floorPeriod)
	g.Expect(f.get(now)).To(Equal(120*time.Millisecond), "an older period no longer does")
	g.Expect(f.get(now.Add(2 * floorPeriod))).To(BeZero())
}

func TestSendLogForgetsWhatNoLongerCounts(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lg := sendLog{horizon: time.Second}
	a := lg.add(now)
	b := lg.add(now.Add(time.Millisecond))
	lg.answered(b, now.Add(10*time.Millisecond), 0)
	lg.prune(now.Add(time.Minute))
	g.Expect(lg.entries).To(HaveLen(2), "the oldest is in flight: it and the newer ones stay")
	lg.prune(now.Add(maxInFlight + 2*time.Second))
	g.Expect(lg.entries).To(BeEmpty(), "past maxInFlight an unanswered request is given up")
	_ = a
}
