package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
)

// fakeTeams is a Connector that takes every create and send, a little slowly, and a store of
// chunks that checks the pipeline's rule at every write and every send: at most batch people
// Sending in the chunks as written, and nobody sent who is not written Sending.
type fakeTeams struct {
	botframework.Interface
	t        *testing.T
	batch    int
	sendTime time.Duration
	saveTime time.Duration

	mu          sync.Mutex
	written     map[int][]Person // each chunk as last written
	chunkOf     map[string]int   // user -> chunk
	copies      map[string]int   // user -> copies sent
	saving      int
	writes      int
	inFlight    atomic.Int32
	markers     int // writes that marked people Sending
	overlapping int // markers that began while a send was in flight
	broken      []string
}

func newFakeTeams(t *testing.T, batch int, chunks [][]Person) *fakeTeams {
	f := &fakeTeams{t: t, batch: batch, sendTime: 2 * time.Millisecond, saveTime: 3 * time.Millisecond,
		written: map[int][]Person{}, chunkOf: map[string]int{}, copies: map[string]int{}}
	for i, people := range chunks {
		f.written[i] = append([]Person(nil), people...)
		for _, p := range people {
			f.chunkOf[p.User] = i
		}
	}
	return f
}

func (f *fakeTeams) breakRule(format string, args ...any) {
	f.broken = append(f.broken, fmt.Sprintf(format, args...))
}

func (f *fakeTeams) CreateConversation(_ context.Context, _ string, p botframework.ConversationParameters) (
	botframework.ConversationResource, error) {
	return botframework.ConversationResource{ID: "conv|" + p.Members[0].ID}, nil
}

func (f *fakeTeams) SendActivity(_ context.Context, _, conv string, _ *botframework.Activity) (string, error) {
	f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	user := strings.TrimPrefix(conv, "conv|")
	f.mu.Lock()
	i := f.chunkOf[user]
	for _, p := range f.written[i] {
		if p.User == user && p.State != Sending {
			f.breakRule("%s sent while written %s", user, p.State.Outcome())
		}
	}
	f.copies[user]++
	f.mu.Unlock()
	time.Sleep(f.sendTime)
	return "act|" + user, nil
}

func (f *fakeTeams) save(_ context.Context, c *Chunk) error {
	busy := f.inFlight.Load() > 0
	f.mu.Lock()
	if marks(f.written[c.Index], c.People) {
		f.markers++
		if busy {
			f.overlapping++
		}
	}
	f.saving++
	if f.saving > 1 {
		f.breakRule("two writes at once")
	}
	f.mu.Unlock()
	time.Sleep(f.saveTime)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saving--
	f.writes++
	f.written[c.Index] = append([]Person(nil), c.People...)
	if n := f.sendingWritten(); n > f.batch {
		f.breakRule("write %d: %d people written Sending, more than the batch of %d", f.writes, n, f.batch)
	}
	return nil
}

func (f *fakeTeams) sendingWritten() int {
	n := 0
	for _, people := range f.written {
		n += countSending(people)
	}
	return n
}

// marks: the write marks someone Sending who was Pending as written before (a marker).
func marks(before, after []Person) bool {
	for i := range after {
		if after[i].State == Sending && i < len(before) && before[i].State == Pending {
			return true
		}
	}
	return false
}

func countSending(people []Person) int {
	n := 0
	for _, p := range people {
		if p.State == Sending {
			n++
		}
	}
	return n
}

func (f *fakeTeams) load(_ context.Context, i int) (*Chunk, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &Chunk{Index: i, People: append([]Person(nil), f.written[i]...)}
	settled := 0
	for j := range c.People {
		if c.People[j].State == Sending { // AtMostOnce: what a crash left in flight is Unknown
			c.People[j].State, c.People[j].Reason = Unknown, ReasonOutcomeUnknown
			settled++
		}
	}
	return c, settled, nil
}

func (f *fakeTeams) pipeline(workers int, more func(context.Context) bool) *Pipeline {
	return &Pipeline{
		Sender: &Sender{Bot: f, AppID: "app", TenantID: "tenant", ServiceURL: "https://smba.example",
			Activity:  &botframework.Activity{Type: botframework.ActivityTypeMessage, Text: "hi"},
			Guarantee: teamsv1alpha1.AtMostOnce, Workers: workers},
		Batch: f.batch, Chunks: len(f.written), Load: f.load, Save: f.save, More: more,
		Stale: func(error) bool { return false },
	}
}

func people(chunk, n int) []Person {
	out := make([]Person, n)
	for i := range out {
		out[i] = Person{User: fmt.Sprintf("user-%d-%03d", chunk, i), State: Pending}
	}
	return out
}

func always(context.Context) bool { return true }

