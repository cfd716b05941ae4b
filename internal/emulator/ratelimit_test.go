package emulator

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestSlidingLogMatchesDefinition checks the limiter against the definition of
// docs/dev/contracts.md by brute force: a request at t is admitted iff, for every limit, fewer
// than N admitted requests lie in (t-W, t].
func TestSlidingLogMatchesDefinition(t *testing.T) {
	g := NewWithT(t)
	limits := []Limit{{Count: 7, Window: time.Second}, {Count: 8, Window: 2 * time.Second}, {Count: 60, Window: 30 * time.Second}}
	rng := rand.New(rand.NewPCG(1, 2))
	var l slidingLog
	var admitted []time.Time
	now := time.Unix(1_700_000_000, 0)
	for i := range 20000 {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		want := true
		var wantWait time.Duration
		for _, lim := range limits {
			n := 0
			var nth time.Time // the N-th most recent admitted
			for j := len(admitted) - 1; j >= 0 && now.Sub(admitted[j]) < lim.Window; j-- {
				n++
				if n == lim.Count {
					nth = admitted[j]
				}
			}
			if n >= lim.Count {
				want = false
				wantWait = max(wantWait, nth.Add(lim.Window).Sub(now))
			}
		}
		wait := l.admit(now, limits)
		g.Expect(wait).To(Equal(wantWait), "request %d at %v", i, now)
		if want {
			admitted = append(admitted, now)
		}
	}
}

func TestConversationRateLimit(t *testing.T) {
	v := newEnv(t, Options{AppRPS: 1000})
	g := NewWithT(t)
	v.install(ScopeUser, DefaultUserLynneID)
	tok := v.botToken()
	id := v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserLynneID)).str("id")
	send := func() *resp { return v.do("POST", conv(id), tok, text("x")) }
	expectThrottled := func(retryAfter string) {
		t.Helper()
		r := send()
		g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
		g.Expect(r.str("error", "code")).To(Equal("Throttled"))
		g.Expect(r.header.Get("Retry-After")).To(Equal(retryAfter))
	}

	// t=0: 7 per second.
	for range 7 {
		g.Expect(send().status).To(Equal(http.StatusCreated))
	}
	expectThrottled("1")
	// t=1s: the first window has passed, but 8 per 2 s allows one more.
	v.clock.Advance(time.Second)
	g.Expect(send().status).To(Equal(http.StatusCreated))
	expectThrottled("1")
	// t=2s: the 7 of t=0 left the 2 s window.
	v.clock.Advance(time.Second)
	for range 7 {
		g.Expect(send().status).To(Equal(http.StatusCreated))
	}
	expectThrottled("1")
	// Another conversation of the same bot is not affected; creating is a separate budget.
	v.install(ScopeUser, DefaultUserMeganID)
	other := v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserMeganID))
	g.Expect(other.status).To(Equal(http.StatusCreated))
	g.Expect(v.do("POST", conv(other.str("id")), tok, text("x")).status).To(Equal(http.StatusCreated))

	// 60 per 30 s: 15 sends so far; from t=4s go on at 4 per 1.2 s (within 7/1s and 8/2s).
	sent := 15
	v.clock.Advance(2*time.Second - 1200*time.Millisecond)
	for sent < 60 {
		v.clock.Advance(1200 * time.Millisecond)
		for range 4 {
			if sent < 60 {
				g.Expect(send().status).To(Equal(http.StatusCreated), "send %d", sent)
				sent++
			}
		}
	}
	v.clock.Advance(1200 * time.Millisecond)
	r := send()
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	// The oldest of the 60 was at t=0; the last batch was at 4 + 11×1.2 = 17.2 s, now is 18.4 s:
	// 11.6 s to wait, rounded up.
	g.Expect(r.header.Get("Retry-After")).To(Equal("12"))
}

func TestAppRateLimit(t *testing.T) {
	v := newEnv(t, Options{AppRPS: 5})
	g := NewWithT(t)
	tok := v.botToken()
	users := []string{DefaultUserAdeleID, DefaultUserAlexID, DefaultUserMeganID}
	ids := make([]string, 0, len(users))
	for _, u := range users {
		v.install(ScopeUser, u)
		ids = append(ids, v.do("POST", "/teams/v3/conversations", tok, personalParams(u)).str("id"))
	}
	// 3 creates, then 2 sends fill 5/s; the 6th call is throttled whatever the conversation.
	g.Expect(v.do("POST", conv(ids[0]), tok, text("x")).status).To(Equal(http.StatusCreated))
	g.Expect(v.do("POST", conv(ids[1]), tok, text("x")).status).To(Equal(http.StatusCreated))
	r := v.do("POST", conv(ids[2]), tok, text("x"))
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.header.Get("Retry-After")).To(Equal("1"))
	v.clock.Advance(time.Second)
	g.Expect(v.do("POST", conv(ids[2]), tok, text("x")).status).To(Equal(http.StatusCreated))
}
