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
	"k8s.io/apimachinery/pkg/types"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// world is a message's journal entry as the API server stores it, a Connector fake that keeps
// what Teams holds, and the memory of the running process (the ledger's and the journal's). A
// crash loses the memory and everything not written to the API server.
type world struct {
	server   map[string]Entry // the journal as stored
	book     *fakeBook
	teams    []string // activity ids Teams holds
	answer   func() error
	mem      *Memory
	guarante teamsv1alpha1.DeliveryGuarantee
	apiDown  bool
	// downAfterPost takes the API server away once the POST is answered.
	downAfterPost bool
	bot           *botframework.Fake
}

// fakeBook is the journal of one process: blocking writes reach the server at once, later ones
// at the end of the reconcile (flush), unless the API server is away.
type fakeBook struct {
	w       *world
	pending map[string]*Entry
}

func (b *fakeBook) Get(_ context.Context, _, name string) (Entry, bool, error) {
	if e, ok := b.pending[name]; ok {
		if e == nil {
			return Entry{}, false, nil
		}
		return *e, true, nil
	}
	e, ok := b.w.server[name]
	return e, ok, nil
}

func (b *fakeBook) Refresh(context.Context, string) error { return nil }

func (b *fakeBook) Put(_ context.Context, _, name string, e Entry) error {
	if b.w.apiDown {
		return errors.New("API server away")
	}
	b.w.server[name] = e
	return nil
}

func (b *fakeBook) Clear(_ context.Context, _, name string) error {
	if b.w.apiDown {
		return errors.New("API server away")
	}
	delete(b.w.server, name)
	return nil
}

func (b *fakeBook) PutLater(_, name string, e Entry) { b.pending[name] = &e }
func (b *fakeBook) DeleteLater(_, name string)       { b.pending[name] = nil }

func (b *fakeBook) flush() {
	if b.w.apiDown {
		return
	}
	for name, e := range b.pending {
		if e == nil {
			delete(b.w.server, name)
		} else {
			b.w.server[name] = *e
		}
	}
	b.pending = map[string]*Entry{}
}

// fakeProof proves what it signed.
type fakeProof struct{}

func (fakeProof) Sign(c, a string) string        { return "proof:" + c + "/" + a }
func (fakeProof) Verify(c, a, proof string) bool { return proof == "proof:"+c+"/"+a }

func newWorld(g teamsv1alpha1.DeliveryGuarantee) *world {
	w := &world{server: map[string]Entry{}, mem: &Memory{}, guarante: g}
	w.book = &fakeBook{w: w, pending: map[string]*Entry{}}
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

func (w *world) open(obj *teamsv1alpha1.ProactiveMessage) *Ledger {
	return w.mem.Open(obj, MessageKeys, Options{Guarantee: w.guarante, Book: w.book, Proof: fakeProof{}, Target: "oncall"})
}

func message(uid string, ann map[string]string) *teamsv1alpha1.ProactiveMessage {
	return &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", UID: types.UID(uid),
		Annotations: maps.Clone(ann)}}
}

// reconcile reads the message, runs the protocol and flushes the journal at the end, unless it
// crashes at crashAt. It returns what Observe saw.
func (w *world) reconcile(t *testing.T, crashAt step) Observation {
	t.Helper()
	ctx := context.Background()
	l := w.open(message("m1", nil))
	obs, err := l.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != Ready {
		w.persist(l)
		return obs
	}
	if crashAt == crashBeforeMarker {
		w.crash()
		return obs
	}
	if _, err := l.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	if crashAt == crashAfterMarker {
		w.crash()
		return obs
	}
	id, err := w.bot.SendActivity(ctx, "https://smba", "conv", &botframework.Activity{})
	if crashAt == crashAfterPost {
		w.crash()
		return obs
	}
	w.apiDown = w.apiDown || w.downAfterPost
	if d, _ := l.Record(ctx, "conv", id, err); d == Refused {
		l.RetryAt(time.Now().Add(time.Hour))
	}
	w.persist(l)
	return obs
}

// persist is the end of the reconcile: the journal's group goes out (not while the API server
// is away) and the ledger learns the result.
func (w *world) persist(l *Ledger) {
	w.book.flush()
	l.Persisted(nil)
}

