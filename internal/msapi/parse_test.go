package msapi

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := map[string]struct {
		header string
		want   time.Duration
		ok     bool
	}{
		"empty":                 {header: "", ok: false},
		"blank":                 {header: "   ", ok: false},
		"whole seconds":         {header: "10", want: 10 * time.Second, ok: true},
		"whole seconds padded":  {header: " 2 ", want: 2 * time.Second, ok: true},
		"fractional (Graph)":    {header: "2.128", want: 2128 * time.Millisecond, ok: true},
		"fraction below one":    {header: "0.5", want: 500 * time.Millisecond, ok: true},
		"zero":                  {header: "0", want: 0, ok: true},
		"negative clamps to 0":  {header: "-5", want: 0, ok: true},
		"above an hour clamps":  {header: "7200", want: MaxRetryAfter, ok: true},
		"huge clamps":           {header: "1e300", want: MaxRetryAfter, ok: true},
		"infinity clamps":       {header: "+Inf", want: MaxRetryAfter, ok: true},
		"NaN is refused":        {header: "NaN", ok: false},
		"http date in future":   {header: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second, ok: true},
		"http date in past":     {header: now.Add(-time.Minute).Format(http.TimeFormat), want: 0, ok: true},
		"http date far ahead":   {header: now.Add(48 * time.Hour).Format(http.TimeFormat), want: MaxRetryAfter, ok: true},
		"RFC 850 date":          {header: now.Add(30 * time.Second).Format(time.RFC850), want: 30 * time.Second, ok: true},
		"ANSI C date":           {header: now.Add(5 * time.Second).Format(time.ANSIC), want: 5 * time.Second, ok: true},
		"garbage":               {header: "soon", ok: false},
		"seconds with unit":     {header: "10s", ok: false},
		"date in another shape": {header: "2026-03-01T12:00:10Z", ok: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, ok := ParseRetryAfter(tc.header, now)
			g.Expect(ok).To(Equal(tc.ok))
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestClampSecondsNeverOverflows(t *testing.T) {
	g := NewWithT(t)
	g.Expect(clampSeconds(math.MaxFloat64)).To(Equal(MaxRetryAfter))
	g.Expect(clampSeconds(math.Inf(-1))).To(Equal(time.Duration(0)))
}

func response(status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header}
}

func TestFromResponse(t *testing.T) {
	blocked := `{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`
	tests := map[string]struct {
		api         string
		status      int
		header      http.Header
		body        string
		want        APIError
		wantErrText string
	}{
		"graph forbidden with innerError": {
			api:    APIGraph,
			status: 403,
			header: http.Header{"Request-Id": {"11111111-aaaa"}, "Client-Request-Id": {"cr-1"}},
			body: `{"error":{"code":"Forbidden","message":"Caller is not authorized.","innerError":{"date":"2026-03-01T12:00:00",` +
				`"request-id":"22222222-bbbb","client-request-id":"cr-1"}}}`,
			want:        APIError{Code: "Forbidden", Message: "Caller is not authorized.", RequestID: "11111111-aaaa", ClientRequestID: "cr-1"},
			wantErrText: "graph installApp: HTTP 403 Forbidden: Caller is not authorized.",
		},
		"graph request id only in the body": {
			api:         APIGraph,
			status:      404,
			body:        `{"error":{"code":"NotFound","message":"Not found","innererror":{"code":"AppNotFound","request-id":"rid-9"}}}`,
			want:        APIError{Code: "NotFound", InnerCode: "AppNotFound", Message: "Not found", RequestID: "rid-9"},
			wantErrText: "graph installApp: HTTP 404 NotFound: Not found",
		},
		"graph throttled with fractional Retry-After": {
			api:    APIGraph,
			status: 429,
			header: http.Header{"Retry-After": {"2.128"}},
			body: `{"error":{"code":"TooManyRequests","message":"Please retry again later.",` +
				`"innerError":{"code":"429","status":"429","date":"2026-03-01T12:00:00","request-id":"x","message":"Please retry after"}}}`,
			want:        APIError{Code: "TooManyRequests", InnerCode: "429", Message: "Please retry again later.", RequestID: "x", RetryAfter: 2128 * time.Millisecond, HasRetryAfter: true},
			wantErrText: "graph installApp: HTTP 429 TooManyRequests: Please retry again later.",
		},
		"connector error shape": {
			api:         APIBotFramework,
			status:      403,
			header:      http.Header{"X-Correlating-Operationid": {"op-1"}},
			body:        `{"error":{"code":"BotNotInConversationRoster","message":"The bot isn't part of the conversation roster."}}`,
			want:        APIError{Code: "BotNotInConversationRoster", Message: "The bot isn't part of the conversation roster.", RequestID: "op-1"},
			wantErrText: "botframework installApp: HTTP 403 BotNotInConversationRoster: The bot isn't part of the conversation roster.",
		},
		"connector blocked 209 shape": {
			api:         APIBotFramework,
			status:      403,
			body:        blocked,
			want:        APIError{Code: "MessageWritesBlocked", InnerCode: "209", Message: "Thread is blocked from message writes."},
			wantErrText: "botframework installApp: HTTP 403 MessageWritesBlocked: Thread is blocked from message writes.",
		},
		"connector 209 with a plain message": {
			api:    APIBotFramework,
			status: 403,
			body:   `{"errorCode":"209","message":"Thread is blocked"}`,
			want:   APIError{InnerCode: "209", Message: "Thread is blocked"},
		},
		"connector 209 with broken nested JSON": {
			api:    APIBotFramework,
			status: 403,
			body:   `{"errorCode":209,"message":"{\"subCode\": \"MessageWr"}`,
			want:   APIError{InnerCode: "209", Message: `{"subCode": "MessageWr`},
		},
		"connector nested error object": {
			api:    APIBotFramework,
			status: 500,
			body:   `{"message":"{\"error\":{\"code\":\"ServiceError\",\"message\":\"Unknown\"}}"}`,
			want:   APIError{Code: "ServiceError", Message: "Unknown"},
		},
		"empty body": {
			api:         APIBotFramework,
			status:      502,
			want:        APIError{},
			wantErrText: "botframework installApp: HTTP 502",
		},
		"html body": {
			api:         APIGraph,
			status:      504,
			header:      http.Header{"Content-Type": {"text/html; charset=utf-8"}},
			body:        "<html><body>Gateway Timeout. Ref A: 123 Ref C: 2026-03-01T12:00:00Z</body></html>",
			want:        APIError{Message: "response body is not JSON (text/html)"},
			wantErrText: "graph installApp: HTTP 504: response body is not JSON (text/html)",
		},
		"truncated JSON": {
			api:    APIGraph,
			status: 500,
			body:   `{"error":{"code":"Internal`,
			want:   APIError{Message: "response body is not JSON"},
		},
		"JSON but not an object": {
			api:    APIGraph,
			status: 400,
			body:   `["x"]`,
			want:   APIError{Message: "response body is not JSON"},
		},
		"unknown object": {
			api:    APIGraph,
			status: 400,
			body:   `{"foo":"bar"}`,
			want:   APIError{},
		},
		"unparseable Retry-After is ignored": {
			api:    APIBotFramework,
			status: 429,
			header: http.Header{"Retry-After": {"later"}},
			body:   `{"error":{"code":"Throttled","message":"Too many requests"}}`,
			want:   APIError{Code: "Throttled", Message: "Too many requests"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := FromResponse(tc.api, "installApp", response(tc.status, tc.header), []byte(tc.body), now)
			want := tc.want
			want.API, want.Operation, want.Status = tc.api, "installApp", tc.status
			g.Expect(*got).To(Equal(want))
			if tc.wantErrText != "" {
				g.Expect(got.Error()).To(Equal(tc.wantErrText))
			}
		})
	}
}

func TestFromResponseTakesClientRequestIDFromTheRequest(t *testing.T) {
	g := NewWithT(t)
	req, err := http.NewRequest(http.MethodGet, "https://graph.example/v1.0/x", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("client-request-id", "sent-id")
	resp := response(404, nil)
	resp.Request = req
	g.Expect(FromResponse(APIGraph, "getUser", resp, nil, now).ClientRequestID).To(Equal("sent-id"))
}

func TestErrorTextIsStable(t *testing.T) {
	g := NewWithT(t)
	body := func(rid, date string) []byte {
		return []byte(`{"error":{"code":"BadRequest","message":"Failed to execute. request-id: ` + rid + ` Timestamp: ` + date +
			` bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl","innerError":{"request-id":"` + rid + `"}}}`)
	}
	a := FromResponse(APIGraph, "installApp", response(400, http.Header{"Request-Id": {"r1"}}), body("r1", "2026-03-01T12:00:00Z"), now)
	b := FromResponse(APIGraph, "installApp", response(400, http.Header{"Request-Id": {"r2"}}), body("r2", "2026-03-02T13:14:15.123Z"), now)
	g.Expect(a.Error()).To(Equal(b.Error()))
	g.Expect(a.Error()).NotTo(ContainSubstring("r1"))
	g.Expect(a.Error()).NotTo(ContainSubstring("eyJ"))
	g.Expect(a.Error()).NotTo(ContainSubstring("2026"))
	g.Expect(a.RequestID).To(Equal("r1"))
}

func TestStabilize(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"plain":             {in: "Caller is not authorized.", want: "Caller is not authorized."},
		"whitespace":        {in: "  a \r\n\t b  ", want: "a b"},
		"request id":        {in: "Failed. request-id: 0b1c, date: 2026-01-01", want: "Failed."},
		"AADSTS trailer":    {in: "AADSTS7000215: Invalid secret. Trace ID: abc Correlation ID: def Timestamp: 2026-01-01 10:00:00Z", want: "AADSTS7000215: Invalid secret."},
		"bare timestamp":    {in: "at 2026-01-01T10:00:00.1234567+00:00 it broke", want: "at it broke"},
		"jwt":               {in: "token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.sig was rejected", want: "token [redacted] was rejected"},
		"bearer":            {in: "header Bearer abc.def-ghi was rejected", want: "header Bearer [redacted] was rejected"},
		"control character": {in: "a\x00b\x1bc", want: "a b c"},
		"invalid utf8":      {in: "a\xffb", want: "ab"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(Stabilize(tc.in)).To(Equal(tc.want))
		})
	}
}

func TestStabilizeCapsLength(t *testing.T) {
	g := NewWithT(t)
	got := Stabilize(strings.Repeat("é", 1000))
	g.Expect(len(got)).To(BeNumerically("<=", maxMessageLen+len("…")))
	g.Expect(strings.HasSuffix(got, "…")).To(BeTrue())
	g.Expect(strings.ToValidUTF8(got, "?")).To(Equal(got))
}
