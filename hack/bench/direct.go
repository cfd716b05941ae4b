package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// runDirect sends the same messages to the same kind of conversations straight through the
// operator's Connector client and limiters (the manager's defaults), from a pool of
// goroutines: the best a client with these limits can do, without Kubernetes. It uses a
// second emulator with the same options and seed, so no rate-limit window of the operator's
// run is still open.
func (b *bench) runDirect(ctx context.Context) (*Run, error) {
	emu, err := emulator.New(nil, emulatorOptions(b.o))
	if err != nil {
		return nil, err
	}
	seed, targets := benchSeed(b.o.users, b.o.channels)
	if err := emu.MergeSeed(seed); err != nil {
		return nil, err
	}
	caDir := filepath.Join(b.env.Dir, "direct-emulator")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return nil, err
	}
	srv, err := emu.StartTLS("127.0.0.1:0", caDir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Close() }()
	bot, err := directClient(srv, b.o.maxSendRPS)
	if err != nil {
		return nil, err
	}
	serviceURL := srv.URL + "/teams/"

	// Untimed setup: the token, and each user's 1:1 conversation (the operator's
	// ConversationTargets did the same before its messages).
	err = parallel(ctx, len(targets), b.o.directWorkers, func(ctx context.Context, i int) error {
		t := &targets[i]
		if t.channelID != "" {
			t.conversationID = t.channelID
			return nil
		}
		return waitingOut429(ctx, func() error {
			conv, err := bot.CreateConversation(ctx, serviceURL, botframework.ConversationParameters{
				Bot:         &botframework.ChannelAccount{ID: "28:" + emulator.DefaultBotAppID},
				Members:     []botframework.ChannelAccount{{ID: t.userID}},
				TenantID:    emulator.DefaultTenantID,
				ChannelData: &botframework.ChannelData{Tenant: &botframework.TenantInfo{ID: emulator.DefaultTenantID}},
			})
			t.conversationID = conv.ID
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("direct loop: creating the 1:1 conversations: %w", err)
	}
	// The timed part follows at once: the same limiters pace the setup's last calls and the
	// first sends.
	seq := lastSeq(emu)
	n := b.o.messages
	done := make([]time.Time, n)
	start := time.Now()
	var mu sync.Mutex
	failed := 0
	err = parallel(ctx, n, b.o.directWorkers, func(ctx context.Context, i int) error {
		msg := b.message(i)
		activity, err := delivery.BuildActivity(&msg.Spec)
		if err != nil {
			return err
		}
		err = waitingOut429(ctx, func() error {
			return directSend(ctx, bot, serviceURL, targets[i%len(targets)], activity)
		})
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			mu.Lock()
			failed++
			mu.Unlock()
			return nil
		}
		done[i] = time.Now()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("direct loop: %w", err)
	}
	r := &Run{Messages: n, Delivered: n - failed}
	var delivered []time.Time
	last := start
	for _, at := range done {
		if !at.IsZero() {
			delivered = append(delivered, at)
			last = maxTime(last, at)
		}
	}
	r.Seconds = round(last.Sub(start).Seconds(), 2)
	accepted, throttled, byAPI := journalStats(emu.RequestsSince(seq))
	r.fillRates(delivered, accepted, b.o.appRPS)
	r.Throttled, r.MicrosoftCalls = throttled, byAPI
	r.MicrosoftCallsPerMessage = round(float64(sumCounts(byAPI))/float64(n), 3)
	return r, nil
}

// waitingOut429 calls f until it is not throttled, waiting for Retry-After in between, as the
// operator does.
func waitingOut429(ctx context.Context, f func() error) error {
	for {
		err := f()
		apiErr, ok := msapi.AsAPIError(err)
		if !ok || !msapi.IsThrottled(err) {
			return err
		}
		select {
		case <-time.After(max(apiErr.RetryAfter, 100*time.Millisecond)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// directSend posts one message: a new thread in a channel, else into the 1:1 conversation.
func directSend(ctx context.Context, bot *botframework.Client, serviceURL string, t target,
	a *botframework.Activity) error {
	if t.channelID != "" {
		_, err := bot.CreateConversation(ctx, serviceURL, botframework.ConversationParameters{
			IsGroup: true, TenantID: emulator.DefaultTenantID, Activity: a,
			ChannelData: &botframework.ChannelData{
				Channel: &botframework.ChannelInfo{ID: t.channelID},
				Tenant:  &botframework.TenantInfo{ID: emulator.DefaultTenantID},
			},
		})
		return err
	}
	_, err := bot.SendActivity(ctx, serviceURL, t.conversationID, a)
	return err
}

// directClient is the Connector client the manager builds for its default credentials, with
// the manager's default limiters.
func directClient(srv *emulator.Server, maxSendRPS float64) (*botframework.Client, error) {
	endpoints, err := cloud.Lookup(cloud.Public)
	if err != nil {
		return nil, err
	}
	if endpoints, err = endpoints.WithOverrides(srv.URL+"/", srv.URL, srv.URL+"/teams/"); err != nil {
		return nil, err
	}
	hc := transport.New(transport.Options{ExtraRootCAs: srv.RootCAs})
	creds, err := auth.FromSecretData(map[string][]byte{
		"tenantId": []byte(emulator.DefaultTenantID), "clientId": []byte(emulator.DefaultBotAppID),
		"clientSecret": []byte(emulator.DefaultBotSecret),
	}, "")
	if err != nil {
		return nil, err
	}
	tokens, err := auth.New(creds, auth.Options{Endpoints: endpoints, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return botframework.New(botframework.Options{
		HTTPClient: hc, Tokens: tokens.Bot, AppID: creds.ClientID, TenantID: creds.TenantID,
		Policy:              botframework.NewServiceURLPolicy(endpoints.ServiceHosts),
		AppLimiter:          ratelimit.NewAppLimiter(maxSendRPS),
		ConversationLimiter: ratelimit.NewConversationLimiter(),
	})
}
