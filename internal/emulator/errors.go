//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// graphError writes Graph's error shape (reference 1.5; https://learn.microsoft.com/graph/errors):
// code, message and innerError with the request ids and date. extra fields go into innerError.
func (e *Emulator) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string, extra map[string]string) {
	inner := map[string]string{
		"date":              e.now().UTC().Format("2006-01-02T15:04:05"),
		"request-id":        infoFrom(r).requestID,
		"client-request-id": w.Header().Get("client-request-id"),
	}
	maps.Copy(inner, extra)
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}

// botError writes the Connector's ErrorResponse (reference 3.6;
// https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference).
func botError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// entraError writes an AADSTS error (reference 2.1;
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
func (e *Emulator) entraError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, msg string) {
	now := e.now().UTC()
	id := infoFrom(r).requestID
	desc := msg
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, msg)
	}
	desc += fmt.Sprintf(" Trace ID: %s Correlation ID: %s Timestamp: %s", id, id, now.Format("2006-01-02 15:04:05Z"))
	body := map[string]any{
		"error":             code,
		"error_description": desc,
		"error_codes":       []int{},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          id,
		"correlation_id":    id,
	}
	if aadsts != 0 {
		body["error_codes"] = []int{aadsts}
		body["error_uri"] = fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts)
	}
	writeJSON(w, status, body)
}

var graphCodes = map[int]string{
	400: "BadRequest", 401: codeInvalidToken, 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
	409: "Conflict", 412: "PreconditionFailed", 413: "RequestEntityTooLarge", 429: "TooManyRequests",
	500: "InternalServerError", 502: "BadGateway", 503: "ServiceNotAvailable", 504: "GatewayTimeout",
}

var botCodes = map[int]string{
	400: codeBadArgument, 401: "BotNotRegistered", 403: "Forbidden", 404: "ConversationNotFound",
	412: "PreconditionFailed", 413: "MessageSizeTooBig", 429: "Throttled", 500: "ServiceError", 502: "ServiceError",
	503: "ServiceUnavailable", 504: "GatewayTimeout",
}

var entraCodes = map[int]string{400: "invalid_request", 401: "invalid_client", 429: "temporarily_unavailable"}

// writeFault answers an injected error in the API's own error shape.
func (e *Emulator) writeFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	pick := func(m map[int]string, def string) string {
		if f.Code != "" {
			return f.Code
		}
		if c, ok := m[f.Status]; ok {
			return c
		}
		return def
	}
	switch infoFrom(r).api {
	case apiGraph:
		var extra map[string]string
		if f.Status == http.StatusTooManyRequests {
			extra = map[string]string{"code": "429", "status": "429", "message": "Please retry after"}
			if f.Message == "" {
				msg = "Please retry again later."
			}
		}
		e.graphError(w, r, f.Status, pick(graphCodes, "UnknownError"), msg, extra)
	case apiBot:
		botError(w, f.Status, pick(botCodes, "ServiceError"), msg)
	default:
		code := pick(entraCodes, "temporarily_unavailable")
		aadsts := 0
		if f.Status >= 500 {
			aadsts = 90033 // "A transient error has occurred. Please try again."
		}
		e.entraError(w, r, f.Status, code, aadsts, msg)
	}
}

// decodeJSONObject decodes a JSON object body into v.
func decodeJSONObject(b []byte, v any) error {
	if len(strings.TrimSpace(string(b))) == 0 {
		return fmt.Errorf("empty body")
	}
	return json.Unmarshal(b, v)
}

// timeJSON formats a time as Graph does.
func timeJSON(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
