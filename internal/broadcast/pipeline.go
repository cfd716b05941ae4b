package broadcast

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pipeline sends the pending people of a broadcast's chunks, in order, without stopping
// between batches: the next batch's marker is written while the people before it are still
// being sent, so the Connector's rate is used without a pause at each batch.
//
// The rule it keeps, which is what a crash can leave: at every moment the chunks as written
// hold at most Batch people Sending, and nobody is handed to a worker before a write that
// marks them Sending has succeeded. A marker written while earlier people are still in
// workers' hands covers only Batch less the people still Sending (in memory in the chunk
// being marked, as written in any chunk before it); writes are one at a time, so whichever
// version of each chunk a crash leaves, at most Batch people are Sending: the next manager
// turns them Unknown (AtMostOnce) or Pending (AtLeastOnce), as it did with one batch.
type Pipeline struct {
	Sender *Sender
	// Batch is the most people written as Sending at once (a crash leaves at most this many).
	Batch int
	// Chunks is the broadcast's number of chunks; they are sent in order.
	Chunks int
	// Load reads chunk i past the cache and settles it: settled is how many people an earlier
	// manager left Sending there (now Unknown or Pending in c.People, still Sending as written).
	Load func(ctx context.Context, i int) (c *Chunk, settled int, err error)
	// Save writes a chunk with an optimistic lock; Stale says an error is that lock's conflict
	// (someone wrote the chunk since it was read): nothing more is written from this run's copies.
	Save  func(ctx context.Context, c *Chunk) error
	Stale func(error) bool
	// More says, before each marker, whether to mark more people (the budget, a deletion, a
	// suspend, an edit). Whoever is already marked but not yet handed out goes back to Pending.
	More func(ctx context.Context) bool
	// Until, when set, ends the hand-outs: people marked but not yet handed out then go back to
	// Pending (at a slow rate a marker's people could otherwise hold the reconcile for minutes).
	Until time.Time
	// SendContext is the workers' context: sends already handed out finish even when ctx ends.
	SendContext context.Context
}

// PipelineResult is what a run did.
type PipelineResult struct {
	// Done: nobody is pending any more in any chunk.
	Done bool
	// Samples are the first few people not reached (failed, skipped, unknown).
	Samples []Person
	// Writes counts the chunk writes.
	Writes int
}

// maxSamples bounds PipelineResult.Samples.
const maxSamples = 5

// live is a chunk being sent: work holds its records as they change (workers write results
// there under the run's lock); c.People is the copy last written.
type live struct {
	c       *Chunk
	work    []Person
	scan    int // the first record that may still be Pending
	sending int // records of work Sending: marked and not yet resolved
	written int // records Sending in the version last written
	dirty   bool
}

type pipelineRun struct {
	p        *Pipeline
	mu       sync.Mutex
	chunks   []*live // in flight, oldest first; the last is the one being marked
	owner    map[*Person]*live
	queue    []*Person // marked and written, not yet handed out
	next     int       // the next chunk to load
	inHands  int       // people handed out and not yet done
	resolved chan struct{}
	samples  []Person
	writes   int
}

// Run sends until everyone is accounted for, More says stop, ctx ends or a write fails. It
// returns once every person handed out is done and the chunks are written.
func (p *Pipeline) Run(ctx context.Context) (PipelineResult, error) {
	r := &pipelineRun{p: p, owner: map[*Person]*live{}, resolved: make(chan struct{}, 1)}
	sendCtx := p.SendContext
	if sendCtx == nil {
		sendCtx = context.WithoutCancel(ctx)
	}
	feed, wait := p.Sender.Stream(sendCtx, r.done)
	err := r.feed(ctx, feed)
	close(feed)
	r.unmark(r.queue)
	r.queue = nil
	wait()
	if err == nil || p.Stale == nil || !p.Stale(err) {
		if ferr := r.flush(ctx); err == nil {
			err = ferr
		}
	}
	return PipelineResult{Done: err == nil && r.allDone(), Samples: r.samples, Writes: r.writes}, err
}

// done records a worker's result.
func (r *pipelineRun) done(p *Person, result Person) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lc := r.owner[p]
	delete(r.owner, p)
	*p = result
	lc.sending--
	lc.dirty = true
	r.inHands--
	if len(r.samples) < maxSamples && (result.State == Failed || result.State == Skipped || result.State == Unknown) {
		r.samples = append(r.samples, result)
	}
	select {
	case r.resolved <- struct{}{}:
	default:
	}
}

// feed hands out marked people, marking more whenever none is left to hand out.
func (r *pipelineRun) feed(ctx context.Context, feed chan<- *Person) error {
	for {
		if len(r.queue) == 0 {
			more, err := r.mark(ctx)
			if err != nil || !more {
				return err
			}
			continue
		}
		if !r.p.Until.IsZero() && time.Now().After(r.p.Until) {
			return nil
		}
		r.mu.Lock()
		r.inHands++ // counted before the hand-over, so done never sees it below zero
		r.mu.Unlock()
		select {
		case feed <- r.queue[0]:
			r.queue = r.queue[1:]
		case <-ctx.Done():
			r.mu.Lock()
			r.inHands--
			r.mu.Unlock()
			return nil
		}
	}
}

