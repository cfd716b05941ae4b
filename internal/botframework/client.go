package botframework

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// maxBodyBytes caps a Connector response; answers are {"id":"…"} or an error.
const maxBodyBytes = 1 << 20

// Limiter waits until one more call may go out for a key pair, or ctx ends.
// *ratelimit.AppLimiter (appID, tenantID) and *ratelimit.ConversationLimiter
// (appID, conversationID) satisfy it. The AppLimiter orders waiters by the
// ratelimit.Turn in ctx (namespace, priority): callers set it with
// ratelimit.WithTurn before calling the Client.
type Limiter interface {
	Wait(ctx context.Context, appID, key string) error
}

// timedLimiter is a Limiter that also learns when the answer came (both
// ratelimit limiters): Teams counts a request when it arrives, somewhere
// between its send and its answer, so the limiter holds the request's place
// until then (ratelimit's sendlog.go).
type timedLimiter interface {
	Acquire(ctx context.Context, appID, key string) (done func(), err error)
}

// Options configure a Client.
type Options struct {
	// HTTPClient sends the requests (the shared transport). The Client uses a
	// copy that never follows redirects.
	HTTPClient *http.Client
	// Tokens gives bearer tokens for the Bot Framework scope.
	Tokens auth.TokenSource
	// AppID is the bot's Entra app id and TenantID the tenant it sends into;
	// together they key the rate limiters.
	AppID    string
	TenantID string
	// Policy decides which service URLs may receive a token. Required.
	Policy *ServiceURLPolicy
	// AppLimiter (optional) is waited on before every call, per app per tenant.
	AppLimiter Limiter
	// ConversationLimiter (optional) is waited on before create, send and
	// reply, per app per thread.
	ConversationLimiter Limiter
}

// Client is the Connector client. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	tokens    auth.TokenSource
	appID     string
	tenantID  string
	policy    *ServiceURLPolicy
	appLimit  Limiter
	convLimit Limiter
}

var _ Interface = (*Client)(nil)

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.HTTPClient == nil || opts.Tokens == nil || opts.Policy == nil {
		return nil, errors.New("creating Bot Framework client: HTTPClient, Tokens and Policy are required")
	}
	hc := *opts.HTTPClient
	// A redirect could take the bearer token to a host the policy never saw.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		hc:        &hc,
		tokens:    opts.Tokens,
		appID:     opts.AppID,
		tenantID:  opts.TenantID,
		policy:    opts.Policy,
		appLimit:  opts.AppLimiter,
		convLimit: opts.ConversationLimiter,
	}, nil
}

// call is one Connector request.
type call struct {
	op         string
	method     string
	serviceURL string
	path       string // escaped, starting with /v3/
	body       any
	// thread keys the conversation limiter; empty skips it.
	thread string
}

// CreateConversation implements Interface.
func (c *Client) CreateConversation(ctx context.Context, serviceURL string, p ConversationParameters) (ConversationResource, error) {
	if p.Activity != nil {
		act, err := outbound(p.Activity)
		if err != nil {
			return ConversationResource{}, err
		}
		p.Activity = act
	}
	var res ConversationResource
	status, err := c.do(ctx, call{
		op: "createConversation", method: http.MethodPost, serviceURL: serviceURL,
		path: "/v3/conversations", body: p, thread: createThread(p),
	}, &res)
	switch {
	case err != nil && is2xx(status):
		return ConversationResource{}, fmt.Errorf("creating conversation: %w: %w", ErrNoConversationID, err)
	case err != nil:
		return ConversationResource{}, err
	case res.ID == "":
		return ConversationResource{}, fmt.Errorf("creating conversation: %w", ErrNoConversationID)
	}
	return res, nil
}

// SendActivity implements Interface.
func (c *Client) SendActivity(ctx context.Context, serviceURL, conversationID string, a *Activity) (string, error) {
	conv, err := segment("conversation id", conversationID)
	if err != nil {
		return "", err
	}
	out, err := outbound(a)
	if err != nil {
		return "", err
	}
	return c.post(ctx, call{
		op: "sendActivity", method: http.MethodPost, serviceURL: serviceURL,
		path: "/v3/conversations/" + conv + "/activities", body: out, thread: threadOf(conversationID),
	})
}

// ReplyToActivity implements Interface.
func (c *Client) ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a *Activity) (string, error) {
	path, err := activityPath(conversationID, replyToID)
	if err != nil {
		return "", err
	}
	out, err := outbound(a)
	if err != nil {
		return "", err
	}
	out.ReplyToID = replyToID
	return c.post(ctx, call{
		op: "replyToActivity", method: http.MethodPost, serviceURL: serviceURL,
		path: path, body: out, thread: threadOf(conversationID),
	})
}

// UpdateActivity implements Interface. Teams answers {"id"}; when it leaves the
// id out, the activity keeps the id it had.
func (c *Client) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (string, error) {
	path, err := activityPath(conversationID, activityID)
	if err != nil {
		return "", err
	}
	out, err := outbound(a)
	if err != nil {
		return "", err
	}
	out.ID = activityID
	var res struct {
		ID string `json:"id"`
	}
	if _, err := c.do(ctx, call{op: "updateActivity", method: http.MethodPut, serviceURL: serviceURL, path: path, body: out}, &res); err != nil {
		return "", err
	}
	if res.ID == "" {
		return activityID, nil
	}
	return res.ID, nil
}

// DeleteActivity implements Interface.
func (c *Client) DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error {
	path, err := activityPath(conversationID, activityID)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, call{op: "deleteActivity", method: http.MethodDelete, serviceURL: serviceURL, path: path}, nil)
	return err
}

