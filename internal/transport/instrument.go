package transport

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
)

// requestIDHeaders are the response headers that identify a request to Microsoft
// support, with the log key each is written under.
var requestIDHeaders = []struct{ header, key string }{
	{"request-id", "requestId"},
	{"client-request-id", "clientRequestId"},
	{"X-Correlating-OperationId", "correlatingOperationId"},
}

// instrumentedTransport records metrics and a V(1) log line per HTTP exchange
// (each retry counts). It never looks at headers other than the request ids, nor
// at query strings or bodies, so no token or secret can reach a log.
type instrumentedTransport struct {
	next    http.RoundTripper
	metrics *metricSet
}

func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := OperationFrom(req.Context())
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	elapsed := time.Since(start)

	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.metrics.requests.WithLabelValues(op.API, op.Name, code).Inc()
	t.metrics.duration.WithLabelValues(op.API, op.Name).Observe(elapsed.Seconds())
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.metrics.throttled.WithLabelValues(op.API, op.Name).Inc()
	}
	logExchange(req, resp, err, op, elapsed)
	return resp, err
}

func logExchange(req *http.Request, resp *http.Response, err error, op Operation, elapsed time.Duration) {
	log := logr.FromContextOrDiscard(req.Context()).V(1)
	if !log.Enabled() {
		return
	}
	kv := []any{
		labelAPI, op.API, labelOperation, op.Name, "method", req.Method,
		"host", req.URL.Host, "path", req.URL.Path, "duration", elapsed,
	}
	if err != nil {
		log.Info("Microsoft API request failed", append(kv, "error", err.Error())...)
		return
	}
	kv = append(kv, "status", resp.StatusCode)
	for _, h := range requestIDHeaders {
		if v := resp.Header.Get(h.header); v != "" {
			kv = append(kv, h.key, v)
		}
	}
	log.Info("Microsoft API response", kv...)
}
