package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The send journal keeps the send-attempt markers and the delivered ids of a namespace's
// messages in a few ConfigMaps of that namespace, written for many sends at once (a group
// commit), so a delivered message costs its status patch and a share of one ConfigMap write
// instead of two locked metadata patches of its own (docs/reliability.md, "Writes per
// message"). The ConfigMaps are in the messages' namespace, so a backup of the namespace
// carries the ids, as the annotations did.
const (
	// JournalLabel marks the journal's ConfigMaps, with the value JournalVersion.
	JournalLabel   = "teams.operator.dev/send-journal"
	JournalVersion = "v1"
	// JournalPrefix starts the name of every shard: teams-operator-sends-0, -1, ...
	JournalPrefix = "teams-operator-sends-"
)

// ShardBytes is how much data one shard holds at most (keys and values); a variable so tests
// can lower it. A ConfigMap may take 1 MiB; a quarter keeps each write small.
var ShardBytes = 256 << 10

// MaxJournalBytes refuses to load a namespace whose journal is larger than this.
var MaxJournalBytes = 64 << 20

// maxEntryBytes ignores entries larger than any the operator writes.
const maxEntryBytes = 4 << 10

// FlushDelay is how long a PutLater waits for company before it is written alone.
const FlushDelay = 250 * time.Millisecond

// writeTimeout bounds one journal write. A write is not abandoned when a caller stops waiting:
// a marker the API server applied but whose answer was dropped would read as an unknown outcome.
const writeTimeout = 10 * time.Second

// maxBackoff bounds the wait between retries of ids the API server did not take.
const maxBackoff = 30 * time.Second

// Entry is what the journal holds for one message (the data key is the message's name).
type Entry struct {
	// UID is the object's UID when the entry was written.
	UID types.UID `json:"u,omitempty"`
	// Target is the message's ConversationTarget.
	Target string `json:"t,omitempty"`
	// Marker is the send attempt (RFC3339Nano), written before the POST.
	Marker string `json:"m,omitempty"`
	// ConversationID and ActivityID are the delivery's ids; NoID: delivered without an
	// activity id.
	ConversationID string `json:"c,omitempty"`
	ActivityID     string `json:"a,omitempty"`
	NoID           bool   `json:"n,omitempty"`
	// Proof is the delivery proof of the ids (the controller's delivery_proof.go).
	Proof string `json:"p,omitempty"`
}

// HasIDs reports a delivered entry.
func (e Entry) HasIDs() bool { return e.ActivityID != "" || e.NoID }

// ShardName is the name of shard i.
func ShardName(i int) string { return JournalPrefix + strconv.Itoa(i) }

// JournalError is a journal read or write the API server refused or did not answer.
type JournalError struct {
	// Namespace and ConfigMap name what failed (ConfigMap is empty for a read).
	Namespace, ConfigMap string
	Err                  error
}

func (e *JournalError) Error() string {
	if e.ConfigMap == "" {
		return fmt.Sprintf("reading the send journal of namespace %s (ConfigMaps labelled %s=%s): %v",
			e.Namespace, JournalLabel, JournalVersion, e.Err)
	}
	return fmt.Sprintf("writing the send journal ConfigMap %s/%s: %v", e.Namespace, e.ConfigMap, e.Err)
}

func (e *JournalError) Unwrap() error { return e.Err }

// ErrJournalTooLarge: a namespace's journal is larger than MaxJournalBytes.
var ErrJournalTooLarge = errors.New("the send journal is larger than the operator reads")

// Journal is the send journal of every namespace this process has loaded. It loads a
// namespace the first time one of its messages asks, and from then on its copy is
// authoritative: this process (the leader) makes every write. It is safe for concurrent use.
type Journal struct {
	// Client writes the ConfigMaps; Reader lists them past the cache.
	Client client.Client
	Reader client.Reader

	mu     sync.Mutex
	spaces map[string]*space
}

// space is one namespace's journal.
type space struct {
	j  *Journal
	ns string

	loadMu sync.Mutex // held while loading

	mu      sync.Mutex
	loaded  bool
	entries map[string]Entry // what this process holds to be true
	shardOf map[string]int   // where each key is written
	sizes   []int            // data bytes per shard, as written
	exists  []bool           // the shard's ConfigMap exists
	ours    map[int][]string // the resourceVersions of each shard this process read or wrote (the last few)
	busy    map[int][]string // a write to the shard is in flight: the versions the watch saw meanwhile
	pending map[string]*change
	urgent  chan struct{}
	writing bool
	retries int

	refresh refreshQueue // coalesces Refresh calls (refresh.go)
}

