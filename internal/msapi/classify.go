package msapi

import (
	"errors"
	"time"
)

// Reasons returned by Classify. They are UpperCamelCase so the controllers can
// map them to condition reasons one to one; each failure the reference tells
// apart has its own.
const (
	// Both APIs.
	ReasonThrottled          = "Throttled"          // 429: wait Retry-After
	ReasonPreconditionFailed = "PreconditionFailed" // 412: concurrent operations, back off
	ReasonServiceError       = "ServiceError"       // 500
	ReasonBadGateway         = "BadGateway"         // 502
	ReasonServiceUnavailable = "ServiceUnavailable" // 503
	ReasonGatewayTimeout     = "GatewayTimeout"     // 504
	ReasonNotFound           = "NotFound"           // 404 (Graph; Connector 404 with an unknown code)
	ReasonUnexpectedStatus   = "UnexpectedStatus"   // any status the reference does not list
	ReasonRequestFailed      = "RequestFailed"      // no response (network, TLS, timeout before sending)
	ReasonOutcomeUnknown     = "OutcomeUnknown"     // POST sent, no response: it may have taken effect
	ReasonInvalidArgument    = "InvalidArgument"    // refused by the client before any request

	// Microsoft Graph.
	ReasonBadRequest       = "BadRequest"       // 400
	ReasonPermissionDenied = "PermissionDenied" // 401, 403 ("Caller is not authorized.")
	ReasonConflict         = "Conflict"         // 409: already installed

	// Bot Framework Connector (the status table of https://learn.microsoft.com/en-us/microsoftteams/platform/bots/build-conversational-capability#status-codes-from-bot-conversational-apis).
	ReasonBadArgument            = "BadArgument"                // 400
	ReasonBotNotRegistered       = "BotNotRegistered"           // 401 BotNotRegistered
	ReasonUnauthorized           = "Unauthorized"               // 401 with another code (token audience, expired token)
	ReasonBotDisabledByAdmin     = "BotDisabledByAdmin"         // 403 BotDisabledByAdmin
	ReasonBotNotInRoster         = "BotNotInConversationRoster" // 403 BotNotInConversationRoster
	ReasonBlockedByUser          = "ConversationBlockedByUser"  // 403 ConversationBlockedByUser, or errorCode 209 MessageWritesBlocked
	ReasonBotNotInstalledForUser = "BotNotInstalledForUser"     // 403 ForbiddenOperationException
	ReasonInvalidBotAPIHost      = "InvalidBotApiHost"          // 403 InvalidBotApiHost: GCC tenant on the public host
	ReasonNotEnoughPermissions   = "NotEnoughPermissions"       // 403 NotEnoughPermissions
	ReasonForbidden              = "Forbidden"                  // 403 with another code
	ReasonConversationNotFound   = "ConversationNotFound"       // 404 ConversationNotFound
	ReasonActivityNotFound       = "ActivityNotFound"           // 404 ActivityNotFoundInConversation
	ReasonMessageTooLarge        = "MessageTooLarge"            // 413 MessageSizeTooBig

	// Set by the botframework package's own errors (through Classifier).
	ReasonServiceURLRefused = "ServiceURLRefused"          // the service URL policy refused the URL
	ReasonNoActivityID      = "DeliveredWithoutActivityID" // sent, but Teams returned no id (message splitting)
)

// graphInstallBadRequestAttempts bounds the retries of a Graph 400 on install:
// the reference (ISS-400) reports user installs that failed with 400 and then
// succeeded, but also team installs that fail with 400 every time.
const graphInstallBadRequestAttempts = 3

// Classification is what a caller should do about an error.
//
// Retry and Terminal are never both true. Both false means the caller must
// decide from context: OutcomeUnknown (was the message delivered?) and
// DeliveredWithoutActivityID (it was, but there is no id to keep).
type Classification struct {
	// Reason is one of the Reason constants.
	Reason string
	// Retry: the same call may succeed later.
	Retry bool
	// After is how long to wait before retrying, from Retry-After; zero means
	// "use your backoff".
	After time.Duration
	// MaxAttempts, when non-zero, marks a speculative retry: after this many
	// consecutive failures with the same reason, treat the error as terminal.
	MaxAttempts int
	// Terminal: retrying the same call cannot help; a person or a change of
	// spec, credentials or installation must fix it.
	Terminal bool
}

// Classifier lets an error that is not an *APIError classify itself (the
// service URL policy's error, a send without an activity id).
type Classifier interface {
	Classification() Classification
}

