package broadcast

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
)

// OptOuts tells whether a person asked the bot to stop messaging them (the bot endpoint
// records it). Nil: nobody has.
type OptOuts interface {
	IsOptedOut(ctx context.Context, botID, tenantID, userAADObjectID string) (bool, error)
}

// DefaultWorkers is how many people of a batch are in flight at once. The Connector client's
// limiters set the pace; this only has to keep them busy (25/s cold, 50/s warm, each call
// taking tens of milliseconds).
const DefaultWorkers = 32

// maxTries bounds the tries of one call that Teams refused without taking it (429, 412, 503)
// or that may be tried again (AtLeastOnce after an unknown outcome).
const maxTries = 5

// maxWait bounds one wait between tries.
const maxWait = 10 * time.Second

// Sender sends one message to each person of a batch.
type Sender struct {
	Bot   botframework.Interface
	Graph graph.Interface
	// AppID is the bot's Entra app id, TenantID the tenant, ServiceURL the Connector.
	AppID, TenantID, ServiceURL string
	Activity                    *botframework.Activity
	Guarantee                   teamsv1alpha1.DeliveryGuarantee
	// InstallApp, when set, is the catalog id of the app installed for people who lack it.
	InstallApp string
	OptOuts    OptOuts
	// Conversations remembers 1:1 conversations across batches and broadcasts.
	Conversations *Conversations
	// Workers is how many people are in flight at once (DefaultWorkers when zero).
	Workers int
}

// Stream starts the workers: each person sent on the returned channel is reached (on a copy:
// the caller's record is not touched) and done is called with the result, on the worker's
// goroutine. Nobody is left Sending: a person whose send may have landed is Unknown
// (AtMostOnce). Close the channel, then call wait: it returns once every person taken is done.
func (s *Sender) Stream(ctx context.Context, done func(p *Person, result Person)) (people chan<- *Person, wait func()) {
	workers := s.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	next := make(chan *Person) // unbuffered: a person taken is in a worker's hands
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range next {
				result := *p
				s.one(ctx, &result)
				done(p, result)
			}
		})
	}
	return next, wg.Wait
}

// one reaches one person: opt-out, conversation (known, else created, installing the app when
// asked), then the send.
func (s *Sender) one(ctx context.Context, p *Person) {
	if s.OptOuts != nil && !strings.HasPrefix(p.User, "29:") {
		if out, err := s.OptOuts.IsOptedOut(ctx, s.AppID, s.TenantID, p.User); err == nil && out {
			s.skip(p, ReasonOptedOut)
			return
		}
	}
	conv, err := s.conversation(ctx, p)
	if err != nil {
		s.refused(p, err, true)
		return
	}
	// The 29: id only served to create the conversation: the record keeps the conversation.
	p.Conversation, p.Member = conv, ""
	activity := delivery.Addressed(s.Activity, conv, s.TenantID)
	for try := 1; ; try++ {
		id, err := s.Bot.SendActivity(ctx, s.ServiceURL, conv, activity)
		if err == nil || errors.Is(err, botframework.ErrNoActivityID) {
			p.State, p.Activity, p.Reason = Delivered, id, ""
			return
		}
		if msapi.Classify(err).Reason == msapi.ReasonConversationNotFound {
			s.Conversations.forget(s.key(p)) // a stale conversation: the next broadcast creates it again
		}
		if ledger.MayHaveLanded(err) {
			if s.Guarantee != teamsv1alpha1.AtLeastOnce || try >= maxTries {
				p.State, p.Reason = Unknown, ReasonOutcomeUnknown
				return
			}
		} else if !retryable(err) || try >= maxTries {
			s.refused(p, err, false)
			return
		}
		if !sleep(ctx, wait(err, try)) {
			p.State, p.Reason = Pending, "" // not sent: the manager is stopping
			return
		}
	}
}

