package ledger

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// refreshTimeout bounds one refresh round. A round is not cut short when a caller stops
// waiting: the others that joined it still wait for it.
const refreshTimeout = 10 * time.Second

// refreshPage is the page size of the metadata LIST. A namespace has a few shards; more items
// are ConfigMaps someone else labelled, read page by page all the same.
const refreshPage = 256

// maxLabelled bounds the ConfigMaps the metadata LIST reads: more than there can be shards
// (shardIndex stops at 4096) is a namespace labelling ConfigMaps to make every check of its
// journal long, and is refused like a journal too large to read.
var maxLabelled = 4097 + refreshPage

// Refresh makes sure this process's copy of a namespace's journal is current: it compares the
// shards the API server holds with the versions this process read or wrote and, when one was
// written by someone else (a restore of a backup, a person), reads the namespace again. The
// ledger asks before it sends a message that never had an attempt and has no entry here: it
// may be a restored message whose ids came back with the ConfigMaps.
//
// Concurrent calls for a namespace share the work, as the writes do: a call is answered by a
// round whose reads all start after the call, so it cannot miss a shard restored just before
// it. A call made while a round reads joins the next round, which starts when that one ends
// and answers every call that joined it, with its error if it fails. A caller whose ctx ends
// leaves at once; the round goes on for the others. In a burst of new messages this costs a
// namespace about one LIST per round trip instead of a few GETs per message.
func (j *Journal) Refresh(ctx context.Context, ns string) error {
	s := j.space(ns)
	r := s.refresh.join(s)
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		s.refresh.leave(r)
		return &JournalError{Namespace: ns, Err: ctx.Err()}
	}
}

// refreshQueue is a namespace's Refresh rounds: at most one reads, and at most one waits.
type refreshQueue struct {
	mu      sync.Mutex
	running bool   // a goroutine runs rounds
	next    *round // the round new callers join; it starts after the one that reads
}

// round is one refresh of a namespace and the callers it answers.
type round struct {
	done    chan struct{} // closed with err set when the round ended
	err     error
	callers int // callers still waiting
}

// join adds a caller to the next round and starts the rounds if none run.
func (q *refreshQueue) join(s *space) *round {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next == nil {
		q.next = &round{done: make(chan struct{})}
	}
	r := q.next
	r.callers++
	if !q.running {
		q.running = true
		go q.run(s)
	}
	return r
}

// leave removes a caller that stopped waiting.
func (q *refreshQueue) leave(r *round) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r.callers--
}

// waiting is how many callers wait for the next round (tests watch it).
func (q *refreshQueue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next == nil {
		return 0
	}
	return q.next.callers
}

// run takes the next round, closes it to newcomers and reads, until no round waits. A round
// every caller left is skipped.
func (q *refreshQueue) run(s *space) {
	for {
		q.mu.Lock()
		r := q.next
		q.next = nil
		if r == nil {
			q.running = false
			q.mu.Unlock()
			return
		}
		idle := r.callers == 0
		q.mu.Unlock()
		if !idle {
			r.err = s.refreshRound()
		}
		close(r.done)
	}
}

// refreshRound loads the namespace if needed, compares its shards with what the API server
// holds, and reads it again if one changed under this process.
func (s *space) refreshRound() error {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	if err := s.load(ctx); err != nil {
		return err
	}
	if err := s.compare(ctx); err != nil {
		return err
	}
	return s.load(ctx)
}

// compare reads the metadata of the journal's shards with one LIST (page by page) and hands
// each shard's version to seen.
//
// One metadata-only LIST by label replaced a GET per known shard plus one: it gives the same
// guarantee with one round trip however many shards there are. A LIST without a
// resourceVersion is a consistent read, like a GET (the API server answers from etcd, or from
// its watch cache once that has caught up with etcd: "Most recent" in
// https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions, and
// https://www.kubernetes.dev/resources/keps/2340/), and the later pages come from the first
// page's snapshot, taken after the round started. The label selector keeps the old rule: a
// ConfigMap with a shard's name but without the journal's label is not listed, so it counts as
// absent, as before. ConfigMaps with the label but not a shard's name are ignored, as the load
// does. It sees more than the GETs did: a restored shard beyond the first one this process
// does not know (the GETs stopped there).
func (s *space) compare(ctx context.Context) error {
	s.mu.Lock()
	known := len(s.exists) // shards this process created meanwhile are its own
	s.mu.Unlock()
	found, err := s.listShards(ctx)
	if err != nil {
		return err
	}
	for i := range known {
		if _, ok := found[i]; !ok {
			s.seen(i, "", false)
		}
	}
	for i, version := range found {
		s.seen(i, version, true)
	}
	return nil
}

// listShards returns the resourceVersion of each shard the API server holds.
func (s *space) listShards(ctx context.Context) (map[int]string, error) {
	found := map[int]string{}
	next, listed := "", 0
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
		opts := []client.ListOption{client.InNamespace(s.ns), client.MatchingLabels{JournalLabel: JournalVersion},
			client.Limit(refreshPage), client.Continue(next)}
		if err := s.j.Reader.List(ctx, list, opts...); err != nil {
			return nil, &JournalError{Namespace: s.ns, Err: err}
		}
		if listed += len(list.Items); listed > maxLabelled {
			return nil, &JournalError{Namespace: s.ns, Err: fmt.Errorf("%w (more than %d ConfigMaps labelled %s=%s)",
				ErrJournalTooLarge, maxLabelled, JournalLabel, JournalVersion)}
		}
		for _, item := range list.Items {
			if i, ok := shardIndex(item.Name); ok {
				found[i] = item.ResourceVersion
			}
		}
		if next = list.Continue; next == "" {
			return found, nil
		}
	}
}
