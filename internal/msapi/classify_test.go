package msapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func connectorErr(status int, code string) error {
	return &APIError{API: APIBotFramework, Operation: "sendActivity", Status: status, Code: code}
}

func graphErr(op string, status int) error {
	return &APIError{API: APIGraph, Operation: op, Status: status}
}

type selfClassified struct{}

func (selfClassified) Error() string { return "self" }
func (selfClassified) Classification() Classification {
	return Classification{Reason: ReasonServiceURLRefused, Terminal: true}
}

func TestClassify(t *testing.T) {
	throttled := &APIError{API: APIBotFramework, Status: 429, Code: "Throttled", RetryAfter: 1500 * time.Millisecond, HasRetryAfter: true}
	graphBusy := &APIError{API: APIGraph, Status: 503, RetryAfter: 3 * time.Second, HasRetryAfter: true}
	blocked209 := &APIError{API: APIBotFramework, Status: 403, InnerCode: "209"}
	tests := map[string]struct {
		err  error
		want Classification
	}{
		"nil": {err: nil, want: Classification{}},

		// Connector, the Teams status table.
		"connector 400":                   {err: connectorErr(400, "BadArgument"), want: terminal(ReasonBadArgument)},
		"connector 400 BadSyntax":         {err: connectorErr(400, "BadSyntax"), want: terminal(ReasonBadArgument)},
		"connector 401 BotNotRegistered":  {err: connectorErr(401, "BotNotRegistered"), want: terminal(ReasonBotNotRegistered)},
		"connector 401 other":             {err: connectorErr(401, "Unauthorized"), want: terminal(ReasonUnauthorized)},
		"connector 403 disabled by admin": {err: connectorErr(403, "BotDisabledByAdmin"), want: terminal(ReasonBotDisabledByAdmin)},
		"connector 403 not in roster":     {err: connectorErr(403, "BotNotInConversationRoster"), want: terminal(ReasonBotNotInRoster)},
		"connector 403 blocked by user":   {err: connectorErr(403, "ConversationBlockedByUser"), want: terminal(ReasonBlockedByUser)},
		"connector 403 writes blocked":    {err: connectorErr(403, "MessageWritesBlocked"), want: terminal(ReasonBlockedByUser)},
		"connector 403 errorCode 209":     {err: blocked209, want: terminal(ReasonBlockedByUser)},
		"connector 403 not installed":     {err: connectorErr(403, "ForbiddenOperationException"), want: terminal(ReasonBotNotInstalledForUser)},
		"connector 403 GCC host":          {err: connectorErr(403, "InvalidBotApiHost"), want: terminal(ReasonInvalidBotAPIHost)},
		"connector 403 permissions":       {err: connectorErr(403, "NotEnoughPermissions"), want: terminal(ReasonNotEnoughPermissions)},
		"connector 403 unknown":           {err: connectorErr(403, ""), want: terminal(ReasonForbidden)},
		"connector 404 activity":          {err: connectorErr(404, "ActivityNotFoundInConversation"), want: terminal(ReasonActivityNotFound)},
		"connector 404 conversation":      {err: connectorErr(404, "ConversationNotFound"), want: terminal(ReasonConversationNotFound)},
		"connector 404 unknown":           {err: connectorErr(404, ""), want: terminal(ReasonNotFound)},
		"connector 412":                   {err: connectorErr(412, "PreconditionFailed"), want: Classification{Reason: ReasonPreconditionFailed, Retry: true}},
		"connector 413":                   {err: connectorErr(413, "MessageSizeTooBig"), want: terminal(ReasonMessageTooLarge)},
		"connector 429 with Retry-After":  {err: throttled, want: Classification{Reason: ReasonThrottled, Retry: true, After: 1500 * time.Millisecond}},
		"connector 429 without":           {err: connectorErr(429, "Throttled"), want: Classification{Reason: ReasonThrottled, Retry: true}},
		"connector 500 is terminal":       {err: connectorErr(500, "ServiceError"), want: terminal(ReasonServiceError)},
		"connector 502":                   {err: connectorErr(502, "ServiceError"), want: Classification{Reason: ReasonBadGateway, Retry: true}},
		"connector 503":                   {err: connectorErr(503, ""), want: Classification{Reason: ReasonServiceUnavailable, Retry: true}},
		"connector 504":                   {err: connectorErr(504, ""), want: Classification{Reason: ReasonGatewayTimeout, Retry: true}},
		"connector 405 unlisted":          {err: connectorErr(405, ""), want: terminal(ReasonUnexpectedStatus)},
		"connector 307 redirect":          {err: connectorErr(307, ""), want: terminal(ReasonUnexpectedStatus)},

		// Graph.
		"graph 400 on install is a limited retry": {err: graphErr("installApp", 400), want: Classification{Reason: ReasonBadRequest, Retry: true, MaxAttempts: 3}},
		"graph 400 elsewhere":                     {err: graphErr("listInstalledApps", 400), want: terminal(ReasonBadRequest)},
		"graph 401":                               {err: graphErr("getUser", 401), want: terminal(ReasonPermissionDenied)},
		"graph 403":                               {err: graphErr("installApp", 403), want: terminal(ReasonPermissionDenied)},
		"graph 404":                               {err: graphErr("getInstalledApp", 404), want: terminal(ReasonNotFound)},
		"graph 409":                               {err: graphErr("installApp", 409), want: terminal(ReasonConflict)},
		"graph 429":                               {err: graphErr("installApp", 429), want: Classification{Reason: ReasonThrottled, Retry: true}},
		"graph 500 is retried":                    {err: graphErr("installApp", 500), want: Classification{Reason: ReasonServiceError, Retry: true}},
		"graph 503 with Retry-After":              {err: graphBusy, want: Classification{Reason: ReasonServiceUnavailable, Retry: true, After: 3 * time.Second}},
		"graph 504":                               {err: graphErr("getUser", 504), want: Classification{Reason: ReasonGatewayTimeout, Retry: true}},
		"graph 418 unlisted":                      {err: graphErr("getUser", 418), want: terminal(ReasonUnexpectedStatus)},

		// Errors that are not API errors.
		"wrapped API error":   {err: fmt.Errorf("sending message: %w", connectorErr(413, "MessageSizeTooBig")), want: terminal(ReasonMessageTooLarge)},
		"self-classifying":    {err: fmt.Errorf("checking: %w", selfClassified{}), want: terminal(ReasonServiceURLRefused)},
		"invalid argument":    {err: fmt.Errorf("conversation id: %w", ErrInvalidArgument), want: terminal(ReasonInvalidArgument)},
		"empty lookup":        {err: fmt.Errorf("catalog app: %w", ErrNotFound), want: terminal(ReasonNotFound)},
		"network before send": {err: &RequestError{API: APIBotFramework, Err: errors.New("connection refused")}, want: Classification{Reason: ReasonRequestFailed, Retry: true}},
		"sent, no answer":     {err: &RequestError{API: APIBotFramework, OutcomeUnknown: true, Err: context.DeadlineExceeded}, want: Classification{Reason: ReasonOutcomeUnknown}},
		"anything else":       {err: errors.New("acquiring token: boom"), want: Classification{Reason: ReasonRequestFailed, Retry: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := Classify(tc.err)
			g.Expect(got).To(Equal(tc.want))
			g.Expect(got.Retry && got.Terminal).To(BeFalse(), "never both")
			g.Expect(IsTerminal(tc.err)).To(Equal(tc.want.Terminal))
			g.Expect(IsRetryable(tc.err)).To(Equal(tc.want.Retry))
		})
	}
}

