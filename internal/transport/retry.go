package transport

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// retryTransport retries idempotent requests on 502, 503, 504 and on errors that
// came before any response. Everything else, including 429 (the callers own
// rate-limit handling and requeue) and every POST or PATCH, goes through once.
type retryTransport struct {
	next          http.RoundTripper
	maxRetries    int
	baseDelay     time.Duration
	maxRetryAfter time.Duration
	sleep         func(context.Context, time.Duration) error // replaced in tests
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.maxRetries == 0 || !replayable(req) {
		return t.next.RoundTrip(req)
	}
	attempt := req
	for retry := 0; ; retry++ {
		resp, err := t.next.RoundTrip(attempt)
		delay, again := t.retryDelay(req.Context(), resp, err, retry)
		if !again {
			return resp, err
		}
		discard(resp)
		if err := t.sleep(req.Context(), delay); err != nil {
			return nil, err
		}
		if attempt, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// replayable reports whether req is idempotent and its body can be sent again.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryDelay decides whether to retry after the given outcome and how long to wait.
func (t *retryTransport) retryDelay(ctx context.Context, resp *http.Response, err error, retry int) (time.Duration, bool) {
	if retry >= t.maxRetries || ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		return t.backoff(retry), true
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	after, ok := msapi.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case !ok:
		return t.backoff(retry), true
	case after > t.maxRetryAfter:
		return 0, false // too long to hold a worker: the caller decides
	default:
		return after, true
	}
}

// backoff is base·2^retry, scaled by a random factor in [0.5, 1.5) so that
// clients that failed together do not retry together.
func (t *retryTransport) backoff(retry int) time.Duration {
	d := t.baseDelay << retry
	return time.Duration(float64(d) * (0.5 + rand.Float64())) //nolint:gosec // jitter needs no crypto
}

func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// discard drains a little of a response we will not return, so the connection
// can be reused, and closes it.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
