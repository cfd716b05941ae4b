package msapi

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxMessageLen caps APIError.Message: the message goes into conditions and
// events, and a service may put a whole HTML page in an error body.
const maxMessageLen = 512

// maxNestedMessages bounds how deep parseBody looks into JSON encoded as a
// string inside a message (the Connector's 403 "errorCode":209 shape nests it).
const maxNestedMessages = 3

// Request id headers, most specific first.
var requestIDHeaders = []string{"request-id", "X-Correlating-OperationId", "x-ms-request-id", "MS-CV"}

// FromResponse builds the *APIError for a non-2xx response. body is the response
// body, already read and capped by the caller; it may be empty, truncated or not
// JSON at all. now is used to turn an HTTP-date Retry-After into a duration.
func FromResponse(api, operation string, resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{API: api, Operation: operation, Status: resp.StatusCode}
	parseBody(e, body, resp.Header.Get("Content-Type"))
	for _, h := range requestIDHeaders {
		if v := resp.Header.Get(h); v != "" {
			e.RequestID = v
			break
		}
	}
	if v := resp.Header.Get("client-request-id"); v != "" {
		e.ClientRequestID = v
	} else if resp.Request != nil {
		e.ClientRequestID = resp.Request.Header.Get("client-request-id")
	}
	e.RetryAfter, e.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	if e.Status >= 300 && e.Status < 400 {
		// The clients never follow redirects: the token would go along.
		e.Message = "redirect refused"
	}
	return e
}

// errorBody covers both services' shapes:
//
//	Graph:     {"error":{"code","message","innerError":{"code","request-id","date",...}}}
//	Connector: {"error":{"code","message","innerHttpError":{...}}}
//	Connector: {"errorCode":209,"message":"<JSON string with subCode, details>"}
//
// encoding/json matches keys case-insensitively, so "innererror" works too.
type errorBody struct {
	Error *struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code      string `json:"code"`
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
	ErrorCode json.RawMessage `json:"errorCode"`
	SubCode   string          `json:"subCode"`
	Details   string          `json:"details"`
	Message   json.RawMessage `json:"message"`
	Code      string          `json:"code"`
}

func parseBody(e *APIError, body []byte, contentType string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var b errorBody
	if body[0] != '{' || json.Unmarshal(body, &b) != nil {
		e.Message = describeNonJSON(contentType)
		return
	}
	if b.Error != nil {
		e.Code = b.Error.Code
		e.Message = Stabilize(b.Error.Message)
		if b.Error.InnerError != nil {
			e.InnerCode = b.Error.InnerError.Code
			e.RequestID = b.Error.InnerError.RequestID
		}
		return
	}
	parseFlatBody(e, b, 0)
}

// parseFlatBody reads the Connector's {"errorCode":209,"message":"..."} shape, in
// which message may itself be JSON (with subCode and details), possibly nested.
func parseFlatBody(e *APIError, b errorBody, depth int) {
	if n := rawScalar(b.ErrorCode); n != "" && n != "null" && e.InnerCode == "" {
		e.InnerCode = n
	}
	if b.SubCode != "" {
		e.Code = b.SubCode
	} else if b.Code != "" && e.Code == "" {
		e.Code = b.Code
	}
	if b.Details != "" {
		e.Message = Stabilize(b.Details)
	}
	msg := rawString(b.Message)
	if msg == "" {
		return
	}
	var inner errorBody
	trimmed := strings.TrimSpace(msg)
	if depth < maxNestedMessages && strings.HasPrefix(trimmed, "{") && json.Unmarshal([]byte(trimmed), &inner) == nil {
		if inner.Error != nil {
			e.Code, e.Message = inner.Error.Code, Stabilize(inner.Error.Message)
			return
		}
		parseFlatBody(e, inner, depth+1)
		return
	}
	if e.Message == "" {
		e.Message = Stabilize(msg)
	}
}

// rawString decodes a JSON string; anything else yields "".
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// rawScalar renders a JSON number or string as text; anything else yields "".
func rawScalar(raw json.RawMessage) string {
	if s := rawString(raw); s != "" {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	return n.String()
}

// describeNonJSON names what came back instead of a JSON error, without
// repeating the body: proxies and gateways put request ids and dates in theirs.
func describeNonJSON(contentType string) string {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType == "" {
		return "response body is not JSON"
	}
	return "response body is not JSON (" + mediaType + ")"
}

var (
	jwtPattern    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	bearerPattern = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]+`)
	timeExpr      = `\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?`
	idPattern     = regexp.MustCompile(`(?i)\b(?:client[-_ ]?request[-_ ]?id|request[-_ ]?id|correlation[-_ ]?id|trace[-_ ]?id|operation[-_ ]?id|timestamp|date)"?\s*[:=]\s*"?(?:` + timeExpr + `|[^\s",;}]+)"?`)
	timePattern   = regexp.MustCompile(timeExpr)
	spacePattern  = regexp.MustCompile(`\s+`)
)

// Stabilize makes a service message fit for a condition: it drops request,
// correlation and trace ids, timestamps and anything that looks like a token,
// removes control characters, collapses whitespace and caps the length. The same
// failure then always produces the same text, so a status patch is not written
// for every retry.
func Stabilize(msg string) string {
	msg = strings.ToValidUTF8(msg, "")
	msg = jwtPattern.ReplaceAllString(msg, "[redacted]")
	msg = bearerPattern.ReplaceAllString(msg, "Bearer [redacted]")
	msg = idPattern.ReplaceAllString(msg, "")
	msg = timePattern.ReplaceAllString(msg, "")
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	msg = strings.TrimSpace(spacePattern.ReplaceAllString(msg, " "))
	msg = strings.TrimRight(msg, " ,;:")
	return truncate(msg, maxMessageLen)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// MaxRetryAfter is the longest wait ParseRetryAfter returns. A larger value (or
// a date far ahead) is more likely a broken header than a real instruction, and
// an hour matches the longest Teams rate-limit window and the controllers'
// longest requeue.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After header: whole seconds ("10"), fractional
// seconds ("2.128", which older Graph docs show) or an HTTP-date. The result is
// clamped to [0, MaxRetryAfter]: a date in the past or a negative number means
// "now". ok is false when the header is empty or unparseable.
func ParseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs != secs { // NaN
			return 0, false
		}
		return clampSeconds(secs), true
	}
	if t, err := http.ParseTime(h); err == nil {
		return clamp(t.Sub(now)), true
	}
	return 0, false
}

// clampSeconds clamps before converting, so huge or infinite values cannot
// overflow time.Duration.
func clampSeconds(secs float64) time.Duration {
	if secs <= 0 {
		return 0
	}
	if secs >= MaxRetryAfter.Seconds() {
		return MaxRetryAfter
	}
	return time.Duration(secs * float64(time.Second))
}

func clamp(d time.Duration) time.Duration {
	return min(max(d, 0), MaxRetryAfter)
}
