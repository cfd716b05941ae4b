package botendpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Key cache timing. The Bot Framework SDKs keep the OpenID metadata for a day and the keys for
// up to five days; Microsoft rotates keys with overlap ("Authenticate requests from the Bot
// Connector service", step 3: "The list of keys is relatively stable and may be cached").
const (
	keyRefreshInterval = 24 * time.Hour
	// unknownKeyRefresh is how often a token with an unknown key id may make us fetch again:
	// a rotated key appears at once, a flood of forged key ids costs at most one fetch.
	unknownKeyRefresh = 5 * time.Minute
	// retryWithoutKeys spaces the fetches while no key was ever read.
	retryWithoutKeys = 10 * time.Second
	maxMetadataBytes = 1 << 20
	fetchTimeout     = 10 * time.Second
)

// keySet holds the Bot Connector's signing keys and their endorsements, fetched from the
// OpenID metadata document (its jwks_uri), refreshed daily and when an unknown key id appears.
type keySet struct {
	metadataURL string
	hc          *http.Client
	now         func() time.Time

	mu           sync.Mutex
	kf           keyfunc.Keyfunc
	endorsements map[string][]string
	fetched      time.Time
	attempted    time.Time
}

func newKeySet(metadataURL string, hc *http.Client, now func() time.Time) *keySet {
	c := *hc
	// A redirect could lead the fetch anywhere; the metadata and keys are served directly.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &keySet{metadataURL: metadataURL, hc: &c, now: now}
}

var (
	errUnknownKey      = errors.New("the token's key id is not among the Bot Connector's signing keys")
	errKeysUnavailable = errors.New("the Bot Connector's signing keys could not be read")
)

// lookup returns the key function and the endorsements of kid, fetching the keys when they are
// missing, old, or do not have kid (at most once per unknownKeyRefresh).
func (k *keySet) lookup(ctx context.Context, kid string) (keyfunc.Keyfunc, []string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	_, known := k.endorsements[kid]
	need := k.kf == nil || !known || now.Sub(k.fetched) > keyRefreshInterval
	wait := unknownKeyRefresh
	if k.kf == nil {
		wait = retryWithoutKeys
	}
	if need && (k.attempted.IsZero() || now.Sub(k.attempted) > wait) {
		k.attempted = now
		if err := k.fetch(ctx); err != nil && k.kf == nil {
			return nil, nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
		} // a failed refresh keeps the keys we have
	}
	if k.kf == nil {
		return nil, nil, errKeysUnavailable
	}
	e, ok := k.endorsements[kid]
	if !ok {
		return nil, nil, errUnknownKey
	}
	return k.kf, e, nil
}

// fetch reads the metadata, then the key set. Caller holds k.mu.
func (k *keySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := k.getJSON(ctx, k.metadataURL, &meta); err != nil {
		return fmt.Errorf("reading the Bot Connector's OpenID metadata: %w", err)
	}
	u, err := url.Parse(meta.JWKSURI)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("the Bot Connector's OpenID metadata has no https jwks_uri")
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := k.getJSON(ctx, u.String(), &set); err != nil {
		return fmt.Errorf("reading the Bot Connector's signing keys: %w", err)
	}
	store, endorsements := parseKeys(ctx, set.Keys)
	if len(endorsements) == 0 {
		return errors.New("the Bot Connector's key set has no usable key")
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store})
	if err != nil {
		return err
	}
	k.kf, k.endorsements, k.fetched = kf, endorsements, k.now()
	return nil
}

// parseKeys keeps the keys jwkset can read, each with its endorsements (the channels the key
// may sign activities for: the Bot Framework extension of JWK). A key without a kid is useless
// here (endorsements are looked up by kid), so it is skipped.
func parseKeys(ctx context.Context, raws []json.RawMessage) (jwkset.Storage, map[string][]string) {
	store := jwkset.NewMemoryStorage()
	endorsements := map[string][]string{}
	for _, raw := range raws {
		var ext struct {
			KID          string   `json:"kid"`
			Endorsements []string `json:"endorsements"`
		}
		if json.Unmarshal(raw, &ext) != nil || ext.KID == "" {
			continue
		}
		jwk, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		if store.KeyWrite(ctx, jwk) != nil {
			continue
		}
		endorsements[ext.KID] = append([]string{}, ext.Endorsements...)
	}
	return store, endorsements
}

func (k *keySet) getJSON(ctx context.Context, rawURL string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return errors.New("invalid URL")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxMetadataBytes {
		return fmt.Errorf("answer larger than %d bytes", maxMetadataBytes)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errors.New("answer is not valid JSON")
	}
	return nil
}

// keyFor is the jwt.Keyfunc of one verification: it requires a string kid, records the key's
// endorsements, and hands the rest (alg of the key, key type) to keyfunc.
func (k *keySet) keyFor(ctx context.Context, endorsements *[]string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("the token has no key id")
		}
		kf, e, err := k.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		*endorsements = e
		return kf.KeyfuncCtx(ctx)(t)
	}
}
