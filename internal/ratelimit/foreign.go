package ratelimit

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// TeamsAppLimit is Teams' documented limit per app per tenant, all Connector calls
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit).
const TeamsAppLimit = 50

// foreignWarnEvery spaces the warnings about 429s this process did not cause.
const foreignWarnEvery = time.Minute

// recentCap is how many admission times a queue keeps: more than TeamsAppLimit, so that a
// full second of them fits.
const recentCap = 2 * TeamsAppLimit

// Throttled is told of a 429 that Teams answered to a Connector call of (app, tenant). When
// this process sent fewer than Teams' limit in the second before, the 429 is not its own
// doing: another manager (another cluster), or another program, uses the same bot in the
// same tenant, and each assumes the whole rate. It then logs a warning, at most once a minute
// per app and tenant, that says how to divide the rate. It reports whether the 429 was
// foreign.
func (l *AppLimiter) Throttled(ctx context.Context, appID, tenantID string) bool {
	l.mu.Lock()
	now := l.clock.Now()
	q := l.queue(appKey{appID, tenantID}, now)
	sent := q.sentSince(now.Add(-time.Second - Margin))
	foreign := sent < TeamsAppLimit
	warn := foreign && now.Sub(q.lastForeignWarning) >= foreignWarnEvery
	if warn {
		q.lastForeignWarning = now
	}
	l.mu.Unlock()
	if warn {
		ctrl.LoggerFrom(ctx).Info("Warning: Teams throttled the bot (HTTP 429) while this manager sent fewer requests "+
			"than Teams allows: another cluster's manager or another program is using the same bot in this tenant. "+
			"Divide the rate between them: give each manager --max-send-rps (chart rateLimits.maxSendRPS) of at most "+
			"50 divided by the number of senders (docs/performance.md, \"Several clusters, one bot\")",
			"appId", appID, "tenantId", tenantID, "sentInLastSecond", sent, "teamsLimit", TeamsAppLimit)
	}
	return foreign
}

// remember notes an admission at t.
func (q *appQueue) remember(t time.Time) {
	if len(q.recent) < recentCap {
		q.recent = append(q.recent, t)
		return
	}
	q.recent[q.recentHead] = t
	q.recentHead = (q.recentHead + 1) % recentCap
}

// sentSince counts the admissions after since.
func (q *appQueue) sentSince(since time.Time) int {
	n := 0
	for _, t := range q.recent {
		if t.After(since) {
			n++
		}
	}
	return n
}