func TestPredicates(t *testing.T) {
	notFound := fmt.Errorf("getting app: %w", graphErr("getInstalledApp", 404))
	tests := map[string]struct {
		err                                      error
		notFound, conflict, forbidden, throttled bool
		outcomeUnknown                           bool
	}{
		"nil":                         {err: nil},
		"plain error":                 {err: errors.New("x")},
		"404":                         {err: notFound, notFound: true},
		"ErrNotFound":                 {err: fmt.Errorf("x: %w", ErrNotFound), notFound: true},
		"409":                         {err: graphErr("installApp", 409), conflict: true},
		"403":                         {err: connectorErr(403, "BotDisabledByAdmin"), forbidden: true},
		"429":                         {err: connectorErr(429, ""), throttled: true},
		"503 with Retry-After":        {err: &APIError{API: APIGraph, Status: 503, HasRetryAfter: true}, throttled: true},
		"503 without Retry-After":     {err: &APIError{API: APIGraph, Status: 503}},
		"request error, not sent":     {err: &RequestError{Err: errors.New("x")}},
		"request error, sent (POST)":  {err: fmt.Errorf("sending: %w", &RequestError{OutcomeUnknown: true, Err: errors.New("x")}), outcomeUnknown: true},
		"request error wraps context": {err: &RequestError{Err: context.Canceled}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(IsNotFound(tc.err)).To(Equal(tc.notFound))
			g.Expect(IsConflict(tc.err)).To(Equal(tc.conflict))
			g.Expect(IsForbidden(tc.err)).To(Equal(tc.forbidden))
			g.Expect(IsThrottled(tc.err)).To(Equal(tc.throttled))
			g.Expect(IsOutcomeUnknown(tc.err)).To(Equal(tc.outcomeUnknown))
		})
	}
}

func TestRequestErrorText(t *testing.T) {
	g := NewWithT(t)
	err := &RequestError{API: APIBotFramework, Operation: "sendActivity", OutcomeUnknown: true, Err: context.DeadlineExceeded}
	g.Expect(err.Error()).To(Equal("botframework sendActivity: outcome unknown, request was sent: context deadline exceeded"))
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
}
