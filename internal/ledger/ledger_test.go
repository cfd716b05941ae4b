package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// world is a message as the API server stores it (its annotations), a Connector fake that
// keeps what Teams holds, and the memory of the running process. A crash loses the memory and
// everything not written to the API server.
type world struct {
	stored   map[string]string
	teams    []string // activity ids Teams holds
	answer   func() error
	mem      *Memory
	guarante teamsv1alpha1.DeliveryGuarantee
	apiDown  bool
	bot      *botframework.Fake
}

func newWorld(g teamsv1alpha1.DeliveryGuarantee) *world {
	w := &world{stored: map[string]string{}, mem: &Memory{}, guarante: g}
	w.bot = &botframework.Fake{SendActivityFunc: func(context.Context, string, string, *botframework.Activity) (string, error) {
		var err error
		if w.answer != nil {
			err = w.answer()
		}
		if err != nil && !MayHaveLanded(err) {
			return "", err // refused: Teams holds nothing
		}
		id := fmt.Sprintf("act-%d", len(w.teams)+1)
		w.teams = append(w.teams, id) // stored, whatever the caller hears
		return id, err
	}}
	return w
}

// reconcile is one send reconcile as the controller runs it, stopping at crashAt.
type step int

const (
	none step = iota
	crashBeforeMarker
	crashAfterMarker
	crashAfterPost
)

// reconcile reads the message, runs the protocol and writes the annotations at the end,
// unless it crashes at crashAt. It returns what Observe saw.
func (w *world) reconcile(t *testing.T, crashAt step) Observation {
	t.Helper()
	obj := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{UID: "m1", Annotations: maps.Clone(w.stored)}}
	l := w.mem.Open(obj, MessageKeys, w.guarante)
	obs := l.Observe()
	if obs.State != Ready {
		w.persist(l, obj)
		return obs
	}
	if crashAt == crashBeforeMarker {
		w.crash()
		return obs
	}
	if _, err := l.Begin(context.Background(), func(context.Context) error {
		w.stored = maps.Clone(obj.GetAnnotations())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if crashAt == crashAfterMarker {
		w.crash()
		return obs
	}
	id, err := w.bot.SendActivity(context.Background(), "https://smba", "conv", &botframework.Activity{})
	if crashAt == crashAfterPost {
		w.crash()
		return obs
	}
	if l.Record("conv", id, err) == Refused {
		l.RetryAt(time.Now().Add(time.Hour))
	}
	w.persist(l, obj)
	return obs
}

// persist is the deferred write of the reconcile, which fails while the API server is down.
func (w *world) persist(l *Ledger, obj *teamsv1alpha1.ProactiveMessage) {
	if w.apiDown {
		l.Persisted(errors.New("API server away"))
		return
	}
	w.stored = maps.Clone(obj.GetAnnotations())
	l.Persisted(nil)
}

func (w *world) crash() { w.mem = &Memory{} }

// TestEveryCrashPointUnderBothGuarantees runs one send, crashes at each point, restarts and
// reconciles until the message settles: it counts what Teams holds and what the ledger says.
func TestEveryCrashPointUnderBothGuarantees(t *testing.T) {
	tests := map[string]struct {
		crashAt step
		// wantCopies per guarantee, and whether AtMostOnce ends Unknown.
		atMostOnce, atLeastOnce int
		unknown                 bool
	}{
		"no crash":                                {crashAt: none, atMostOnce: 1, atLeastOnce: 1},
		"crash before the marker is written":      {crashAt: crashBeforeMarker, atMostOnce: 1, atLeastOnce: 1},
		"crash after the marker, before the POST": {crashAt: crashAfterMarker, atMostOnce: 0, atLeastOnce: 1, unknown: true},
		"crash after the POST, before the ids":    {crashAt: crashAfterPost, atMostOnce: 1, atLeastOnce: 2, unknown: true},
	}
	for name, tc := range tests {
		for _, g := range []teamsv1alpha1.DeliveryGuarantee{teamsv1alpha1.AtMostOnce, teamsv1alpha1.AtLeastOnce} {
			t.Run(name+"/"+string(g), func(t *testing.T) {
				gm := NewWithT(t)
				w := newWorld(g)
				w.reconcile(t, tc.crashAt)
				last := w.reconcile(t, none)
				final := w.reconcile(t, none)
				if g == teamsv1alpha1.AtMostOnce {
					gm.Expect(w.teams).To(HaveLen(tc.atMostOnce))
					if tc.unknown {
						gm.Expect(final.State).To(Equal(Unknown), "never sent again")
						gm.Expect(w.stored).To(HaveKey(teamsv1alpha1.SendAttemptAnnotation), "the marker stays as evidence")
						return
					}
				} else {
					gm.Expect(w.teams).To(HaveLen(tc.atLeastOnce))
					gm.Expect(last.Resent).To(Equal(tc.unknown), "an unknown outcome is sent again")
				}
				gm.Expect(final.State).To(Equal(Delivered))
				gm.Expect(final.Delivery.ActivityID).To(Equal(w.teams[len(w.teams)-1]))
			})
		}
	}
}

// TestADeliveryTheAPIServerDidNotTakeIsKept: Teams accepted, the write of the ids failed, the
// process lives on: the next reconcile records the delivery and sends nothing.
func TestADeliveryTheAPIServerDidNotTakeIsKept(t *testing.T) {
	for _, g := range []teamsv1alpha1.DeliveryGuarantee{teamsv1alpha1.AtMostOnce, teamsv1alpha1.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			gm := NewWithT(t)
			w := newWorld(g)
			w.apiDown = true
			w.reconcile(t, none)
			gm.Expect(w.stored).To(HaveKey(teamsv1alpha1.SendAttemptAnnotation), "only the marker was written")
			gm.Expect(w.stored).NotTo(HaveKey(teamsv1alpha1.ActivityIDAnnotation))
			w.apiDown = false
			obs := w.reconcile(t, none)
			gm.Expect(obs.State).To(Equal(Delivered))
			gm.Expect(obs.Delivery.ActivityID).To(Equal("act-1"))
			gm.Expect(w.stored).To(HaveKeyWithValue(teamsv1alpha1.ActivityIDAnnotation, "act-1"), "written now")
			gm.Expect(w.teams).To(HaveLen(1))
		})
	}
}