// change is a pending write of one key: an entry, or its removal (entry nil). done is set
// for a blocking caller.
type change struct {
	entry *Entry
	done  []chan error
	// failures of a change nobody waits for: after maxFailures it is dropped (status holds the
	// ids; only the journal's copy is lost), so a namespace that refuses its journal for good
	// (deleted, an admission policy) does not keep it in memory forever.
	failures int
}

// maxFailures is about 10 minutes of retries at the longest backoff.
const maxFailures = 24

func (j *Journal) space(ns string) *space {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.spaces == nil {
		j.spaces = map[string]*space{}
	}
	s, ok := j.spaces[ns]
	if !ok {
		s = &space{j: j, ns: ns, pending: map[string]*change{}, urgent: make(chan struct{}, 1),
			ours: map[int][]string{}, busy: map[int][]string{}}
		j.spaces[ns] = s
	}
	return s
}

// Get returns the entry of a message, loading the namespace first if needed.
func (j *Journal) Get(ctx context.Context, ns, name string) (Entry, bool, error) {
	s := j.space(ns)
	if err := s.load(ctx); err != nil {
		return Entry{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	return e, ok, nil
}

// Put writes the entry of a message and returns once it is written (with the other changes
// of the namespace that came meanwhile) or the write failed. A failed write changes nothing.
func (j *Journal) Put(ctx context.Context, ns, name string, e Entry) error {
	return j.write(ctx, ns, name, &e)
}

// Clear removes the entry of a message and returns once that is written.
func (j *Journal) Clear(ctx context.Context, ns, name string) error {
	return j.write(ctx, ns, name, nil)
}

func (j *Journal) write(ctx context.Context, ns, name string, e *Entry) error {
	s := j.space(ns)
	if err := s.load(ctx); err != nil {
		return err
	}
	done := make(chan error, 1)
	s.mu.Lock()
	c := &change{entry: e, done: []chan error{done}}
	if old, ok := s.pending[name]; ok {
		c.done = append(c.done, old.done...) // the newer change answers for both
	}
	s.pending[name] = c
	s.kick(true)
	s.mu.Unlock()
	return <-done
}

// PutLater writes the entry of a message with the next group, or alone after FlushDelay,
// retrying while the API server is away. This process holds it at once.
func (j *Journal) PutLater(ns, name string, e Entry) {
	j.later(ns, name, &e)
}

// DeleteLater removes the entry of a deleted message with the next group.
func (j *Journal) DeleteLater(ns, name string) {
	j.later(ns, name, nil)
}

func (j *Journal) later(ns, name string, e *Entry) {
	s := j.space(ns)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &change{entry: e}
	if old, ok := s.pending[name]; ok {
		c.done = old.done
	}
	s.pending[name] = c
	if s.loaded {
		s.apply(name, e)
	}
	s.kick(false)
}

// apply changes what this process holds (s.mu held).
func (s *space) apply(name string, e *Entry) {
	if e == nil {
		delete(s.entries, name)
		return
	}
	s.entries[name] = *e
}

// kick starts the writer if none runs; urgent: a caller waits (s.mu held).
func (s *space) kick(urgent bool) {
	if urgent {
		select {
		case s.urgent <- struct{}{}:
		default:
		}
	}
	if !s.writing {
		s.writing = true
		go s.run()
	}
}

// run writes groups until nothing is pending. A blocking caller is written at once; changes
// that nobody waits for wait FlushDelay (or their backoff) for company first.
func (s *space) run() {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		wait := s.delay()
		s.mu.Unlock()
		if wait > 0 {
			select {
			case <-s.urgent:
			case <-time.After(wait):
			}
		}
		s.flush()
	}
}

// delay is how long the next group waits (s.mu held): none when a caller waits.
func (s *space) delay() time.Duration {
	for _, c := range s.pending {
		if len(c.done) > 0 {
			return 0
		}
	}
	wait := FlushDelay
	for i := 0; i < s.retries && wait < maxBackoff; i++ {
		wait *= 2
	}
	return min(wait, maxBackoff)
}

// flush writes everything pending, one write per shard touched.
func (s *space) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	select {
	case <-s.urgent: // this group takes whoever asked
	default:
	}
	if err := s.load(ctx); err != nil {
		s.mu.Lock()
		batch := s.pending
		s.pending = map[string]*change{}
		s.mu.Unlock()
		s.finish(batch, err)
		return
	}
	s.mu.Lock()
	batch := s.pending
	s.pending = map[string]*change{}
	groups := s.assign(batch)
	s.mu.Unlock()
	for shard, keys := range groups {
		sub := make(map[string]*change, len(keys))
		for _, k := range keys {
			sub[k] = batch[k]
		}
		s.finish(sub, s.writeShard(ctx, shard, sub))
	}
}

