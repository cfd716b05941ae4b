// Package amapi is a small client for the three silence calls of Alertmanager's API v2
// (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml): create, get and
// expire a silence. It is a few JSON shapes over net/http rather than the generated go-openapi
// client, which would bring the go-openapi runtime, strfmt and validate modules into the manager
// for three calls.
package amapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Matcher is one label matcher of a silence.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	// IsEqual false negates the matcher (Alertmanager 0.22 and later); the operator always sends true.
	IsEqual bool `json:"isEqual"`
}

// Silence is a silence as Alertmanager posts and returns it.
type Silence struct {
	ID        string    `json:"id,omitempty"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	// Status is set on a silence read back: active, pending or expired.
	Status *SilenceStatus `json:"status,omitempty"`
}

// SilenceStatus is a silence's state.
type SilenceStatus struct {
	State string `json:"state"`
}

// Silence states.
const (
	StateActive  = "active"
	StatePending = "pending"
	StateExpired = "expired"
)

// Options configure a Client.
type Options struct {
	// BaseURL is Alertmanager's URL (with its route prefix, if any); the API is under /api/v2.
	BaseURL *url.URL
	// CAPEM, when set, is the only CA trusted for BaseURL; otherwise the system's.
	CAPEM []byte
	// BearerToken, or Username and Password (basic), authenticate the calls.
	BearerToken, Username, Password string
	// Timeout bounds each call; zero: DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout keeps a call well inside the time Teams gives a bot to answer a button.
const DefaultTimeout = 3 * time.Second

// maxResponseBytes caps what is read of an answer: a silence is a few KiB.
const maxResponseBytes = 1 << 20

// Client calls one Alertmanager.
type Client struct {
	base                       *url.URL
	http                       *http.Client
	bearer, username, password string
}

// New returns a client that talks only to o.BaseURL's host: redirects are refused.
func New(o Options) (*Client, error) {
	if o.BaseURL == nil || (o.BaseURL.Scheme != "https" && o.BaseURL.Scheme != "http") || o.BaseURL.Host == "" {
		return nil, errors.New("the Alertmanager URL must be an absolute http or https URL")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(o.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CAPEM) {
			return nil, errors.New("the CA has no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	base := *o.BaseURL
	base.Path = strings.TrimSuffix(base.Path, "/")
	return &Client{
		base: &base,
		http: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// The configured host is the only one the namespace named: never follow a redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
		},
		bearer: o.BearerToken, username: o.Username, password: o.Password,
	}, nil
}

var errRedirect = errors.New("alertmanager answered with a redirect, which is not followed")

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Error is a failed call. Unavailable says whether Alertmanager could not answer (network, timeout,
// 5xx) rather than refused the request (4xx).
type Error struct {
	Op          string
	StatusCode  int
	Message     string
	Unavailable bool
}

func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("Alertmanager %s: HTTP %d: %s", e.Op, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("Alertmanager %s: %s", e.Op, e.Message)
}

// IsNotFound reports a 404 from Alertmanager.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// IsUnavailable reports that Alertmanager could not be reached or did not answer in time.
func IsUnavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unavailable
}

// CreateSilence posts s and returns the new silence's id.
func (c *Client) CreateSilence(ctx context.Context, s Silence) (string, error) {
	s.ID, s.Status = "", nil
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := c.do(ctx, "create silence", http.MethodPost, "/api/v2/silences", s, &out); err != nil {
		return "", err
	}
	if out.SilenceID == "" {
		return "", &Error{Op: "create silence", Message: "the answer has no silenceID"}
	}
	return out.SilenceID, nil
}

// GetSilence reads a silence.
func (c *Client) GetSilence(ctx context.Context, id string) (*Silence, error) {
	out := &Silence{}
	if err := c.do(ctx, "get silence", http.MethodGet, "/api/v2/silence/"+url.PathEscape(id), nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ExpireSilence ends a silence now. A silence that is already expired, or gone, is not an error:
// the result the caller wants is there.
func (c *Client) ExpireSilence(ctx context.Context, id string) error {
	err := c.do(ctx, "expire silence", http.MethodDelete, "/api/v2/silence/"+url.PathEscape(id), nil, nil)
	if err == nil || IsNotFound(err) {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok && e.StatusCode == 0 {
		return err // no answer: the silence's state is unknown
	}
	// Alertmanager answers an expired or unknown silence with an error (0.25: 500 "silence not
	// found"); read the silence to tell those from a real failure.
	s, getErr := c.GetSilence(ctx, id)
	if IsNotFound(getErr) || (getErr == nil && s.Status != nil && s.Status.State == StateExpired) {
		return nil
	}
	return err
}

func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Message: err.Error()}
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path += path
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.username != "":
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error carries the URL (never a credential: they travel in headers).
		return &Error{Op: op, Message: transportMessage(err), Unavailable: !errors.Is(err, errRedirect)}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &Error{Op: op, Message: "reading the answer: " + transportMessage(err), Unavailable: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Op: op, StatusCode: resp.StatusCode, Message: errorText(b), Unavailable: resp.StatusCode >= 500}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &Error{Op: op, Message: "the answer is not the expected JSON: " + err.Error()}
	}
	return nil
}

// transportMessage is a network error without Go's wrapping noise.
func transportMessage(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		if ue.Timeout() {
			return "no answer in time"
		}
		if errors.Is(ue.Err, errRedirect) {
			return errRedirect.Error()
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// errorText is the start of Alertmanager's error body (a JSON string or plain text), on one line.
func errorText(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
