package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// regionalAuthorityEnv makes MSAL send token requests to a regional host
// ({region}.login.microsoft.com), or probe the Azure instance metadata service
// with "TryAutoDetect", through an HTTP client we do not control.
const regionalAuthorityEnv = "AZURE_REGIONAL_AUTHORITY_NAME"

// newAzureCredential builds the azidentity credential for one tenant. The caller
// keeps the result: azidentity caches tokens per credential object.
func newAzureCredential(c Credentials, tenant string, opts Options) (azcore.TokenCredential, error) {
	if os.Getenv(regionalAuthorityEnv) != "" {
		return nil, fmt.Errorf("%s is set: regional Entra endpoints are not supported, the operator talks only to the authority host %s",
			regionalAuthorityEnv, opts.Endpoints.AuthorityHost)
	}
	co, err := clientOptions(opts)
	if err != nil {
		return nil, err
	}
	cred, err := credentialOfKind(c, tenant, co)
	if err != nil {
		// azidentity's construction errors hold no secret (they check the tenant
		// id and the certificate's shape), but say which credential failed.
		return nil, fmt.Errorf("creating %s credential for tenant %s: %w", c.Kind(), tenant, err)
	}
	return cred, nil
}

func clientOptions(opts Options) (azcore.ClientOptions, error) {
	at, err := newAuthorityTransport(opts.Endpoints.AuthorityHost, opts.HTTPClient)
	if err != nil {
		return azcore.ClientOptions{}, err
	}
	return azcore.ClientOptions{
		Cloud:     azcloud.Configuration{ActiveDirectoryAuthorityHost: opts.Endpoints.AuthorityHost},
		Transport: at,
		// One retry policy, not two: the shared transport already retries the
		// discovery GET on 502/503/504 and connection errors, and azcore's retries
		// on top would multiply attempts (9 for an unreachable host). A failed
		// token POST fails the reconcile, which requeues with backoff; nothing
		// was sent to Teams yet.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{ApplicationID: "teams-operator"},
	}, nil
}

// credentialOfKind returns a nil interface (not a typed nil) on error.
func credentialOfKind(c Credentials, tenant string, co azcore.ClientOptions) (azcore.TokenCredential, error) {
	switch c.Kind() {
	case "clientSecret":
		cred, err := azidentity.NewClientSecretCredential(tenant, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, err
		}
		return cred, nil
	case "certificate":
		certs, key, err := azidentity.ParseCertificates(bytes.Join([][]byte{c.CertificatePEM, c.KeyPEM}, []byte("\n")), nil)
		if err != nil {
			return nil, fmt.Errorf("parsing %q and %q: %w", KeyCertificate, KeyPrivateKey, ErrInvalidCredentials)
		}
		cred, err := azidentity.NewClientCertificateCredential(tenant, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, err
		}
		return cred, nil
	default:
		// Not WorkloadIdentityCredential: it caches the file's contents for
		// minutes, and the kubelet may have rotated the token by then.
		cred, err := azidentity.NewClientAssertionCredential(tenant, c.ClientID, tokenFileReader(c.FederatedTokenFile),
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, err
		}
		return cred, nil
	}
}

// tokenFileReader returns the assertion callback for workload identity. MSAL calls
// it only when it actually exchanges a token, so the file is read once per
// exchange and never cached.
func tokenFileReader(path string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		data, err := os.ReadFile(path) //nolint:gosec // G304: AZURE_FEDERATED_TOKEN_FILE, set by the platform, not a tenant
		if err == nil && len(bytes.TrimSpace(data)) == 0 {
			err = errors.New("the file is empty")
		}
		if err != nil {
			err = fmt.Errorf("reading the federated token file %s: %w", path, err)
			exchangeFrom(ctx).fail(err)
			return "", err
		}
		return string(bytes.TrimSpace(data)), nil
	}
}

// authorityTransport is the transport azidentity sends through. It refuses every
// host but the authority host (DESIGN.md: no request may reach
// login.microsoftonline.com, or anywhere else, unless configured), labels requests
// for the transport metrics, and records what the authority answered so errors can
// be described without azidentity's text, which quotes whole response bodies.
type authorityTransport struct {
	client *http.Client
	host   string
}

func newAuthorityTransport(authorityHost string, client *http.Client) (*authorityTransport, error) {
	u, err := url.Parse(authorityHost)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authority host %q must be an absolute https URL", authorityHost)
	}
	if client == nil {
		client = transport.New(transport.Options{})
	}
	return &authorityTransport{client: client, host: cloud.CanonicalHost(u)}, nil
}

func (t *authorityTransport) Do(req *http.Request) (*http.Response, error) {
	rec := exchangeFrom(req.Context())
	if req.URL.Scheme != "https" || cloud.CanonicalHost(req.URL) != t.host {
		err := fmt.Errorf("refusing to send a token request to %s://%s: only the authority host %s is allowed",
			req.URL.Scheme, req.URL.Host, t.host)
		rec.fail(err)
		return nil, err
	}
	op := "token"
	if req.Method == http.MethodGet {
		op = "openidConfiguration"
	}
	req = req.WithContext(transport.WithOperation(req.Context(), "entra", op))
	resp, err := t.client.Do(req) //nolint:gosec // G704: scheme and host were checked against the authority host above
	if err != nil {
		rec.fail(err)
		return nil, err
	}
	rec.response(op, resp)
	return resp, nil
}

// exchange is what one token acquisition saw on the wire: only facts that carry
// no secret (status, OAuth error code, AADSTS numbers, our own errors).
type exchange struct {
	mu        sync.Mutex
	operation string
	status    int
	code      string
	aadsts    []int
	err       error
}

type exchangeKey struct{}

func withExchange(ctx context.Context) (context.Context, *exchange) {
	rec := &exchange{}
	return context.WithValue(ctx, exchangeKey{}, rec), rec
}

// exchangeFrom returns the context's record, or a throwaway one.
func exchangeFrom(ctx context.Context) *exchange {
	if rec, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		return rec
	}
	return &exchange{}
}

func (e *exchange) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = err
}

// response notes the status and, for errors, the OAuth error fields. The body is
// read and put back for MSAL.
func (e *exchange) response(op string, resp *http.Response) {
	var code string
	var aadsts []int
	if resp.StatusCode >= 300 {
		data, _ := transport.ReadBody(resp, 64<<10)
		resp.Body = io.NopCloser(bytes.NewReader(data))
		code, aadsts = parseOAuthError(data)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.operation, e.status, e.code, e.aadsts, e.err = op, resp.StatusCode, code, aadsts, nil
}

// parseOAuthError reads the two stable fields of an Entra error; the description,
// trace and correlation ids and timestamps are left out on purpose.
func parseOAuthError(data []byte) (string, []int) {
	var body struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if json.Unmarshal(data, &body) != nil || !isOAuthCode(body.Error) {
		return "", nil
	}
	return body.Error, body.ErrorCodes
}

// isOAuthCode accepts the shape of OAuth error codes ("invalid_client"), so a
// server cannot smuggle arbitrary text into our messages through this field.
func isOAuthCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) < 0
}