// mark writes the next people as Sending; more is false when nobody is left to mark or the
// run should stop.
func (r *pipelineRun) mark(ctx context.Context) (bool, error) {
	if ctx.Err() != nil || !r.p.More(ctx) {
		return false, nil
	}
	if err := r.advance(ctx); err != nil {
		return false, err
	}
	cur := r.current()
	if cur == nil || !r.hasPending(cur) {
		return false, nil
	}
	if !r.roomFor(ctx) {
		return false, nil
	}
	// Chunks behind the current one are written when everyone in them is done (their last
	// write), and before that only when what they hold as written leaves too little room.
	if err := r.writeOlder(ctx, func(lc *live) bool { return lc.sending == 0 }); err != nil {
		return false, err
	}
	if r.room(cur) < (r.p.Batch+1)/2 {
		if err := r.writeOlder(ctx, func(*live) bool { return true }); err != nil {
			return false, err
		}
	}
	r.dropFinished()
	room := r.room(cur)
	r.mu.Lock()
	var marked []*Person
	for ; room > 0 && cur.scan < len(cur.work); cur.scan++ {
		if pr := &cur.work[cur.scan]; pr.State == Pending {
			pr.State = Sending
			r.owner[pr] = cur
			marked = append(marked, pr)
			room--
		}
	}
	cur.sending += len(marked)
	cur.dirty = true
	r.mu.Unlock()
	if err := r.write(ctx, cur); err != nil {
		r.unmark(marked)
		return false, err
	}
	r.queue = marked
	return true, nil
}

// room is how many more people may be written Sending in cur: the batch less those Sending
// in cur and those Sending as written in the chunks behind it.
func (r *pipelineRun) room(cur *live) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.p.Batch - cur.sending
	for _, lc := range r.chunks[:len(r.chunks)-1] {
		room -= lc.written
	}
	return room
}

// writeOlder writes the chunks behind the current one that changed and that which picks.
func (r *pipelineRun) writeOlder(ctx context.Context, which func(*live) bool) error {
	for _, lc := range r.chunks[:len(r.chunks)-1] {
		r.mu.Lock()
		pick := which(lc)
		r.mu.Unlock()
		if pick {
			if err := r.write(ctx, lc); err != nil {
				return err
			}
		}
	}
	return nil
}

// advance makes the current chunk one with people to mark, loading the next chunks as needed.
func (r *pipelineRun) advance(ctx context.Context) error {
	for {
		if cur := r.current(); cur != nil && r.hasPending(cur) {
			return nil
		}
		if r.next >= r.p.Chunks {
			return nil
		}
		c, settled, err := r.p.Load(ctx, r.next)
		if err != nil {
			return err
		}
		r.next++
		lc := &live{c: c, work: append([]Person(nil), c.People...), written: settled, dirty: settled > 0}
		r.mu.Lock()
		r.chunks = append(r.chunks, lc)
		r.mu.Unlock()
	}
}

// roomFor waits, when too few could be marked, until the people in workers' hands are done:
// with a batch smaller than the workers, marking a handful at a time would take a write each.
func (r *pipelineRun) roomFor(ctx context.Context) bool {
	for {
		r.mu.Lock()
		room := r.p.Batch
		for _, lc := range r.chunks {
			room -= lc.sending
		}
		idle := r.inHands == 0
		r.mu.Unlock()
		if room >= (r.p.Batch+1)/2 || idle {
			return true
		}
		select {
		case <-r.resolved:
		case <-ctx.Done():
			return false
		}
	}
}

// write writes lc's records as they are now, if they changed.
func (r *pipelineRun) write(ctx context.Context, lc *live) error {
	r.mu.Lock()
	if !lc.dirty {
		r.mu.Unlock()
		return nil
	}
	copy(lc.c.People, lc.work)
	sending := lc.sending
	lc.dirty = false
	r.mu.Unlock()
	r.writes++
	if err := r.p.Save(ctx, lc.c); err != nil {
		r.mu.Lock()
		lc.dirty = true
		lc.written = max(lc.written, sending) // either version may be the one written
		r.mu.Unlock()
		return err
	}
	lc.written = sending
	return nil
}

// unmark puts people whose marker was not written back to Pending.
func (r *pipelineRun) unmark(people []*Person) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pr := range people {
		lc := r.owner[pr]
		delete(r.owner, pr)
		pr.State = Pending
		lc.sending--
		lc.scan = 0
		lc.dirty = true
	}
}

// flush writes every chunk in flight that changed, once the workers are done: the people
// marked but never handed out go back as Pending (a crash before that leaves them Sending,
// within the bound).
func (r *pipelineRun) flush(ctx context.Context) error {
	var errs []error
	for _, lc := range r.chunks {
		if err := r.write(ctx, lc); err != nil {
			errs = append(errs, err)
			if r.p.Stale != nil && r.p.Stale(err) {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// dropFinished forgets chunks behind the current one that have nobody Sending, as written.
func (r *pipelineRun) dropFinished() {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.chunks[:0]
	for i, lc := range r.chunks {
		if i == len(r.chunks)-1 || lc.sending > 0 || lc.written > 0 || lc.dirty {
			keep = append(keep, lc)
		}
	}
	r.chunks = keep
}

func (r *pipelineRun) current() *live {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chunks) == 0 {
		return nil
	}
	return r.chunks[len(r.chunks)-1]
}

func (r *pipelineRun) hasPending(lc *live) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ; lc.scan < len(lc.work); lc.scan++ {
		if lc.work[lc.scan].State == Pending {
			return true
		}
	}
	return false
}

// allDone: every chunk was reached and nobody is pending in those in flight.
func (r *pipelineRun) allDone() bool {
	if r.next < r.p.Chunks {
		return false
	}
	for _, lc := range r.chunks {
		lc.scan = 0
		if r.hasPending(lc) {
			return false
		}
	}
	return true
}