// Issue 13 item 8: a 502 or 504 may come after Teams stored the message.
func TestAGatewayErrorIsAnUnknownOutcome(t *testing.T) {
	for _, status := range []int{502, 504} {
		for _, g := range []teamsv1alpha1.DeliveryGuarantee{teamsv1alpha1.AtMostOnce, teamsv1alpha1.AtLeastOnce} {
			t.Run(fmt.Sprintf("%d/%s", status, g), func(t *testing.T) {
				gm := NewWithT(t)
				w := newWorld(g)
				first := true
				w.answer = func() error {
					if !first {
						return nil
					}
					first = false
					return &msapi.APIError{API: msapi.APIBotFramework, Operation: "sendActivity", Status: status}
				}
				w.reconcile(t, none)
				final := w.reconcile(t, none)
				if g == teamsv1alpha1.AtMostOnce {
					gm.Expect(final.State).To(Equal(Unknown))
					gm.Expect(w.teams).To(HaveLen(1), "never sent again")
					return
				}
				gm.Expect(w.reconcile(t, none).State).To(Equal(Delivered))
				gm.Expect(w.teams).To(HaveLen(2), "AtLeastOnce sends again")
			})
		}
	}
}

// TestARefusedSendWaitsAndLeavesNoMarker: a 429 clears the marker (Teams holds nothing) and
// the send waits for its time, even when another reconcile comes earlier.
func TestARefusedSendWaitsAndLeavesNoMarker(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(teamsv1alpha1.AtMostOnce)
	w.answer = func() error {
		return &msapi.APIError{API: msapi.APIBotFramework, Operation: "sendActivity", Status: 429}
	}
	w.reconcile(t, none)
	g.Expect(w.stored).NotTo(HaveKey(teamsv1alpha1.SendAttemptAnnotation))
	obs := w.reconcile(t, none)
	g.Expect(obs.State).To(Equal(Waiting))
	g.Expect(obs.Until).To(BeNumerically(">", 59*time.Minute))
	g.Expect(w.teams).To(BeEmpty())
}

// TestAFailedMarkerWriteIsTakenBack: the locked write failed, so nothing may persist the marker.
func TestAFailedMarkerWriteIsTakenBack(t *testing.T) {
	g := NewWithT(t)
	obj := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{UID: "m1", Annotations: map[string]string{"a": "b"}}}
	l := (&Memory{}).Open(obj, MessageKeys, teamsv1alpha1.AtMostOnce)
	_, err := l.Begin(context.Background(), func(context.Context) error { return errors.New("conflict") })
	g.Expect(err).To(HaveOccurred())
	g.Expect(obj.GetAnnotations()).To(Equal(map[string]string{"a": "b"}))
}
