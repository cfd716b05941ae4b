// Package auth acquires Microsoft Entra app-only tokens for Microsoft Graph and
// the Bot Framework Connector.
//
// Credentials come from the credentials Secret (FromSecretData): a client secret,
// a certificate, or workload identity. A Cache hands controllers one pair of
// TokenSources (Tokens.Graph, Tokens.Bot) per distinct Secret contents, so tokens
// are reused across reconciles and a rotated Secret gets fresh credentials.
//
// # Why azidentity
//
// Token acquisition is the Azure SDK's azidentity (MSAL for Go underneath): it is
// the maintained implementation of Entra's protocol details (certificate
// assertions with PS256 and x5t#S256, token caching, error shapes), and it can be
// pointed where DESIGN.md needs:
//
//   - azcore cloud.Configuration.ActiveDirectoryAuthorityHost selects the
//     authority host, so sovereign clouds, proxies and the emulator work;
//   - DisableInstanceDiscovery stops MSAL from asking
//     https://login.microsoftonline.com/common/discovery/instance about a host
//     it does not know. MSAL still reads the tenant's OpenID configuration
//     ({authority}/{tenant}/v2.0/.well-known/openid-configuration) once per
//     credential object, from the authority host;
//   - ClientOptions.Transport carries the shared HTTP client, wrapped so that no
//     request can leave for another host (a discovery document naming a foreign
//     token endpoint is refused), and requests are labelled "entra" for metrics;
//   - workload identity uses ClientAssertionCredential with a callback that reads
//     the token file on every exchange (WorkloadIdentityCredential keeps the file
//     for minutes; the kubelet may have rotated it);
//   - AZURE_REGIONAL_AUTHORITY_NAME is refused: it would send requests to a
//     regional host, or probe the instance metadata service, outside our client.
//
// azidentity's error strings quote whole response bodies (and, for a malformed
// token response, the token). This package never uses them: errors are built
// from what its own transport saw (HTTP status, OAuth error code, AADSTS
// numbers), so no secret, assertion, token, trace or correlation id reaches an
// error (see TokenError).
//
// # Expiry
//
// Each TokenSource keeps its token and renews it when less than five minutes (or
// half the lifetime, for short-lived tokens) remain; MSAL's own cache uses the
// same five minutes, so a renewal always reaches the authority. One renewal runs
// at a time per source. When a renewal fails but the old token still has more
// than a minute left, the old token is returned.
package auth

import "context"

// TokenSource returns a bearer token for one resource (one scope). Implementations
// cache the token and refresh it before it expires; callers ask on every request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}