func (w *world) crash() {
	w.mem = &Memory{}
	w.book = &fakeBook{w: w, pending: map[string]*Entry{}}
}

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
						gm.Expect(w.server["m"].Marker).NotTo(BeEmpty(), "the marker stays as evidence")
						gm.Expect(w.server["m"].HasIDs()).To(BeFalse())
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
			w.downAfterPost = true
			w.reconcile(t, none)
			gm.Expect(w.server["m"].Marker).NotTo(BeEmpty(), "only the marker was written")
			gm.Expect(w.server["m"].HasIDs()).To(BeFalse())
			w.apiDown, w.downAfterPost = false, false
			obs := w.reconcile(t, none)
			gm.Expect(obs.State).To(Equal(Delivered))
			gm.Expect(obs.Delivery.ActivityID).To(Equal("act-1"))
			gm.Expect(w.server["m"].ActivityID).To(Equal("act-1"), "written now")
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
	g.Expect(w.server).NotTo(HaveKey("m"), "no marker")
	obs := w.reconcile(t, none)
	g.Expect(obs.State).To(Equal(Waiting))
	g.Expect(obs.Until).To(BeNumerically(">", 59*time.Minute))
	g.Expect(w.teams).To(BeEmpty())
}

// TestAFailedMarkerWriteSendsNothing: the marker was not written, so Begin fails and the
// caller does not send.
func TestAFailedMarkerWriteSendsNothing(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(teamsv1alpha1.AtMostOnce)
	w.apiDown = true
	l := w.open(message("m1", nil))
	_, err := l.Begin(context.Background())
	g.Expect(err).To(HaveOccurred())
	g.Expect(w.server).To(BeEmpty())
}

// TestAnnotationsOfAnOlderVersionAreHonoured: messages sent before the journal keep their
// outcome, and the journal is not read for them.
func TestAnnotationsOfAnOlderVersionAreHonoured(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	delivered := map[string]string{teamsv1alpha1.SendAttemptAnnotation: "t", teamsv1alpha1.ActivityIDAnnotation: "act-9",
		teamsv1alpha1.ConversationIDAnnotation: "conv"}
	marked := map[string]string{teamsv1alpha1.SendAttemptAnnotation: "t"}

	w := newWorld(teamsv1alpha1.AtMostOnce)
	obs, err := w.open(message("m1", delivered)).Observe(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obs.State).To(Equal(Delivered))
	g.Expect(obs.Delivery.ActivityID).To(Equal("act-9"))
	obs, _ = w.open(message("m1", marked)).Observe(ctx)
	g.Expect(obs.State).To(Equal(Unknown))

	w = newWorld(teamsv1alpha1.AtLeastOnce)
	obj := message("m1", marked)
	obs, _ = w.open(obj).Observe(ctx)
	g.Expect(obs.State).To(Equal(Ready))
	g.Expect(obs.Resent).To(BeTrue())
	g.Expect(obj.Annotations).NotTo(HaveKey(teamsv1alpha1.SendAttemptAnnotation), "cleared with the reconcile's write")
}

// TestWhatTheJournalIsTrustedWith: ids count with a valid proof whatever the UID (a restore);
// forged ids are ignored; another object's marker is not this one's unknown outcome.
func TestWhatTheJournalIsTrustedWith(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		entry   Entry
		want    State
		ignored bool
	}{
		"restored ids":         {entry: Entry{UID: "old", ConversationID: "c", ActivityID: "a", Proof: "proof:c/a"}, want: Delivered},
		"forged ids":           {entry: Entry{UID: "m1", ConversationID: "c", ActivityID: "a", Proof: "proof:c/b"}, want: Ready, ignored: true},
		"ids without proof":    {entry: Entry{UID: "old", ConversationID: "c", ActivityID: "a"}, want: Ready, ignored: true},
		"another UID's marker": {entry: Entry{UID: "old", Marker: "t"}, want: Ready},
		"its own marker":       {entry: Entry{UID: "m1", Marker: "t"}, want: Unknown},
		"no id, proven":        {entry: Entry{UID: "old", ConversationID: "c", NoID: true, Proof: "proof:c/"}, want: Delivered},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			w := newWorld(teamsv1alpha1.AtMostOnce)
			w.server["m"] = tc.entry
			obs, err := w.open(message("m1", nil)).Observe(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(obs.State).To(Equal(tc.want))
			g.Expect(obs.Ignored).To(Equal(tc.ignored))
		})
	}
}