// assign places each change in a shard (s.mu held): an existing key where it is, a new key in
// the lowest-numbered shard with room. A removal of a key never written is dropped.
func (s *space) assign(batch map[string]*change) map[int][]string {
	groups := map[int][]string{}
	for name, c := range batch {
		if shard, ok := s.shardOf[name]; ok {
			groups[shard] = append(groups[shard], name)
			continue
		}
		if c.entry == nil {
			delete(batch, name)
			notify(c.done, nil)
			continue
		}
		need := entrySize(name, *c.entry)
		shard := 0
		for shard < len(s.sizes) && s.sizes[shard]+need > ShardBytes {
			shard++
		}
		s.grow(shard)
		s.sizes[shard] += need // reserved; corrected when written
		s.shardOf[name] = shard
		groups[shard] = append(groups[shard], name)
	}
	return groups
}

func (s *space) grow(shard int) {
	for len(s.sizes) <= shard {
		s.sizes = append(s.sizes, 0)
		s.exists = append(s.exists, false)
	}
}

// finish records a group's result and answers its callers. A failed group's blocking changes
// are dropped (their callers retry); the others go again later unless a newer change came.
func (s *space) finish(batch map[string]*change, err error) {
	s.mu.Lock()
	if err == nil {
		s.retries = 0
	} else if s.retries < 16 {
		s.retries++
	}
	for name, c := range batch {
		_, newer := s.pending[name]
		switch {
		case newer: // the newer change decides
		case err == nil:
			s.apply(name, c.entry)
			if c.entry == nil {
				delete(s.shardOf, name)
			}
		case len(c.done) == 0 && c.failures < maxFailures:
			c.failures++
			s.pending[name] = c
		}
	}
	s.mu.Unlock()
	for _, c := range batch {
		notify(c.done, err)
	}
}

func notify(done []chan error, err error) {
	for _, d := range done {
		d <- err
	}
}

// writeShard writes one shard's changes as a JSON merge patch of its data keys, without a
// resourceVersion: the keys are the messages', and one manager writes them.
func (s *space) writeShard(ctx context.Context, shard int, batch map[string]*change) error {
	data := map[string]any{}
	for name, c := range batch {
		if c.entry == nil {
			data[name] = nil
			continue
		}
		v, err := json.Marshal(c.entry)
		if err != nil {
			return err
		}
		data[name] = string(v)
	}
	s.mu.Lock()
	exists := s.exists[shard]
	s.busy[shard] = []string{}
	s.mu.Unlock()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: ShardName(shard)}}
	err := s.patchOrCreate(ctx, cm, exists, data)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.busy[shard]
	delete(s.busy, shard)
	if err != nil {
		return &JournalError{Namespace: s.ns, ConfigMap: cm.Name, Err: err}
	}
	s.grow(shard) // a reload may have come meanwhile
	s.exists[shard] = true
	s.sizes[shard] = dataSize(cm.Data)
	s.remember(shard, cm.ResourceVersion)
	for _, v := range seen {
		if v != "" { // absent while this write created it
			s.changed(shard, v)
		}
	}
	return nil
}

// remember keeps a version of a shard as this process's (s.mu held).
func (s *space) remember(shard int, version string) {
	const keep = 32 // watch events may come late: a few writes later
	v := append(s.ours[shard], version)
	s.ours[shard] = v[max(0, len(v)-keep):]
}

// changed marks the namespace for a new read unless version is this process's (s.mu held).
func (s *space) changed(shard int, version string) {
	if version != "" && slices.Contains(s.ours[shard], version) {
		return
	}
	s.loaded = false
}

func (s *space) patchOrCreate(ctx context.Context, cm *corev1.ConfigMap, exists bool, data map[string]any) error {
	if !exists {
		err := s.create(ctx, cm, data)
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": map[string]string{JournalLabel: JournalVersion}},
		"data":     data,
	})
	if err != nil {
		return err
	}
	err = s.j.Client.Patch(ctx, cm, client.RawPatch(types.MergePatchType, body))
	if apierrors.IsNotFound(err) { // deleted by someone since it was read
		return s.create(ctx, cm, data)
	}
	return err
}

