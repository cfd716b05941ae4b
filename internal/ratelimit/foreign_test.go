package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestThrottledTellsForeign429sFromOwn(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock(true)
	l := newAppLimiter(clk, 100) // above Teams' 50: this process can cause 429s itself
	var warnings []string
	ctx := ctrl.LoggerInto(context.Background(), funcr.New(func(prefix, args string) {
		warnings = append(warnings, args)
	}, funcr.Options{}))

	// Nothing sent: a 429 is someone else's doing.
	g.Expect(l.Throttled(ctx, "app", "tenant")).To(BeTrue())
	g.Expect(warnings).To(HaveLen(1))
	g.Expect(warnings[0]).To(ContainSubstring("another cluster's manager or another program is using the same bot"))
	g.Expect(warnings[0]).To(ContainSubstring(`"sentInLastSecond"=0`))
	g.Expect(warnings[0]).To(ContainSubstring("--max-send-rps"))

	// Another one within the minute: still foreign, not warned again.
	clk.Advance(30 * time.Second)
	g.Expect(l.Throttled(ctx, "app", "tenant")).To(BeTrue())
	g.Expect(warnings).To(HaveLen(1))

	// This process sends 60 in the last second: the 429 is its own.
	clk.Advance(time.Minute)
	for range 60 {
		g.Expect(l.Wait(ctx, "app", "tenant")).To(Succeed())
	}
	g.Expect(l.Throttled(ctx, "app", "tenant")).To(BeFalse())
	g.Expect(warnings).To(HaveLen(1))

	// Another tenant of the same app has its own count and its own warning.
	g.Expect(l.Throttled(ctx, "app", "other")).To(BeTrue())
	g.Expect(warnings).To(HaveLen(2))
	g.Expect(strings.Join(warnings, "\n")).To(ContainSubstring(`"tenantId"="other"`))
}
