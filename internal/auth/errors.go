package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrTokenRejected is matched (errors.Is) by a TokenError whose request the
// authority answered with a 4xx: the credentials or their configuration are wrong
// and retrying will not help until they change.
var ErrTokenRejected = errors.New("token request rejected")

// TokenError is a failed token acquisition. Its message holds no secret,
// assertion, token, trace or correlation id: the tenant, then the OAuth error code
// and AADSTS numbers (with a hint for common ones), or the HTTP status, or, when
// there was no response, the transport error (which names the authority URL).
type TokenError struct {
	TenantID string
	Scope    string
	// StatusCode is the authority's HTTP status, 0 when there was no response.
	StatusCode int
	// Code is the OAuth error ("invalid_client"), when the authority sent one.
	Code string
	// AADSTS are Entra's error numbers (7000215 for a wrong client secret).
	AADSTS []int

	detail string
	cause  error
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "acquiring token for tenant %s: ", e.TenantID)
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
		for _, n := range e.AADSTS {
			fmt.Fprintf(&b, " (AADSTS%d)", n)
		}
		if hint := aadstsHint(e.AADSTS); hint != "" {
			b.WriteString(": " + hint)
		}
	case e.detail != "":
		b.WriteString(e.detail)
	default:
		b.WriteString("token request failed")
	}
	return b.String()
}

// Unwrap returns only causes that are safe to print: context errors, our own
// transport and file errors, or ErrTokenRejected. Never azidentity's error.
func (e *TokenError) Unwrap() error { return e.cause }

// Temporary reports whether retrying later may succeed (no response, throttling,
// a server error) as opposed to a rejection of the credentials.
func (e *TokenError) Temporary() bool {
	return e.StatusCode == 0 || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// aadstsHint explains the codes operators meet most when setting credentials up.
func aadstsHint(codes []int) string {
	for _, c := range codes {
		if h, ok := aadstsHints[c]; ok {
			return h
		}
	}
	return ""
}

var aadstsHints = map[int]string{
	7000215: "the client secret is wrong",
	7000222: "the client secret has expired",
	700016:  "no application with this client id in the tenant",
	90002:   "the tenant does not exist",
	900023:  "the tenant id is not valid",
	700027:  "the certificate is not registered on the application or the assertion is invalid",
	700024:  "the client assertion is outside its validity window",
	700213:  "no federated identity credential matches the service account token",
	700211:  "no federated identity credential matches the token issuer",
	70011:   "the scope is not valid",
	7000112: "the application is disabled",
	500011:  "the resource is not available in the tenant",
}

// tokenError describes a failed GetToken from what our transport recorded, never
// from err's text, which can contain response bodies (and, for a malformed token
// response, the token itself).
func tokenError(ctx context.Context, tenant, scope string, rec *exchange) error {
	e := &TokenError{TenantID: tenant, Scope: scope}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		e.detail, e.cause = ctx.Err().Error(), ctx.Err()
	case rec.err != nil:
		e.detail, e.cause = rec.err.Error(), rec.err
	case rec.status >= 300:
		e.StatusCode, e.Code, e.AADSTS = rec.status, rec.code, rec.aadsts
		e.detail = fmt.Sprintf("the authority answered HTTP %d", rec.status)
		if rec.status < 500 && rec.status != http.StatusTooManyRequests {
			e.cause = ErrTokenRejected
		}
	case rec.operation == "openidConfiguration":
		e.StatusCode = rec.status
		e.detail = "the authority's OpenID configuration was not usable (missing endpoints, or an issuer on another host)"
	case rec.operation == "token":
		e.StatusCode = rec.status
		e.detail = "the authority's token response could not be read"
	}
	return e
}