// TestPipelineWritesTheNextBatchWhileSending: the marker of the next people is written while
// the people before them are still being sent (the old batches stopped: every send done,
// then the write, then the next sends), and still at most a batch is ever written Sending,
// nobody is sent before being written Sending, and everyone gets one copy. Chunk 0 holds 30
// people an earlier manager left Sending (a crash): they end Unknown and are not sent.
func TestPipelineWritesTheNextBatchWhileSending(t *testing.T) {
	g := NewWithT(t)
	chunks := [][]Person{people(0, 300), people(1, 300), people(2, 150)}
	for i := 40; i < 70; i++ {
		chunks[0][i].State = Sending
	}
	for i := range 40 {
		chunks[0][i].State = Delivered
	}
	f := newFakeTeams(t, 100, chunks)
	f.sendTime = 10 * time.Millisecond // longer than a write: sends are in flight when it begins
	res, err := f.pipeline(16, always).Run(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.broken).To(BeEmpty())
	g.Expect(res.Done).To(BeTrue())
	g.Expect(f.copies).To(HaveLen(750 - 70))
	for user, n := range f.copies {
		g.Expect(n).To(Equal(1), user)
	}
	counts := map[State]int{}
	for _, people := range f.written {
		for _, p := range people {
			counts[p.State]++
		}
	}
	g.Expect(counts).To(Equal(map[State]int{Delivered: 750 - 30, Unknown: 30}))
	g.Expect(res.Samples).To(BeEmpty(), "Unknown people left by a crash are not this run's")
	t.Logf("%d writes, %d markers, %d of them while sends were in flight", f.writes, f.markers, f.overlapping)
	g.Expect(f.overlapping).To(BeNumerically(">=", (f.markers-1)/2), "the next marker is written while sending")
	g.Expect(f.overlapping).To(BeNumerically(">", 0))
	// About one write per (batch - workers) people, one per chunk to give back what it held,
	// and the last one of each chunk.
	g.Expect(f.writes).To(BeNumerically("<=", 680/(100-16)+1+2*len(chunks)+1))
}

// TestPipelineWithABatchSmallerThanTheWorkers: the rule holds when a batch is smaller than the
// workers (the envtest suite's batch of 20 with 32 workers).
func TestPipelineWithABatchSmallerThanTheWorkers(t *testing.T) {
	g := NewWithT(t)
	f := newFakeTeams(t, 5, [][]Person{people(0, 40), people(1, 13)})
	res, err := f.pipeline(8, always).Run(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.broken).To(BeEmpty())
	g.Expect(res.Done).To(BeTrue())
	g.Expect(f.copies).To(HaveLen(53))
	g.Expect(f.sendingWritten()).To(BeZero())
}

// TestPipelinePutsBackWhoWasNotSent: when told to stop, people written Sending but not yet
// handed out are written back Pending (not left to become Unknown), and nobody is Sending.
func TestPipelinePutsBackWhoWasNotSent(t *testing.T) {
	g := NewWithT(t)
	f := newFakeTeams(t, 50, [][]Person{people(0, 200)})
	f.sendTime = 20 * time.Millisecond // the marked people are still queued when it stops
	var markers atomic.Int32
	res, err := f.pipeline(4, func(context.Context) bool { return markers.Add(1) <= 2 }).Run(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.broken).To(BeEmpty())
	g.Expect(res.Done).To(BeFalse())
	counts := map[State]int{}
	for _, p := range f.written[0] {
		counts[p.State]++
	}
	g.Expect(counts[Sending]).To(BeZero())
	g.Expect(counts[Delivered]).To(Equal(len(f.copies)))
	g.Expect(counts[Delivered]).To(BeNumerically("<=", 100), "two markers of at most 50")
	g.Expect(counts[Pending]).To(Equal(200 - counts[Delivered]))
}

// TestPipelineStopsAtAFailedWrite: a marker that cannot be written sends nobody of it; what
// was handed out before finishes and is written.
func TestPipelineStopsAtAFailedWrite(t *testing.T) {
	g := NewWithT(t)
	f := newFakeTeams(t, 50, [][]Person{people(0, 200)})
	p := f.pipeline(4, always)
	var n atomic.Int32
	boom := errors.New("etcd is away")
	p.Save = func(ctx context.Context, c *Chunk) error {
		if n.Add(1) == 2 {
			return boom
		}
		return f.save(ctx, c)
	}
	res, err := p.Run(context.Background())
	g.Expect(err).To(MatchError(boom))
	g.Expect(res.Done).To(BeFalse())
	g.Expect(f.broken).To(BeEmpty())
	g.Expect(len(f.copies)).To(BeNumerically("<=", 50), "only the first marker's people were sent")
	counts := map[State]int{}
	for _, p := range f.written[0] {
		counts[p.State]++
	}
	g.Expect(counts[Sending]).To(BeZero(), "the results were written after the failure")
	g.Expect(counts[Delivered]).To(Equal(len(f.copies)))
}

// TestPipelineStopsHandingOutAtUntil: past Until nobody more is handed out, even in the middle
// of a marker's people (at a slow rate they could hold the reconcile for minutes); they go back
// to Pending.
func TestPipelineStopsHandingOutAtUntil(t *testing.T) {
	g := NewWithT(t)
	f := newFakeTeams(t, 100, [][]Person{people(0, 100)})
	f.sendTime = 20 * time.Millisecond
	p := f.pipeline(2, always)
	p.Until = time.Now().Add(100 * time.Millisecond)
	res, err := p.Run(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.broken).To(BeEmpty())
	g.Expect(res.Done).To(BeFalse())
	counts := map[State]int{}
	for _, p := range f.written[0] {
		counts[p.State]++
	}
	g.Expect(counts[Sending]).To(BeZero())
	g.Expect(counts[Delivered]).To(Equal(len(f.copies)))
	g.Expect(counts[Delivered]).To(BeNumerically("<", 100), "one marker of 100, cut short")
	g.Expect(counts[Pending]).To(Equal(100 - counts[Delivered]))
}
