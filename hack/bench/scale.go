package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/controller"
)

// quietAfterResync is how long the restarted manager must stay without a Microsoft call
// once it is idle, for "nothing was sent again" to mean something.
const quietAfterResync = 5 * time.Second

// scaleKind is what the i-th object of the scale run is.
type scaleKind int

const (
	// restored: delivered earlier, as a restore from backup brings it back (annotations,
	// no status). The manager records it Delivered without sending.
	restored scaleKind = iota
	// scheduled: sendAt a day ahead, so still unfinished at the restart.
	scheduled
	// sent: a new message the manager really sends.
	sent
)

func (b *bench) scaleKind(i int) scaleKind {
	switch r := b.o.messages - b.o.scaleSent - b.o.scaleScheduled; {
	case i < r:
		return restored
	case i < r+b.o.scaleScheduled:
		return scheduled
	}
	return sent
}

func (b *bench) scaleMessage(i int, sendAt metav1.Time) *teamsv1alpha1.ProactiveMessage {
	msg := b.message(i)
	switch b.scaleKind(i) {
	case restored:
		activityID, conversationID := "1:"+stableID(msg.Name)[:20], b.targets[i%len(b.targets)].conversationID
		msg.Annotations = map[string]string{
			teamsv1alpha1.SendAttemptAnnotation:    sendAt.Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano),
			teamsv1alpha1.ActivityIDAnnotation:     activityID,
			teamsv1alpha1.ConversationIDAnnotation: conversationID,
			// Signed with the managers' key, as the manager signed it before the backup.
			teamsv1alpha1.DeliveryProofAnnotation: controller.SignDeliveryProof(b.proofKey, msg, conversationID, activityID),
		}
	case scheduled:
		msg.Spec.SendAt = &sendAt
	case sent:
	}
	return msg
}

// runScale fills the API server with ProactiveMessages (most delivered), then kills the
// manager and measures how long a new one takes to go through them all, its memory, and
// that it sends nothing again.
func (b *bench) runScale(ctx context.Context) (*Scale, error) {
	o := b.o
	s := &Scale{Objects: o.messages, Sent: o.scaleSent, Scheduled: o.scaleScheduled,
		Restored: o.messages - o.scaleSent - o.scaleScheduled}
	if err := b.watchMessages(ctx); err != nil {
		return nil, err
	}
	sendAt := metav1.NewTime(time.Now().Add(24 * time.Hour).Truncate(time.Second))
	start := time.Now()
	err := parallel(ctx, o.messages, o.creators, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, b.scaleMessage(i, sendAt))
	})
	if err != nil {
		return nil, fmt.Errorf("creating ProactiveMessages: %w", err)
	}
	s.CreateSeconds = round(time.Since(start).Seconds(), 1)
	progress("created %d ProactiveMessages in %.1f s", o.messages, s.CreateSeconds)
	if err := b.waitDelivered(ctx, s.Restored+s.Sent); err != nil {
		return nil, err
	}
	s.SettleSeconds = round(time.Since(start).Seconds(), 1)
	progress("%d Delivered after %.1f s", s.Restored+s.Sent, s.SettleSeconds)
	if s.Before, err = memory(ctx, b.mgr.Pid(), b.mgr.MetricsURL); err != nil {
		return nil, err
	}
	b.saveHeapProfile(ctx, "heap-before")

	seq := lastSeq(b.env.Emulator)
	writes, err := b.apiWrites(ctx)
	if err != nil {
		return nil, err
	}
	b.mgr.Kill()
	restart := time.Now()
	if b.mgr, err = b.startManager(ctx, "manager-2"); err != nil {
		return nil, err
	}
	s.ReadySeconds = round(time.Since(restart).Seconds(), 2)
	cpuDone := b.profileResync(ctx)
	err = waitFor(ctx, o.timeout, "the restarted manager to reconcile every ProactiveMessage", func() (bool, error) {
		m, err := scrape(ctx, http.DefaultClient, b.mgr.MetricsURL)
		if err != nil {
			return false, err
		}
		ctl := map[string][]string{"controller": {messageController}}
		s.Reconciles = int(m.sum("controller_runtime_reconcile_total", ctl))
		return s.Reconciles >= o.messages &&
			m.sum("workqueue_depth", map[string][]string{"name": {messageController}}) == 0 &&
			m.sum("controller_runtime_active_workers", ctl) == 0, nil
	})
	if err != nil {
		return nil, err
	}
	s.ResyncSeconds = round(time.Since(restart).Seconds(), 2)
	progress("restarted manager idle after %.1f s", s.ResyncSeconds)
	<-cpuDone
	if s.After, err = memory(ctx, b.mgr.Pid(), b.mgr.MetricsURL); err != nil {
		return nil, err
	}
	b.saveHeapProfile(ctx, "heap-after")
	// Stay a while: a resend would show in the journal.
	quiet := time.Now()
	err = waitFor(ctx, quietAfterResync+time.Minute, "a quiet restarted manager", func() (bool, error) {
		if n := len(b.env.Emulator.RequestsSince(seq)); n > 0 {
			return true, nil // counted below
		}
		return time.Since(quiet) >= quietAfterResync, nil
	})
	if err != nil {
		return nil, err
	}
	after := b.env.Emulator.RequestsSince(seq)
	s.CallsAfterRestart = len(after)
	for _, e := range after {
		switch e.Operation {
		case "sendActivity", "createConversation", "replyToActivity":
			s.SendsAfterRestart++
		}
	}
	now, err := b.apiWrites(ctx)
	if err != nil {
		return nil, err
	}
	s.WritesAfterRestart = int(now.messages - writes.messages)
	s.JournalWritesAfterRestart = int(now.configMaps - writes.configMaps)
	s.DeliveredInTeams = len(b.env.Emulator.Activities())
	return s, nil
}

// saveHeapProfile writes the manager's heap profile beside the report. A profile that cannot be
// taken is reported, not fatal: the run's figures are worth more than the profile.
func (b *bench) saveHeapProfile(ctx context.Context, name string) {
	path := profilePath(b.o.out, name)
	if err := heapProfile(ctx, b.pprof, path); err != nil {
		progress("no heap profile %s: %v", name, err)
		return
	}
	progress("profile %s: go tool pprof -sample_index inuse_space %s", name, path)
}

// resyncProfileSeconds is how long the CPU profile of the restarted manager runs: the first
// part of its resync.
const resyncProfileSeconds = 20

// profileResync takes the restarted manager's CPU profile during its resync, beside the report;
// the channel closes when it is written.
func (b *bench) profileResync(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		path := profilePath(b.o.out, "cpu-resync")
		if err := cpuProfile(ctx, b.pprof, path, resyncProfileSeconds); err != nil {
			progress("no CPU profile of the resync: %v", err)
			return
		}
		progress("profile cpu-resync: go tool pprof %s", path)
	}()
	return done
}
