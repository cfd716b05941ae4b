package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// alertsNamespace is the second tenant of the priority phase: it sends a few High messages
// while the bench namespace floods Bulk ones.
const alertsNamespace = "bench-alerts"

// Priority is the priority phase: one namespace floods Bulk messages, another sends High ones
// one at a time meanwhile; how long do the High ones take?
type Priority struct {
	Bulk int `json:"bulk"`
	High int `json:"high"`
	// HighLatency is create→delivered of the High messages.
	HighLatency *Latency `json:"highLatency"`
	// BulkLeftAtLastHigh is how many Bulk messages were still to be delivered when the last
	// High one was: the flood was still on.
	BulkLeftAtLastHigh int `json:"bulkLeftAtLastHigh"`
	// BulkSeconds is the flood's first create to its last delivery.
	BulkSeconds float64 `json:"bulkSeconds"`
}

// runPriority floods o.bulk Bulk messages from the bench namespace and, from the second
// second on, creates o.high High messages in alertsNamespace, one every half second, each to
// its own target.
func (b *bench) runPriority(ctx context.Context) (*Priority, error) {
	highTargets, err := b.alertTargets(ctx, min(b.o.high, len(b.targets)))
	if err != nil {
		return nil, err
	}
	bulk := make([]*teamsv1alpha1.ProactiveMessage, b.o.bulk)
	for i := range bulk {
		bulk[i] = &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("bulk-%07d", i)},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: b.targets[i%len(b.targets)].name},
				Text:      fmt.Sprintf("Digest %d", i), Priority: teamsv1alpha1.PriorityBulk,
			},
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var floodErr error
	wg.Go(func() {
		floodErr = parallel(ctx, len(bulk), b.o.creators, func(ctx context.Context, i int) error {
			return b.c.Create(ctx, bulk[i])
		})
	})
	var lat []time.Duration
	var lastHigh time.Time
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	for i, t := range highTargets {
		msg := &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: alertsNamespace, Name: fmt.Sprintf("alert-%03d", i)},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: t},
				Text:      fmt.Sprintf("**Alert** %d firing", i), Priority: teamsv1alpha1.PriorityHigh,
			},
		}
		created := time.Now()
		if err := b.c.Create(ctx, msg); err != nil {
			return nil, err
		}
		err := waitFor(ctx, b.o.timeout, "High message "+msg.Name+" Delivered", func() (bool, error) {
			_, ok := b.track.deliveredAt(alertsNamespace + "/" + msg.Name)
			return ok, b.track.failure()
		})
		if err != nil {
			return nil, err
		}
		at, _ := b.track.deliveredAt(alertsNamespace + "/" + msg.Name)
		lat = append(lat, at.Sub(created))
		lastHigh = maxTime(lastHigh, at)
		select { // the next alert half a second after this one's create, or at once
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(created.Add(500 * time.Millisecond))):
		}
	}
	wg.Wait()
	if floodErr != nil {
		return nil, fmt.Errorf("creating Bulk messages: %w", floodErr)
	}
	p := &Priority{Bulk: len(bulk), High: len(highTargets), HighLatency: latencies(lat)}
	last := start
	for _, m := range bulk {
		if err := waitFor(ctx, b.o.timeout, "Bulk message "+m.Name+" Delivered", func() (bool, error) {
			_, ok := b.track.deliveredAt(m.Name)
			return ok, b.track.failure()
		}); err != nil {
			return nil, err
		}
		at, _ := b.track.deliveredAt(m.Name)
		if at.After(lastHigh) {
			p.BulkLeftAtLastHigh++
		}
		last = maxTime(last, at)
	}
	p.BulkSeconds = round(last.Sub(start).Seconds(), 1)
	return p, nil
}

// alertTargets creates n ConversationTargets in alertsNamespace, to the first n users of the
// bench (their 1:1 conversations exist already), and waits until they are Ready.
func (b *bench) alertTargets(ctx context.Context, n int) ([]string, error) {
	if err := b.env.Namespace(ctx, alertsNamespace); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range b.targets {
		if len(names) == n {
			break
		}
		if t.userID == "" {
			continue
		}
		names = append(names, t.name)
		if err := b.c.Create(ctx, &teamsv1alpha1.ConversationTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: alertsNamespace, Name: t.name},
			Spec:       t.spec(""),
		}); err != nil {
			return nil, err
		}
	}
	return names, waitFor(ctx, b.o.timeout, "the alert targets Ready", func() (bool, error) {
		list := &teamsv1alpha1.ConversationTargetList{}
		if err := b.c.List(ctx, list, client.InNamespace(alertsNamespace)); err != nil {
			return false, err
		}
		ready := 0
		for _, t := range list.Items {
			if meta.IsStatusConditionTrue(t.Status.Conditions, teamsv1alpha1.ReadyCondition) {
				ready++
			}
		}
		return ready == len(names), nil
	})
}
