package ratelimit

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Queue levels: the work queue's order between kinds of work, highest first. A
// message's Priority gives its level; the same message seen again in a resync
// (after a restart, or unchanged) sits half a step lower, so that new messages of
// its priority go before the backlog, and finished messages, which a resync
// only looks at, go last.
const (
	levelStep          = 100
	resyncOffset       = -levelStep / 2
	QueueLevelFinished = -2 * levelStep
)

// QueueLevel is the work-queue level of a message of priority p; resync: the
// message was seen before (the initial list after a restart, or a resync).
func QueueLevel(p Priority, resync bool) int {
	l := int(p) * levelStep
	if resync {
		l += resyncOffset
	}
	return l
}

// The queue's priorities encode (level, tag) in one int: level first, then the
// smaller fair tag first. Encoded values sit far below anything controller-runtime
// passes itself (0, -100), so the queue can tell an encoded priority (a requeue
// of an item it handed out) from a level to encode.
const (
	tagBits     = 40
	tagLimit    = 1<<tagBits - 1
	encodedBase = -(1 << 60)
	tagUnit     = 1024 // one turn of a namespace of weight 1
	maxLevel    = 1 << 18
)

func encode(level int, tag int64) int {
	level = min(max(level, -maxLevel), maxLevel)
	tag = min(max(tag, 0), tagLimit)
	return encodedBase + level<<tagBits - int(tag)
}

func isEncoded(p int) bool { return p < encodedBase/2 }

func decode(p int) (level int, tag int64) {
	x := p - encodedBase
	level = (x + tagLimit) >> tagBits
	return level, int64(level<<tagBits - x)
}

// FairQueue is a controller work queue (controller.Options.NewQueue) that
// orders reconciles as the AppLimiter orders requests: by level (priority, and
// new before resync), then within a level by start-time fair queueing between
// namespaces. Without it, controller-runtime's queue is first in, first out
// within a priority: one namespace's 10,000 new messages would be reconciled
// before another's single one, whatever the limiter does.
//
// An item added with an explicit level (AddLevel) takes it; an item added by
// another handler takes the level hinted for it (SetHint; Normal without one),
// lowered to the resync level when controller-runtime added it as unchanged.
// An item the controller requeues keeps the place it had (the encoded priority
// it was handed out with).
type FairQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]

	// Weight returns a namespace's share (nil or <= 0: 1).
	Weight func(namespace string) float64

	mu     sync.Mutex
	levels map[int]*fairTags
	hints  map[types.NamespacedName]int
	gets   int
}

// fairTags is one level's virtual time and each namespace's last finish tag.
type fairTags struct {
	vtime int64
	last  map[string]int64
}

var _ priorityqueue.PriorityQueue[reconcile.Request] = (*FairQueue)(nil)

// NewFairQueue wraps a controller-runtime priority queue.
func NewFairQueue(inner priorityqueue.PriorityQueue[reconcile.Request]) *FairQueue {
	return &FairQueue{PriorityQueue: inner, levels: map[int]*fairTags{}, hints: map[types.NamespacedName]int{}}
}

// NewFairQueueFunc is a controller.Options.NewQueue that builds a FairQueue over
// controller-runtime's priority queue.
func NewFairQueueFunc(weight func(namespace string) float64) func(string, workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
		q := NewFairQueue(priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) { o.RateLimiter = rl }))
		q.Weight = weight
		return q
	}
}

// SetHint records the level of an item for adds that do not say it; level 0
// (Normal) forgets it. Hints are kept only for items that need one, so memory
// follows the unfinished High and Bulk messages, not every object.
func (q *FairQueue) SetHint(item reconcile.Request, level int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if level == 0 {
		delete(q.hints, item.NamespacedName)
		return
	}
	q.hints[item.NamespacedName] = level
}

// AddLevel adds items at level, each with its namespace's next fair tag.
func (q *FairQueue) AddLevel(level int, items ...reconcile.Request) {
	for _, item := range items {
		p := q.place(level, item.Namespace)
		q.PriorityQueue.AddWithOpts(priorityqueue.AddOpts{Priority: &p}, item)
	}
}

// AddWithOpts implements priorityqueue.PriorityQueue.
func (q *FairQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	if o.Priority != nil && isEncoded(*o.Priority) {
		q.PriorityQueue.AddWithOpts(o, items...)
		return
	}
	unchanged := o.Priority != nil && *o.Priority < 0
	for _, item := range items {
		q.mu.Lock()
		level := q.hints[item.NamespacedName]
		q.mu.Unlock()
		if unchanged {
			level += resyncOffset
		}
		p := q.place(level, item.Namespace)
		o.Priority = &p
		q.PriorityQueue.AddWithOpts(o, item)
	}
}

// Add implements workqueue.Interface.
func (q *FairQueue) Add(item reconcile.Request) { q.AddWithOpts(priorityqueue.AddOpts{}, item) }

// AddAfter implements workqueue.DelayingInterface.
func (q *FairQueue) AddAfter(item reconcile.Request, after time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: after}, item)
}

// AddRateLimited implements workqueue.RateLimitingInterface.
func (q *FairQueue) AddRateLimited(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}

// Get implements workqueue.Interface.
func (q *FairQueue) Get() (reconcile.Request, bool) {
	item, _, shutdown := q.GetWithPriority()
	return item, shutdown
}

// GetWithPriority implements priorityqueue.PriorityQueue: it moves the level's
// virtual time to the start tag of the item handed out.
func (q *FairQueue) GetWithPriority() (reconcile.Request, int, bool) {
	item, p, shutdown := q.PriorityQueue.GetWithPriority()
	if shutdown || !isEncoded(p) {
		return item, p, shutdown
	}
	level, tag := decode(p)
	q.mu.Lock()
	defer q.mu.Unlock()
	if lv, ok := q.levels[level]; ok && tag > lv.vtime {
		lv.vtime = tag
	}
	q.gets++
	if q.gets%1024 == 0 {
		q.forget()
	}
	return item, p, shutdown
}

// place returns the encoded priority of a new item of namespace ns at level.
func (q *FairQueue) place(level int, ns string) int {
	weight := 1.0
	if q.Weight != nil {
		if w := q.Weight(ns); w > 0 {
			weight = w
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	lv, ok := q.levels[level]
	if !ok {
		lv = &fairTags{last: map[string]int64{}}
		q.levels[level] = lv
	}
	start := max(lv.vtime, lv.last[ns])
	lv.last[ns] = start + max(int64(tagUnit/weight), 1)
	return encode(level, start)
}

// forget drops the namespaces that have caught up with their level's virtual
// time: a new item of theirs would start there anyway.
func (q *FairQueue) forget() {
	for _, lv := range q.levels {
		for ns, last := range lv.last {
			if last <= lv.vtime {
				delete(lv.last, ns)
			}
		}
	}
}
