package outcome

import (
	"math/rand/v2"
	"time"
)

const (
	// MinWait and MaxWait bound every wait the operator schedules, Retry-After included.
	MinWait = time.Second
	MaxWait = time.Hour
	// maxBackoff caps the exponential backoff.
	maxBackoff = 5 * time.Minute
)

// Clamp is the one Retry-After clamp: it keeps a wait within [MinWait, MaxWait].
func Clamp(d time.Duration) time.Duration {
	return min(max(d, MinWait), MaxWait)
}

// Backoff is the wait before retry number attempts (1 after the first failure): 1 s doubling
// up to 5 min, with ±20 % jitter so that objects that failed together do not retry together.
// jitter is a number in [0, 1). Microsoft asks for exponential backoff where it names no time:
// https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit
// ("Handle rate limits for bots") and https://learn.microsoft.com/en-us/graph/throttling.
func Backoff(attempts int32, jitter float64) time.Duration {
	d := time.Second
	for i := int32(1); i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return Clamp(time.Duration(float64(d) * (0.8 + 0.4*jitter)))
}

// Jitter returns a random number in [0, 1) for Backoff.
func Jitter() float64 { return rand.Float64() } //nolint:gosec // timing jitter, not security

// RetryWait is how long to wait before trying again: the server's Retry-After, clamped, or
// without one the exponential backoff of the attempt (the one default for a 429 without
// Retry-After, whichever kind got it). attempt counts from 1.
func RetryWait(retryAfter time.Duration, attempt int32) time.Duration {
	if retryAfter > 0 {
		return Clamp(retryAfter)
	}
	return Backoff(max(attempt, 1), Jitter())
}
