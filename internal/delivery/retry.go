package delivery

import (
	"math/rand/v2"
	"time"
)

const (
	// MinWait and MaxWait bound every wait the operator schedules (Retry-After included).
	MinWait = time.Second
	MaxWait = time.Hour
	// maxBackoff caps the exponential backoff of 412/502/503/504.
	maxBackoff = 5 * time.Minute
)

// ClampWait keeps a wait within [MinWait, MaxWait].
func ClampWait(d time.Duration) time.Duration {
	return min(max(d, MinWait), MaxWait)
}

// Backoff is the wait before retry number attempts (1 after the first failure): 1 s doubling
// up to 5 min, with ±20 % jitter (reference 3.8: exponential backoff with random jitter) so
// messages that failed together do not retry together. jitter is a number in [0, 1).
func Backoff(attempts int32, jitter float64) time.Duration {
	d := time.Second
	for i := int32(1); i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return ClampWait(time.Duration(float64(d) * (0.8 + 0.4*jitter)))
}

// Jitter returns a random number in [0, 1) for Backoff.
func Jitter() float64 { return rand.Float64() } //nolint:gosec // timing jitter, not security
