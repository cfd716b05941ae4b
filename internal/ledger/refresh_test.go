package ledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holding is the API server's reader, counting the reads that reach it. While a gate is set,
// each read keeps the API server's answer until the gate opens: a refresh round held open
// after it read. A read whose caller's ctx ends returns at once.
type holding struct {
	client.Reader
	reads atomic.Int32

	mu     sync.Mutex
	gate   chan struct{}
	refuse int           // refuse this many reads
	held   chan struct{} // a read waits at the gate
}

func (h *holding) read(ctx context.Context, do func() error) error {
	h.reads.Add(1)
	h.mu.Lock()
	gate, refuse := h.gate, h.refuse > 0
	if refuse {
		h.refuse--
	}
	h.mu.Unlock()
	err := do()
	if refuse {
		err = apierrors.NewServiceUnavailable("the API server is away")
	}
	if gate != nil {
		h.held <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (h *holding) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return h.read(ctx, func() error { return h.Reader.Get(ctx, key, obj, opts...) })
}

func (h *holding) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return h.read(ctx, func() error { return h.Reader.List(ctx, list, opts...) })
}

func (h *holding) setRefuse(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refuse = n
}

// refreshFixture is a namespace whose journal has shard 0, loaded by j, which reads through h.
type refreshFixture struct {
	g  *WithT
	ns string
	h  *holding
	j  *Journal
}

func newRefreshFixture(t *testing.T) *refreshFixture {
	g := NewWithT(t)
	ns := newNamespace(t)
	h := &holding{Reader: apiServer, held: make(chan struct{}, 1024)}
	j := &Journal{Client: apiServer, Reader: h}
	g.Expect(j.Put(context.Background(), ns, "mine", entry(1))).To(Succeed())
	h.reads.Store(0)
	return &refreshFixture{g: g, ns: ns, h: h, j: j}
}

// holdRound starts a Refresh whose round read and is held; opening the returned gate lets it
// end. first answers that Refresh.
func (f *refreshFixture) holdRound() (gate chan struct{}, first chan error) {
	gate = make(chan struct{})
	f.h.mu.Lock()
	f.h.gate = gate
	f.h.mu.Unlock()
	first = f.refresh(context.Background())
	f.g.Eventually(f.h.held).WithTimeout(30*time.Second).Should(Receive(), "the first round reads")
	return gate, first
}

// open lets the held reads go; later reads are not held.
func (f *refreshFixture) open(gate chan struct{}) {
	f.h.mu.Lock()
	f.h.gate = nil
	f.h.mu.Unlock()
	close(gate)
}

// refresh calls Refresh in the background.
func (f *refreshFixture) refresh(ctx context.Context) chan error {
	done := make(chan error, 1)
	go func() { done <- f.j.Refresh(ctx, f.ns) }()
	return done
}

// waiting waits until n callers wait for the next round.
func (f *refreshFixture) waiting(n int) {
	f.g.Eventually(func() int { return f.j.space(f.ns).refresh.waiting() }).WithTimeout(30*time.Second).
		Should(Equal(n), "callers waiting for the next round")
}

func (f *refreshFixture) answer(done chan error) error {
	var err error
	f.g.Eventually(done).WithTimeout(30*time.Second).Should(Receive(&err), "Refresh returns")
	return err
}

// restore creates shard i with an entry, as a restore of a backup would; unlabelled: a
// ConfigMap with the shard's name that is not the journal's.
func (f *refreshFixture) restore(i int, key string, labelled bool) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: ShardName(i)},
		Data: map[string]string{key: `{"u":"old","a":"act-9","c":"19:c","p":"x"}`}}
	if labelled {
		cm.Labels = map[string]string{JournalLabel: JournalVersion}
	}
	f.g.Expect(apiServer.Create(context.Background(), cm)).To(Succeed())
}

func (f *refreshFixture) holds(key string) bool {
	_, ok, err := f.j.Get(context.Background(), f.ns, key)
	f.g.Expect(err).NotTo(HaveOccurred())
	return ok
}

