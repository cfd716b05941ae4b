// Package msapi holds what the Microsoft Graph and Bot Framework Connector clients
// share: the typed API error, Retry-After parsing and the classification of errors
// into retry, wait or give-up decisions.
package msapi

import (
	"errors"
	"fmt"
	"time"
)

// API names, as used by transport.WithOperation and in error messages.
const (
	APIGraph        = "graph"
	APIBotFramework = "botframework"
)

// ErrNotFound marks a lookup that succeeded but matched nothing (for example a
// catalog filter with an empty result). IsNotFound reports it like a 404.
var ErrNotFound = errors.New("not found")

// ErrInvalidArgument marks a call refused by the client before any request was
// made: an empty id, an unknown scope, a nil activity. Retrying cannot help.
var ErrInvalidArgument = errors.New("invalid argument")

// APIError is a non-2xx answer from Microsoft Graph or the Bot Framework Connector.
//
// Error() is stable for the same failure: it never contains request ids, dates or
// tokens, so it can go into a condition message. RequestID and ClientRequestID are
// for logs only.
type APIError struct {
	// API is APIGraph or APIBotFramework.
	API string
	// Operation is the lowerCamelCase operation name (see docs/dev/contracts.md).
	Operation string
	// Status is the HTTP status code.
	Status int
	// Code is the service's machine-readable code: error.code, or for the
	// Connector's odd 403 shape the subCode (e.g. "MessageWritesBlocked").
	Code string
	// InnerCode is Graph's innerError.code, or the Connector's numeric errorCode
	// (e.g. "209") when the body has that shape.
	InnerCode string
	// Message is the service's human-readable message, with ids, dates and
	// anything token-like removed and the length capped.
	Message string
	// RequestID is the service's request id (Graph request-id, Connector
	// X-Correlating-OperationId). Log it; never put it in status.
	RequestID string
	// ClientRequestID is the client-request-id the client sent (Graph).
	ClientRequestID string
	// RetryAfter is the parsed Retry-After header, clamped to [0, MaxRetryAfter].
	// Zero when the header is absent; see HasRetryAfter.
	RetryAfter time.Duration
	// HasRetryAfter reports whether a usable Retry-After header was present.
	HasRetryAfter bool
}

// Error returns "<api> <operation>: HTTP <status> <code>: <message>".
func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.API, e.Operation, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// RequestError is a call that got no HTTP response: connection refused, TLS
// failure, timeout, cancelled context. Error() drops the URL the standard library
// puts in its errors, so it stays short and stable.
type RequestError struct {
	API       string
	Operation string
	// OutcomeUnknown is true when a non-idempotent request (POST) was fully
	// written before the failure: the service may have acted on it, so sending it
	// again may duplicate a message.
	OutcomeUnknown bool
	Err            error
}

func (e *RequestError) Error() string {
	if e.OutcomeUnknown {
		return fmt.Sprintf("%s %s: outcome unknown, request was sent: %v", e.API, e.Operation, e.Err)
	}
	return fmt.Sprintf("%s %s: request failed: %v", e.API, e.Operation, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// AsAPIError returns the *APIError in err's chain, if any.
func AsAPIError(err error) (*APIError, bool) {
	var apiErr *APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}

// StatusOf returns the HTTP status of the *APIError in err's chain, or 0.
func StatusOf(err error) int {
	if apiErr, ok := AsAPIError(err); ok {
		return apiErr.Status
	}
	return 0
}

// IsNotFound reports a 404, or a lookup that matched nothing (ErrNotFound).
func IsNotFound(err error) bool {
	return StatusOf(err) == 404 || errors.Is(err, ErrNotFound)
}

// IsConflict reports a 409 (Graph: the app is already installed in the scope).
func IsConflict(err error) bool { return StatusOf(err) == 409 }

// IsForbidden reports a 403 of either API.
func IsForbidden(err error) bool { return StatusOf(err) == 403 }

// IsThrottled reports a 429, or a 503 that carries Retry-After (Graph sends that
// when it sheds load).
func IsThrottled(err error) bool {
	apiErr, ok := AsAPIError(err)
	if !ok {
		return false
	}
	return apiErr.Status == 429 || (apiErr.Status == 503 && apiErr.HasRetryAfter)
}

// IsTerminal reports an error that retrying will not fix (see Classify).
func IsTerminal(err error) bool { return Classify(err).Terminal }

// IsRetryable reports an error worth retrying, after Classify(err).After or a
// backoff (see Classify).
func IsRetryable(err error) bool { return Classify(err).Retry }

// IsOutcomeUnknown reports a non-idempotent request that was sent but got no
// answer: it may or may not have taken effect.
func IsOutcomeUnknown(err error) bool {
	var reqErr *RequestError
	return errors.As(err, &reqErr) && reqErr.OutcomeUnknown
}
