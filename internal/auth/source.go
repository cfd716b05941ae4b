package auth

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/teams-operator/teams-operator/internal/cloud"
)

// Refresh timing. A token is renewed when less than refreshMargin of its life is
// left (MSAL's own rule is five minutes), or half its life for short-lived
// tokens, so a 60 s emulator token is still reused for 30 s. A renewal that fails
// while the old token has more than staleGrace left returns the old token.
const (
	refreshMargin = 5 * time.Minute
	staleGrace    = time.Minute
)

// Options configure token acquisition.
type Options struct {
	// Endpoints give the authority host and the Graph and Bot scopes.
	Endpoints cloud.Endpoints
	// HTTPClient sends the token requests: the shared transport.New client
	// (nil builds a default one per credential).
	HTTPClient *http.Client
	// MaxEntries bounds a Cache (default 64).
	MaxEntries int

	now func() time.Time // tests
}

// Tokens are the two token sources of one set of credentials.
type Tokens struct {
	// Graph tokens come from the credentials' tenant for Endpoints.GraphScope.
	Graph TokenSource
	// Bot tokens come from BotTokenTenant for Endpoints.BotScope.
	Bot TokenSource
}

// New builds the token sources of creds without caching them across calls;
// controllers should use a Cache. No request is made until a token is asked for.
func New(creds Credentials, opts Options) (Tokens, error) {
	if opts.now == nil {
		opts.now = time.Now
	}
	byTenant := map[string]azcore.TokenCredential{}
	credFor := func(tenant string) (azcore.TokenCredential, error) {
		if c, ok := byTenant[tenant]; ok {
			return c, nil // one credential object per tenant, so azidentity's cache is shared
		}
		c, err := newAzureCredential(creds, tenant, opts)
		if err == nil {
			byTenant[tenant] = c
		}
		return c, err
	}
	graphCred, err := credFor(creds.TenantID)
	if err != nil {
		return Tokens{}, err
	}
	graphTokens := newTokenSource(graphCred, creds.TenantID, opts.Endpoints.GraphScope, opts.now)
	// Reset builds a fresh credential, so its (MSAL) token cache is empty too: a Graph
	// permission granted since the last token shows only in a new token.
	graphTokens.fresh = func() (azcore.TokenCredential, error) { return newAzureCredential(creds, creds.TenantID, opts) }
	botTenant := creds.BotTokenTenant
	if botTenant == "" {
		botTenant = creds.TenantID
	}
	botCred, err := credFor(botTenant)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{
		Graph: graphTokens,
		Bot:   newTokenSource(botCred, botTenant, opts.Endpoints.BotScope, opts.now),
	}, nil
}

var _ TokenSource = (*tokenSource)(nil)

// tokenSource caches one token and renews it before it expires. One renewal runs
// at a time; other callers wait for it (or for their context).
type tokenSource struct {
	cred   azcore.TokenCredential
	tenant string
	scope  string
	now    func() time.Time

	renewing chan struct{} // a one-slot semaphore
	// fresh builds a new credential for Reset; nil: Reset only drops the held token.
	fresh func() (azcore.TokenCredential, error)

	mu       sync.RWMutex
	token    azcore.AccessToken
	obtained time.Time
}

// Resetter is a TokenSource that can drop what it holds, so that the next Token is newly
// issued: Graph reads application permissions from the token's roles claim, so a permission
// granted after a token was issued shows only in a new one.
type Resetter interface {
	Reset()
}

// Reset drops the held token and, when it can, the credential (and its token cache).
func (s *tokenSource) Reset() {
	var cred azcore.TokenCredential
	if s.fresh != nil {
		if c, err := s.fresh(); err == nil {
			cred = c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.obtained = azcore.AccessToken{}, time.Time{}
	if cred != nil {
		s.cred = cred
	}
}

func newTokenSource(cred azcore.TokenCredential, tenant, scope string, now func() time.Time) *tokenSource {
	return &tokenSource{cred: cred, tenant: tenant, scope: scope, now: now, renewing: make(chan struct{}, 1)}
}

// Token returns a bearer token, renewing it when it is close to expiry.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.cached(false); ok {
		return tok, nil
	}
	select {
	case s.renewing <- struct{}{}:
		defer func() { <-s.renewing }()
	case <-ctx.Done():
		return "", &TokenError{TenantID: s.tenant, Scope: s.scope, detail: ctx.Err().Error(), cause: ctx.Err()}
	}
	if tok, ok := s.cached(false); ok {
		return tok, nil // renewed while we waited
	}
	return s.renew(ctx)
}

func (s *tokenSource) renew(ctx context.Context) (string, error) {
	ctx, rec := withExchange(ctx)
	s.mu.RLock()
	cred := s.cred
	s.mu.RUnlock()
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.scope}})
	if err != nil {
		if tok, ok := s.cached(true); ok {
			return tok, nil
		}
		return "", tokenError(ctx, s.tenant, s.scope, rec)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.obtained = at, s.now()
	return at.Token, nil
}

// cached returns the held token if it needs no renewal, or, with stale set, if it
// is merely still usable.
func (s *tokenSource) cached(stale bool) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.token.Token == "" {
		return "", false
	}
	now := s.now()
	if stale {
		return s.token.Token, now.Before(s.token.ExpiresOn.Add(-staleGrace))
	}
	// Never later than MSAL's five minutes, so when we ask, azidentity really
	// fetches a new token instead of handing back the one we hold.
	margin := min(refreshMargin, s.token.ExpiresOn.Sub(s.obtained)/2)
	return s.token.Token, now.Before(s.token.ExpiresOn.Add(-margin))
}