// Classify decides whether err is worth retrying, following Microsoft's tables: Graph's
// https://learn.microsoft.com/en-us/graph/errors and https://learn.microsoft.com/en-us/graph/throttling,
// and the Connector's status table (above). A nil error yields the zero value.
func Classify(err error) Classification {
	if err == nil {
		return Classification{}
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return classifyAPIError(apiErr)
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.Classification()
	}
	if errors.Is(err, ErrInvalidArgument) {
		return terminal(ReasonInvalidArgument)
	}
	if errors.Is(err, ErrNotFound) {
		return terminal(ReasonNotFound)
	}
	if IsOutcomeUnknown(err) {
		return Classification{Reason: ReasonOutcomeUnknown}
	}
	// Network errors, token acquisition failures, undecodable success bodies:
	// nothing says the next attempt fails too.
	return Classification{Reason: ReasonRequestFailed, Retry: true}
}

func classifyAPIError(e *APIError) Classification {
	if c, ok := classifyCommon(e); ok {
		return c
	}
	if e.API == APIBotFramework {
		return classifyConnector(e)
	}
	return classifyGraph(e)
}

// classifyCommon covers the statuses both services treat alike: throttling and
// the gateway family are retried, honouring Retry-After when it is given.
func classifyCommon(e *APIError) (Classification, bool) {
	var reason string
	switch e.Status {
	case 429:
		reason = ReasonThrottled
	case 412:
		reason = ReasonPreconditionFailed
	case 502:
		reason = ReasonBadGateway
	case 503:
		reason = ReasonServiceUnavailable
	case 504:
		reason = ReasonGatewayTimeout
	default:
		return Classification{}, false
	}
	return Classification{Reason: reason, Retry: true, After: e.RetryAfter}, true
}

// classifyConnector follows the Teams status table. Statuses it does not list
// are terminal: "Bots must avoid retrying status codes that aren't specified".
func classifyConnector(e *APIError) Classification {
	switch e.Status {
	case 400:
		return terminal(ReasonBadArgument)
	case 401:
		if e.Code == "BotNotRegistered" {
			return terminal(ReasonBotNotRegistered)
		}
		return terminal(ReasonUnauthorized)
	case 403:
		return terminal(connectorForbiddenReason(e))
	case 404:
		return terminal(connectorNotFoundReason(e))
	case 413:
		return terminal(ReasonMessageTooLarge)
	case 500:
		// Teams: "no (report)".
		return terminal(ReasonServiceError)
	}
	return terminal(ReasonUnexpectedStatus)
}

// connectorForbiddenReason tells the 403s apart. InvalidBotApiHost is terminal
// for this service URL: the fix is to call the tenant's cloud host instead,
// which is a configuration change, not a retry of the same request.
func connectorForbiddenReason(e *APIError) string {
	switch e.Code {
	case "ConversationBlockedByUser", "MessageWritesBlocked":
		return ReasonBlockedByUser
	case "BotNotInConversationRoster":
		return ReasonBotNotInRoster
	case "ForbiddenOperationException":
		return ReasonBotNotInstalledForUser
	case "BotDisabledByAdmin":
		return ReasonBotDisabledByAdmin
	case "InvalidBotApiHost":
		return ReasonInvalidBotAPIHost
	case "NotEnoughPermissions":
		return ReasonNotEnoughPermissions
	}
	// The odd {"errorCode":209,...} body of a blocked conversation, whatever
	// its nested message turned out to hold.
	if e.InnerCode == "209" {
		return ReasonBlockedByUser
	}
	return ReasonForbidden
}

func connectorNotFoundReason(e *APIError) string {
	switch e.Code {
	case "ConversationNotFound":
		return ReasonConversationNotFound
	case "ActivityNotFoundInConversation", "ActivityNotFound":
		return ReasonActivityNotFound
	}
	return ReasonNotFound
}

// classifyGraph follows Graph's error table. Unlike the Connector, a Graph 500
// is retried: the install APIs are idempotent (a repeat gives 409) and the
// controllers re-observe before acting.
func classifyGraph(e *APIError) Classification {
	switch e.Status {
	case 400:
		if e.Operation == "installApp" {
			// Reference 1.5 (ISS-400): a user install can fail with 400
			// and succeed on retry. Retry a little, then give up.
			return Classification{Reason: ReasonBadRequest, Retry: true, MaxAttempts: graphInstallBadRequestAttempts}
		}
		return terminal(ReasonBadRequest)
	case 401, 403:
		return terminal(ReasonPermissionDenied)
	case 404:
		return terminal(ReasonNotFound)
	case 409:
		return terminal(ReasonConflict)
	case 500:
		return Classification{Reason: ReasonServiceError, Retry: true, After: e.RetryAfter}
	}
	return terminal(ReasonUnexpectedStatus)
}

func terminal(reason string) Classification {
	return Classification{Reason: reason, Terminal: true}
}