func (s *space) create(ctx context.Context, cm *corev1.ConfigMap, data map[string]any) error {
	cm.Labels = map[string]string{JournalLabel: JournalVersion}
	cm.Data = map[string]string{}
	for k, v := range data {
		if v, ok := v.(string); ok {
			cm.Data[k] = v
		}
	}
	return s.j.Client.Create(ctx, cm)
}

func entrySize(name string, e Entry) int {
	v, _ := json.Marshal(e)
	return len(name) + len(v)
}

func dataSize(data map[string]string) int {
	n := 0
	for k, v := range data {
		n += len(k) + len(v)
	}
	return n
}

// seen compares what the API server holds for shard i with this process's copy: a shard gone,
// or one at a version this process did not read or write, makes the next use read the
// namespace again. A version seen while this process writes the shard is decided once the
// write's own version is known.
func (s *space) seen(i int, version string, labelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !labelled {
		version = "" // not the journal's: as if absent
	}
	if seen, busy := s.busy[i]; busy {
		s.busy[i] = append(seen, version)
		return
	}
	exists := i < len(s.exists) && s.exists[i]
	switch {
	case version == "":
		if exists {
			s.loaded = false
		}
	case !exists:
		s.loaded = false
	default:
		s.changed(i, version)
	}
}

// load reads the namespace's journal once; a failed read is tried again by the next caller.
func (s *space) load(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	loaded := s.loaded
	s.mu.Unlock()
	if loaded {
		return nil
	}
	shards, err := readShards(ctx, s.j.Reader, s.ns)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries, s.shardOf, s.ours = map[string]Entry{}, map[string]int{}, map[int][]string{}
	s.sizes, s.exists = nil, nil
	for i, cm := range shards {
		s.grow(i)
		s.exists[i] = true
		s.sizes[i] = dataSize(cm.Data)
		s.remember(i, cm.ResourceVersion)
		for name, raw := range cm.Data {
			e, ok := parseEntry(raw)
			if !ok {
				continue
			}
			s.shardOf[name] = i
			s.entries[name] = e
		}
	}
	for name, c := range s.pending { // a PutLater or DeleteLater that came before the load
		if len(c.done) == 0 {
			s.apply(name, c.entry)
		}
	}
	s.loaded = true
	return nil
}

// ReadJournal returns what the journal of a namespace holds, read past any cache; proofs are
// not checked. Tests and tools use it.
func ReadJournal(ctx context.Context, reader client.Reader, namespace string) (map[string]Entry, error) {
	shards, err := readShards(ctx, reader, namespace)
	if err != nil {
		return nil, err
	}
	out := map[string]Entry{}
	for _, cm := range shards {
		for name, raw := range cm.Data {
			if e, ok := parseEntry(raw); ok {
				out[name] = e
			}
		}
	}
	return out, nil
}

// readShards lists the journal's ConfigMaps page by page, refusing more than MaxJournalBytes.
// ConfigMaps with the label but not a shard's name are not the journal's, but their data
// counts toward the bound all the same: the label is the namespace's to set, and labelling
// other ConfigMaps must not make the manager read more than a full journal.
func readShards(ctx context.Context, reader client.Reader, ns string) (map[int]*corev1.ConfigMap, error) {
	shards := map[int]*corev1.ConfigMap{}
	total := 0
	next := ""
	for {
		list := &corev1.ConfigMapList{} // a new list per page: the shards keep their items
		opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabels{JournalLabel: JournalVersion},
			client.Limit(32), client.Continue(next)}
		if err := reader.List(ctx, list, opts...); err != nil {
			return nil, &JournalError{Namespace: ns, Err: err}
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if total += dataSize(cm.Data); total > MaxJournalBytes {
				return nil, &JournalError{Namespace: ns, Err: fmt.Errorf("%w (%d bytes in the ConfigMaps labelled %s=%s)",
					ErrJournalTooLarge, MaxJournalBytes, JournalLabel, JournalVersion)}
			}
			if index, ok := shardIndex(cm.Name); ok {
				shards[index] = cm
			}
		}
		if next = list.Continue; next == "" {
			return shards, nil
		}
	}
}

// shardIndex parses a shard's name; the index is bounded so a forged name cannot make the
// shard table huge.
func shardIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, JournalPrefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i > 4096 || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

func parseEntry(raw string) (Entry, bool) {
	var e Entry
	if len(raw) > maxEntryBytes || json.Unmarshal([]byte(raw), &e) != nil {
		return Entry{}, false
	}
	return e, true
}