// conversation returns the person's 1:1 conversation: known, else created (Teams returns the
// existing one if there is one; a create is safe to repeat).
func (s *Sender) conversation(ctx context.Context, p *Person) (string, error) {
	if p.Conversation != "" { // recorded by an earlier try (AtLeastOnce sends a batch again)
		return p.Conversation, nil
	}
	if c, ok := s.Conversations.get(s.key(p)); ok {
		return c, nil
	}
	installed := false
	for try := 1; ; try++ {
		member := p.Member
		if member == "" {
			member = p.User
		}
		res, err := s.Bot.CreateConversation(ctx, s.ServiceURL, botframework.ConversationParameters{
			Bot:         &botframework.ChannelAccount{ID: "28:" + s.AppID},
			Members:     []botframework.ChannelAccount{{ID: member}},
			TenantID:    s.TenantID,
			ChannelData: &botframework.ChannelData{Tenant: &botframework.TenantInfo{ID: s.TenantID}},
		})
		if err == nil {
			s.Conversations.put(s.key(p), res.ID)
			return res.ID, nil
		}
		c := msapi.Classify(err)
		if c.Reason == msapi.ReasonBotNotInstalledForUser && s.InstallApp != "" && !installed && p.User != p.Member {
			if ierr := s.install(ctx, p); ierr != nil {
				return "", ierr
			}
			installed = true
			continue
		}
		again := retryable(err) || c.Reason == msapi.ReasonBadGateway || c.Reason == msapi.ReasonGatewayTimeout ||
			c.Reason == msapi.ReasonOutcomeUnknown // a create is safe to repeat
		if !again || try >= maxTries {
			return "", err
		}
		if !sleep(ctx, wait(err, try)) {
			return "", ctx.Err()
		}
	}
}

// installErr marks a failed installation of the app for a person.
type installErr struct{ err error }

func (e *installErr) Error() string { return "installing the app for the user: " + e.err.Error() }
func (e *installErr) Unwrap() error { return e.err }

// install adds the app to the person's personal scope through Graph; 409 means it is there.
// Graph's own throttling is retried like the Connector's.
func (s *Sender) install(ctx context.Context, p *Person) error {
	for try := 1; ; try++ {
		err := s.Graph.InstallApp(ctx, graph.Scope{Kind: graph.ScopeUser, ID: p.User}, s.InstallApp, nil)
		if err == nil || msapi.IsConflict(err) {
			return nil
		}
		if !retryable(err) || try >= maxTries {
			return &installErr{err}
		}
		if !sleep(ctx, wait(err, try)) {
			return ctx.Err()
		}
	}
}

// refused records a person Teams (or Graph) did not take the message for.
func (s *Sender) refused(p *Person, err error, creating bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		p.State, p.Reason = Pending, "" // not sent: the manager is stopping, or the batch ran out of time
		return
	}
	if _, ok := errors.AsType[*installErr](err); ok {
		p.State, p.Reason = Failed, ReasonInstallFailed
		return
	}
	switch c := msapi.Classify(err); c.Reason {
	case msapi.ReasonBlockedByUser:
		s.skip(p, ReasonBlockedByUser)
	case msapi.ReasonBotNotInstalledForUser:
		s.skip(p, ReasonBotNotInstalled)
	case msapi.ReasonBadArgument, msapi.ReasonNotFound, msapi.ReasonConversationNotFound:
		if creating {
			s.skip(p, ReasonUserNotFound) // "Invalid user identity", "Failed to decrypt pairwise id"
			return
		}
		p.State, p.Reason = Failed, c.Reason
	default:
		p.State, p.Reason = Failed, c.Reason
	}
}

func (s *Sender) skip(p *Person, reason string) { p.State, p.Reason = Skipped, reason }

func (s *Sender) key(p *Person) string {
	return strings.ToLower(s.AppID + "|" + s.TenantID + "|" + p.User)
}

// retryable: Teams did not take the call and says to try again (429, 412, 503, no answer
// before the request was written).
func retryable(err error) bool {
	c := msapi.Classify(err)
	return c.Retry && c.Reason != msapi.ReasonBadGateway && c.Reason != msapi.ReasonGatewayTimeout
}

func wait(err error, try int) time.Duration {
	return min(outcome.RetryWait(msapi.Classify(err).After, int32(min(try, maxTries))), maxWait) //nolint:gosec // bounded
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Conversations remembers 1:1 conversation ids by bot, tenant and user, bounded in size.
type Conversations struct {
	mu  sync.Mutex
	max int
	m   map[string]string
}

// NewConversations returns a memory of at most max conversations.
func NewConversations(max int) *Conversations {
	return &Conversations{max: max, m: map[string]string{}}
}

func (c *Conversations) get(k string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *Conversations) put(k, v string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for old := range c.m { // forget one at random: a forgotten conversation is created again
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

func (c *Conversations) forget(k string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// Remember records a conversation learned elsewhere (a chunk read back after a restart).
func (s *Sender) Remember(p Person) {
	if p.Conversation != "" && !strings.HasPrefix(p.User, "29:") {
		s.Conversations.put(s.key(&p), p.Conversation)
	}
}