// post sends an activity and returns its id. A 2xx without a readable id is
// ErrNoActivityID, joined with the read error if there was one.
func (c *Client) post(ctx context.Context, cl call) (string, error) {
	var res struct {
		ID string `json:"id"`
	}
	status, err := c.do(ctx, cl, &res)
	switch {
	case err != nil && is2xx(status):
		return "", fmt.Errorf("botframework %s: %w: %w", cl.op, ErrNoActivityID, err)
	case err != nil:
		return "", err
	case res.ID == "":
		return "", fmt.Errorf("botframework %s: %w", cl.op, ErrNoActivityID)
	}
	return res.ID, nil
}

// do runs the steps in the order that keeps tokens safe and limits honest:
// policy check, token, the request built, rate limiters, one request, whose
// answer the limiters are told of. The token and the encoding come before the
// limiters so that nothing slow (a token exchange) sits between a limiter's
// admission and the request reaching Teams: Teams counts arrivals, and a delay
// there would bunch requests into a window the limiter kept free (what delay is
// left, the limiters account for from the answer's time). It returns the
// HTTP status (0 without a response) so callers can tell a lost answer to a 2xx
// from a failure.
func (c *Client) do(ctx context.Context, cl call, out any) (int, error) {
	base, err := c.policy.Check(cl.serviceURL)
	if err != nil {
		return 0, fmt.Errorf("botframework %s: %w", cl.op, err)
	}
	ctx = transport.WithOperation(ctx, msapi.APIBotFramework, cl.op)
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquiring token for botframework %s: %w", cl.op, err)
	}
	req, err := c.newRequest(ctx, cl, base, token)
	if err != nil {
		return 0, err
	}
	answered, err := c.wait(ctx, cl.thread)
	if err != nil {
		return 0, fmt.Errorf("botframework %s: waiting for the rate limiter: %w", cl.op, err)
	}
	status, body, err := c.send(req, cl.op, answered)
	if status == http.StatusTooManyRequests {
		c.throttled(ctx)
	}
	if err != nil {
		return status, err
	}
	if out != nil && len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return status, fmt.Errorf("decoding botframework %s response: %w", cl.op, err)
		}
	}
	return status, nil
}

// wait waits for both limiters and returns what tells them the answer came.
// The conversation's first: a request held back by its conversation's window
// (7 per second) must not hold a place in the app's 50 per second meanwhile.
func (c *Client) wait(ctx context.Context, thread string) (answered func(), err error) {
	var dones []func()
	answered = func() {
		for _, d := range dones {
			d()
		}
	}
	if c.convLimit != nil && thread != "" {
		d, err := acquire(ctx, c.convLimit, c.appID, thread)
		if err != nil {
			return nil, err
		}
		dones = append(dones, d)
	}
	if c.appLimit != nil {
		d, err := acquire(ctx, c.appLimit, c.appID, c.tenantID)
		if err != nil {
			answered() // the conversation's place: nothing left, nothing more to wait for
			return nil, err
		}
		dones = append(dones, d)
	}
	return answered, nil
}

func acquire(ctx context.Context, l Limiter, appID, key string) (func(), error) {
	if t, ok := l.(timedLimiter); ok {
		return t.Acquire(ctx, appID, key)
	}
	return func() {}, l.Wait(ctx, appID, key)
}

// throttled tells the app limiter of a 429, so that it can warn when this process's own
// rate does not explain it (several clusters sharing one bot).
func (c *Client) throttled(ctx context.Context) {
	if t, ok := c.appLimit.(interface {
		Throttled(ctx context.Context, appID, tenantID string) bool
	}); ok {
		t.Throttled(ctx, c.appID, c.tenantID)
	}
}

func (c *Client) newRequest(ctx context.Context, cl call, base *url.URL, token string) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		data, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("encoding botframework %s request: %w", cl.op, err)
		}
		body = bytes.NewReader(data)
	}
	target := base.Scheme + "://" + base.Host + strings.TrimRight(base.EscapedPath(), "/") + cl.path
	req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("building botframework %s request: %w", cl.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	return req, nil
}

// send sends req once and calls answered as soon as the answer (or the
// failure) is in. It returns the status (0 without a response) and the 2xx body,
// capped at maxBodyBytes.
func (c *Client) send(req *http.Request, op string, answered func()) (int, []byte, error) {
	req, written := msapi.TrackWrite(req)
	resp, err := c.hc.Do(req)
	answered()
	if err != nil {
		return 0, nil, msapi.NoResponse(msapi.APIBotFramework, op, req, written(), err)
	}
	body, readErr := transport.ReadBody(resp, maxBodyBytes)
	if !is2xx(resp.StatusCode) {
		return resp.StatusCode, nil, msapi.FromResponse(msapi.APIBotFramework, op, resp, body, time.Now())
	}
	if readErr != nil {
		return resp.StatusCode, nil, msapi.NoResponse(msapi.APIBotFramework, op, req, true, readErr)
	}
	return resp.StatusCode, body, nil
}

func is2xx(status int) bool { return status >= 200 && status <= 299 }

// outbound copies a, so the caller's activity is never modified, and defaults
// its type to message.
func outbound(a *Activity) (*Activity, error) {
	if a == nil {
		return nil, fmt.Errorf("activity is nil: %w", msapi.ErrInvalidArgument)
	}
	out := *a
	if out.Type == "" {
		out.Type = ActivityTypeMessage
	}
	return &out, nil
}