// TestConcurrentRefreshesShareRounds: n callers that come while a round reads are all
// answered by the next round: two reads in all, where each call made its own before (a GET
// per known shard plus one: 2(n+1) here).
func TestConcurrentRefreshesShareRounds(t *testing.T) {
	f := newRefreshFixture(t)
	gate, first := f.holdRound()
	const n = 32
	answers := make([]chan error, n)
	for i := range answers {
		answers[i] = f.refresh(context.Background())
	}
	f.waiting(n)
	f.open(gate)
	f.g.Expect(f.answer(first)).To(Succeed())
	for _, done := range answers {
		f.g.Expect(f.answer(done)).To(Succeed())
	}
	f.g.Expect(f.h.reads.Load()).To(BeNumerically("<=", 2), "one read per round, two rounds for %d calls", n+1)
}

// TestACallDuringARoundWaitsForTheNext: a shard restored after a call, while a round that
// read before it is still going, is seen by that call: it was answered by a later round.
func TestACallDuringARoundWaitsForTheNext(t *testing.T) {
	f := newRefreshFixture(t)
	gate, first := f.holdRound()
	second := f.refresh(context.Background())
	f.waiting(1)
	f.restore(1, "restored", true)
	f.open(gate)
	f.g.Expect(f.answer(first)).To(Succeed())
	f.g.Expect(f.answer(second)).To(Succeed())
	f.g.Expect(f.holds("restored")).To(BeTrue(), "the second call's round read after the restore")
	f.g.Expect(f.h.reads.Load()).To(BeNumerically("<=", 3), "a read per round and one to read the namespace again")
}

// TestARefusedRoundFailsEveryCallerOfIt: the API server refuses the round's read; every
// caller that joined it hears why, and the next call reads again.
func TestARefusedRoundFailsEveryCallerOfIt(t *testing.T) {
	f := newRefreshFixture(t)
	gate, first := f.holdRound()
	answers := []chan error{f.refresh(context.Background()), f.refresh(context.Background()), f.refresh(context.Background())}
	f.waiting(len(answers))
	f.h.setRefuse(1)
	f.open(gate)
	f.g.Expect(f.answer(first)).To(Succeed())
	for _, done := range answers {
		err := f.answer(done)
		var je *JournalError
		f.g.Expect(errors.As(err, &je)).To(BeTrue(), "%v", err)
		f.g.Expect(apierrors.IsServiceUnavailable(err)).To(BeTrue(), "%v", err)
		f.g.Expect(err.Error()).To(ContainSubstring("namespace " + f.ns))
	}
	f.g.Expect(f.h.reads.Load()).To(BeEquivalentTo(2), "one refused read answers the round")
	f.g.Expect(f.j.Refresh(context.Background(), f.ns)).To(Succeed(), "a failed round is not remembered")
}

// TestACallerThatLeavesDoesNotStopTheRound: the caller that opened the next round gives up
// while the round before still reads; it leaves at once, and the round goes on for the
// caller that stayed.
func TestACallerThatLeavesDoesNotStopTheRound(t *testing.T) {
	f := newRefreshFixture(t)
	gate, first := f.holdRound()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leaving := f.refresh(ctx)
	f.waiting(1)
	staying := f.refresh(context.Background())
	f.waiting(2)
	cancel()
	err := f.answer(leaving)
	f.g.Expect(err).To(MatchError(context.Canceled))
	var je *JournalError
	f.g.Expect(errors.As(err, &je)).To(BeTrue(), "%v", err)
	f.waiting(1)
	f.restore(1, "restored", true)
	f.open(gate)
	f.g.Expect(f.answer(first)).To(Succeed())
	f.g.Expect(f.answer(staying)).To(Succeed())
	f.g.Expect(f.holds("restored")).To(BeTrue())
	f.g.Expect(f.h.reads.Load()).To(BeNumerically("<=", 3))
}

// TestRefreshSeesAnyRestoredShard: a ConfigMap with a shard's name but without the journal's
// label is not the journal's; a labelled shard is seen wherever it is (the GETs stopped at the
// first shard this process did not know).
func TestRefreshSeesAnyRestoredShard(t *testing.T) {
	f := newRefreshFixture(t)
	ctx := context.Background()
	f.restore(1, "foreign", false)
	f.g.Expect(f.j.Refresh(ctx, f.ns)).To(Succeed())
	f.g.Expect(f.holds("foreign")).To(BeFalse(), "an unlabelled ConfigMap is not a shard")
	f.restore(3, "restored", true)
	f.g.Expect(f.j.Refresh(ctx, f.ns)).To(Succeed())
	f.g.Expect(f.holds("restored")).To(BeTrue(), "shard 3 is read though shards 1 and 2 are not the journal's")
}
