package botendpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/teams-operator/teams-operator/internal/botframework"
)

// The checks of "Authenticate requests from the Bot Connector service to your bot"
// (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
//  1. the token is in the Authorization header with the Bearer scheme;
//  2. it is a JWT signed with RS256 ("id_token_signing_alg_values_supported") by a key of the
//     OpenID metadata's jwks_uri;
//  3. its issuer is the cloud's Bot Framework issuer (https://api.botframework.com);
//  4. its audience is the bot's Microsoft App ID;
//  5. it is within its lifetime, with the industry-standard 5 minutes of clock skew;
//  6. the signing key's endorsements include the activity's channelId (else 403);
//  7. its serviceUrl claim equals the activity's serviceUrl.
// The operator adds: the activity's recipient is that bot ("28:{appId}"), the bot is one the
// operator holds credentials for, and the serviceUrl passes the service URL policy before it is
// stored or used.

// clockSkew is the allowed clock difference on exp and nbf.
const clockSkew = 5 * time.Minute

// Reasons a request is refused (metric label reason): a fixed set, never a value from the request.
const (
	ReasonNoToken          = "no_token"
	ReasonMalformedToken   = "malformed_token"
	ReasonAlgorithm        = "algorithm"
	ReasonUnknownKey       = "unknown_key"
	ReasonKeysUnavailable  = "keys_unavailable"
	ReasonSignature        = "signature"
	ReasonExpired          = "expired"
	ReasonNotYetValid      = "not_yet_valid"
	ReasonIssuer           = "issuer"
	ReasonAudience         = "audience"
	ReasonUnknownBot       = "unknown_bot"
	ReasonEndorsement      = "endorsement"
	ReasonServiceURLClaim  = "service_url_claim"
	ReasonServiceURLPolicy = "service_url_policy"
	ReasonTooLarge         = "too_large"
	ReasonMalformed        = "malformed"
	ReasonMethod           = "method"
	ReasonUnavailable      = "unavailable"
)

var refusalReasons = []string{ReasonNoToken, ReasonMalformedToken, ReasonAlgorithm, ReasonUnknownKey, ReasonKeysUnavailable,
	ReasonSignature, ReasonExpired, ReasonNotYetValid, ReasonIssuer, ReasonAudience, ReasonUnknownBot, ReasonEndorsement,
	ReasonServiceURLClaim, ReasonServiceURLPolicy, ReasonTooLarge, ReasonMalformed, ReasonMethod, ReasonUnavailable}

// Refusal is a request the endpoint does not act on: the HTTP status and a fixed reason.
type Refusal struct {
	Status int
	Reason string
	// detail is for the log only; it never holds the token or the body.
	detail string
}

func (r *Refusal) Error() string { return fmt.Sprintf("refused (%s): %s", r.Reason, r.detail) }

func refuse(status int, reason, detail string) *Refusal {
	return &Refusal{Status: status, Reason: reason, detail: detail}
}

// Bots says which bots the operator holds credentials for: a token for any other audience is
// refused even when Microsoft signed it.
type Bots interface {
	KnownBot(ctx context.Context, appID string) (bool, error)
}

// Verifier authenticates requests from the Bot Connector.
type Verifier struct {
	keys   *keySet
	issuer string
	bots   Bots
	policy *botframework.ServiceURLPolicy
	now    func() time.Time
}

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// MetadataURL is the Bot Connector's OpenID metadata (cloud.Endpoints.BotOpenIDMetadataURL).
	MetadataURL string
	// Issuer is the tokens' issuer (cloud.Endpoints.BotTokenIssuer).
	Issuer string
	// HTTPClient fetches the metadata and keys (redirects are not followed).
	HTTPClient *http.Client
	Bots       Bots
	Policy     *botframework.ServiceURLPolicy
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewVerifier checks o and returns a Verifier.
func NewVerifier(o VerifierOptions) (*Verifier, error) {
	if o.MetadataURL == "" || o.Issuer == "" || o.HTTPClient == nil || o.Bots == nil || o.Policy == nil {
		return nil, errors.New("bot endpoint verifier: MetadataURL, Issuer, HTTPClient, Bots and Policy are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{keys: newKeySet(o.MetadataURL, o.HTTPClient, o.Now), issuer: o.Issuer, bots: o.Bots, policy: o.Policy, now: o.Now}, nil
}

// tokenClaims are the claims the Bot Connector sets. The SDKs read the service URL claim as
// "serviceurl"; "serviceUrl" is accepted too, and when both are present both must match.
type tokenClaims struct {
	jwt.RegisteredClaims
	ServiceURL      string `json:"serviceurl,omitempty"`
	ServiceURLCamel string `json:"serviceUrl,omitempty"`
}

// Verify authenticates the request that carried a. It returns nil or a *Refusal.
func (v *Verifier) Verify(ctx context.Context, authorization string, a *Activity) *Refusal {
	raw, ok := bearer(authorization)
	if !ok {
		return refuse(http.StatusUnauthorized, ReasonNoToken, "no bearer token")
	}
	appID := a.BotAppID()
	if appID == "" {
		return refuse(http.StatusUnauthorized, ReasonAudience, "the activity's recipient is not a bot")
	}
	var endorsements []string
	claims := &tokenClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, v.keys.keyFor(ctx, &endorsements),
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(v.issuer), jwt.WithAudience(appID),
		jwt.WithLeeway(clockSkew), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now))
	if err != nil {
		return tokenRefusal(err)
	}
	if known, err := v.bots.KnownBot(ctx, appID); err != nil {
		return refuse(http.StatusServiceUnavailable, ReasonUnavailable, "looking up the bot's credentials: "+err.Error())
	} else if !known {
		return refuse(http.StatusUnauthorized, ReasonUnknownBot, "no credentials of the operator have the token's audience as client id")
	}
	if a.ChannelID == "" || !slices.Contains(endorsements, a.ChannelID) {
		// Microsoft: "If the endorsement is not present, your bot should reject the request by
		// returning an HTTP 403 (Forbidden) status code."
		return refuse(http.StatusForbidden, ReasonEndorsement, "the signing key is not endorsed for the activity's channel")
	}
	if claims.ServiceURL == "" && claims.ServiceURLCamel == "" ||
		claims.ServiceURL != "" && claims.ServiceURL != a.ServiceURL ||
		claims.ServiceURLCamel != "" && claims.ServiceURLCamel != a.ServiceURL {
		return refuse(http.StatusUnauthorized, ReasonServiceURLClaim, "the token's serviceUrl claim does not match the activity's")
	}
	if _, err := v.policy.Check(a.ServiceURL); err != nil {
		return refuse(http.StatusForbidden, ReasonServiceURLPolicy, err.Error())
	}
	return nil
}

// bearer extracts the token of an "Authorization: Bearer ..." header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// tokenRefusal maps a jwt error to a reason. Every one is 401 except a failure to read the
// keys, which is ours (503: the Connector tries again).
func tokenRefusal(err error) *Refusal {
	reason := ReasonSignature
	switch {
	case errors.Is(err, errUnknownKey):
		reason = ReasonUnknownKey
	case errors.Is(err, errKeysUnavailable):
		return refuse(http.StatusServiceUnavailable, ReasonKeysUnavailable, err.Error())
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ReasonMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		reason = ReasonAlgorithm
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = ReasonAudience
	}
	return refuse(http.StatusUnauthorized, reason, err.Error())
}
