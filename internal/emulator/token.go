package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// TokenSource is a bare client-credentials token source for tests of the Graph and Connector
// clients against the emulator: one POST to the token endpoint on every call, no cache. It
// has the shape of the operator's auth.TokenSource; the operator itself uses internal/auth.
type TokenSource struct {
	HTTPClient *http.Client
	// TokenURL is {Server.URL}/{tenant}/oauth2/v2.0/token.
	TokenURL string
	ClientID string
	Secret   string
	// Scope is the resource's .default scope, e.g. https://graph.microsoft.com/.default.
	Scope string
}

// Token asks the emulator for a token.
func (s TokenSource) Token(ctx context.Context) (string, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.ClientID},
		"client_secret": {s.Secret},
		"scope":         {s.Scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	return body.AccessToken, nil
}
