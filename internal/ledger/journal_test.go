package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiServer is a real kube-apiserver (envtest) shared by the journal tests; nil without
// KUBEBUILDER_ASSETS (the tests that need it then fail and say so).
var apiServer client.Client

func TestMain(m *testing.M) {
	os.Exit(runWithAPIServer(m))
}

func runWithAPIServer(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run()
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	apiServer, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

var namespaces atomic.Int32

// newNamespace makes a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	if apiServer == nil {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or set it to the directory with kube-apiserver and etcd")
	}
	ns := fmt.Sprintf("journal-%d", namespaces.Add(1))
	if err := apiServer.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// counting counts the writes that reach the API server, and can slow or refuse them.
type counting struct {
	client.Client
	writes atomic.Int32
	delay  time.Duration
	refuse atomic.Int32 // refuse this many writes
}

func (c *counting) count() error {
	c.writes.Add(1)
	time.Sleep(c.delay) // a slow API server: callers pile up behind the write in flight
	if c.refuse.Load() > 0 {
		c.refuse.Add(-1)
		return apierrors.NewServiceUnavailable("the API server is away")
	}
	return nil
}

func (c *counting) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.count(); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *counting) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.count(); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func newJournal(c client.Client) *Journal { return &Journal{Client: c, Reader: apiServer} }

func entry(i int) Entry {
	return Entry{UID: types.UID("uid-" + fmt.Sprint(i)), Target: "oncall", Marker: time.Now().UTC().Format(time.RFC3339Nano)}
}

// TestGroupCommit: k sends that arrive while a write is in flight share the next one.
func TestGroupCommit(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	c := &counting{Client: apiServer, delay: 200 * time.Millisecond}
	j := newJournal(c)
	const k = 24
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for i := range k {
		wg.Go(func() {
			errs <- j.Put(context.Background(), ns, fmt.Sprintf("msg-%d", i), entry(i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(int(c.writes.Load())).To(BeNumerically("<=", k/4), "k concurrent Puts share a few writes")
	held, err := ReadJournal(context.Background(), apiServer, ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(held).To(HaveLen(k), "every Put is written")
	g.Expect(held["msg-3"].UID).To(BeEquivalentTo("uid-3"))
}

// TestALoneSendWaitsForOneWrite: no waiting window, a single write.
func TestALoneSendWaitsForOneWrite(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	c := &counting{Client: apiServer}
	j := newJournal(c)
	g.Expect(j.Put(context.Background(), ns, "alone", entry(1))).To(Succeed())
	g.Expect(c.writes.Load()).To(BeEquivalentTo(1))
	g.Expect(j.Put(context.Background(), ns, "alone", Entry{UID: "uid-1", ActivityID: "act-1"})).To(Succeed())
	g.Expect(c.writes.Load()).To(BeEquivalentTo(2), "the shard exists now: one patch")
}

// TestAFreshJournalReadsWhatAnotherWrote: a restarted manager finds the markers and ids.
func TestAFreshJournalReadsWhatAnotherWrote(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	first := newJournal(apiServer)
	g.Expect(first.Put(ctx, ns, "marked", entry(1))).To(Succeed())
	first.PutLater(ns, "delivered", Entry{UID: "uid-2", ConversationID: "19:c", ActivityID: "act-2", Proof: "p"})
	e, ok, err := first.Get(ctx, ns, "delivered")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue(), "this process holds a PutLater at once")
	g.Expect(e.ActivityID).To(Equal("act-2"))
	g.Eventually(func() (map[string]Entry, error) { return ReadJournal(ctx, apiServer, ns) }).
		WithTimeout(20 * time.Second).Should(HaveKey("delivered"))

	second := newJournal(apiServer)
	e, ok, err = second.Get(ctx, ns, "marked")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(e.Marker).NotTo(BeEmpty())
	g.Expect(e.HasIDs()).To(BeFalse())
	e, _, _ = second.Get(ctx, ns, "delivered")
	g.Expect(e).To(Equal(Entry{UID: "uid-2", ConversationID: "19:c", ActivityID: "act-2", Proof: "p"}))
}

// TestIdsAreRetriedWhileTheAPIServerIsAway: a PutLater nobody waits for goes again.
func TestIdsAreRetriedWhileTheAPIServerIsAway(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	c := &counting{Client: apiServer}
	c.refuse.Store(3)
	j := newJournal(c)
	j.PutLater(ns, "delivered", Entry{UID: "uid-1", ActivityID: "act-1"})
	g.Eventually(func() (map[string]Entry, error) { return ReadJournal(context.Background(), apiServer, ns) }).
		WithTimeout(30 * time.Second).Should(HaveKey("delivered"))
	g.Expect(c.writes.Load()).To(BeNumerically(">=", 4))
}

// TestSharding: with a lowered limit, new keys fill the lowest shard with room, and an updated
// key stays where it is.
func TestSharding(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	defer func(was int) { ShardBytes = was }(ShardBytes)
	ShardBytes = 250
	j := newJournal(apiServer)
	for i := range 12 {
		g.Expect(j.Put(ctx, ns, fmt.Sprintf("msg-%02d", i), entry(i))).To(Succeed())
	}
	shards := journalConfigMaps(g, ns)
	g.Expect(len(shards)).To(BeNumerically(">", 2))
	where := map[string]string{}
	for _, cm := range shards {
		g.Expect(dataSize(cm.Data)).To(BeNumerically("<=", ShardBytes), cm.Name)
		for k := range cm.Data {
			where[k] = cm.Name
		}
	}
	g.Expect(where).To(HaveLen(12))
	g.Expect(where["msg-00"]).To(Equal(ShardName(0)))

	g.Expect(j.Put(ctx, ns, "msg-07", Entry{UID: "uid-7", ActivityID: "act-7"})).To(Succeed())
	g.Expect(j.Clear(ctx, ns, "msg-00")).To(Succeed())
	after := map[string]string{}
	for _, cm := range journalConfigMaps(g, ns) {
		for k := range cm.Data {
			after[k] = cm.Name
		}
	}
	g.Expect(after["msg-07"]).To(Equal(where["msg-07"]), "an updated key stays in its shard")
	g.Expect(after).NotTo(HaveKey("msg-00"))

	fresh := newJournal(apiServer)
	g.Expect(fresh.Put(ctx, ns, "newcomer", entry(99))).To(Succeed())
	g.Expect(configMapOf(g, ns, "newcomer")).To(Equal(ShardName(0)), "the room msg-00 left in shard 0")
	held, err := ReadJournal(ctx, apiServer, ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(held).To(HaveLen(12))
}

// TestARefusedWriteFailsItsCallers: an immutable shard refuses the marker; the caller hears
// which ConfigMap and why, and the journal holds nothing new.
func TestARefusedWriteFailsItsCallers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	immutable := true
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ShardName(0), Labels: map[string]string{JournalLabel: JournalVersion}},
		Immutable:  &immutable, Data: map[string]string{"other": `{"u":"x"}`},
	})).To(Succeed())
	j := newJournal(apiServer)
	err := j.Put(ctx, ns, "msg", entry(1))
	var je *JournalError
	g.Expect(errors.As(err, &je)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring(ns + "/" + ShardName(0)))
	_, ok, err := j.Get(ctx, ns, "msg")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse(), "a failed write changes nothing")
}

// TestDeleteLaterPrunes: a deleted message's entry goes, also from a journal not loaded yet.
func TestDeleteLaterPrunes(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	j := newJournal(apiServer)
	g.Expect(j.Put(ctx, ns, "gone", entry(1))).To(Succeed())
	g.Expect(j.Put(ctx, ns, "kept", entry(2))).To(Succeed())
	j.DeleteLater(ns, "gone")
	g.Eventually(func() (map[string]Entry, error) { return ReadJournal(ctx, apiServer, ns) }).
		WithTimeout(20 * time.Second).ShouldNot(HaveKey("gone"))

	restarted := newJournal(apiServer)
	restarted.DeleteLater(ns, "kept")
	g.Eventually(func() (map[string]Entry, error) { return ReadJournal(ctx, apiServer, ns) }).
		WithTimeout(20 * time.Second).Should(BeEmpty())
}

// TestTheReadIsBounded: foreign and malformed data is not an entry; a journal larger than
// the bound is refused with a clear error.
func TestTheReadIsBounded(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	label := map[string]string{JournalLabel: JournalVersion}
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ShardName(0), Labels: label},
		Data: map[string]string{"ok": `{"u":"1","a":"act"}`, "bad": "not json", "big": `{"u":"` + strings.Repeat("x", 5000) + `"}`}})).To(Succeed())
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-else", Labels: label},
		Data: map[string]string{"other": `{"u":"2","a":"act"}`}})).To(Succeed())
	held, err := ReadJournal(ctx, apiServer, ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(held).To(HaveLen(1))
	g.Expect(held).To(HaveKey("ok"))

	defer func(was int) { MaxJournalBytes = was }(MaxJournalBytes)
	MaxJournalBytes = 1000
	_, _, err = newJournal(apiServer).Get(ctx, ns, "ok")
	g.Expect(err).To(MatchError(ErrJournalTooLarge))
	g.Expect(err.Error()).To(ContainSubstring("namespace " + ns))
}

func journalConfigMaps(g Gomega, ns string) []corev1.ConfigMap {
	list := &corev1.ConfigMapList{}
	g.Expect(apiServer.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{JournalLabel: JournalVersion})).To(Succeed())
	return list.Items
}

func configMapOf(g Gomega, ns, key string) string {
	for _, cm := range journalConfigMaps(g, ns) {
		if _, ok := cm.Data[key]; ok {
			return cm.Name
		}
	}
	return ""
}

// listing counts the reads of a namespace's journal (LISTs of whole ConfigMaps) that reach the
// API server.
type listing struct {
	client.Reader
	lists atomic.Int32
}

func (l *listing) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, whole := list.(*corev1.ConfigMapList); whole {
		l.lists.Add(1)
	}
	return l.Reader.List(ctx, list, opts...)
}

// TestRefreshSeesARestore: this process's copy answers until Refresh finds a shard written by
// someone else (a restore); its own writes never make it read the namespace again.
func TestRefreshSeesARestore(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	reader := &listing{Reader: apiServer}
	j := &Journal{Client: apiServer, Reader: reader}
	g.Expect(j.Put(ctx, ns, "mine", entry(1))).To(Succeed())
	j.PutLater(ns, "mine", Entry{UID: "uid-1", ActivityID: "act-1"})
	g.Eventually(func() (map[string]Entry, error) { return ReadJournal(ctx, apiServer, ns) }).
		WithTimeout(20 * time.Second).Should(HaveKeyWithValue("mine", Entry{UID: "uid-1", ActivityID: "act-1"}))
	g.Expect(j.Refresh(ctx, ns)).To(Succeed())
	g.Expect(reader.lists.Load()).To(BeEquivalentTo(1), "its own writes are not news")

	restore := []byte(`{"data":{"restored":"{\"u\":\"old\",\"a\":\"act-9\",\"c\":\"19:c\",\"p\":\"x\"}"}}`)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ShardName(0)}}
	g.Expect(apiServer.Patch(ctx, cm, client.RawPatch(types.MergePatchType, restore))).To(Succeed())
	_, ok, err := j.Get(ctx, ns, "restored")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse(), "the copy answers until refreshed")
	g.Expect(j.Refresh(ctx, ns)).To(Succeed())
	e, ok, err := j.Get(ctx, ns, "restored")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(e.ActivityID).To(Equal("act-9"))
	g.Expect(reader.lists.Load()).To(BeEquivalentTo(2))

	other := newNamespace(t)
	g.Expect(j.Refresh(ctx, other)).To(Succeed()) // nothing there yet
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: ShardName(0),
		Labels: map[string]string{JournalLabel: JournalVersion}}, Data: map[string]string{"back": `{"u":"old","a":"act-1"}`}})).To(Succeed())
	g.Expect(j.Refresh(ctx, other)).To(Succeed())
	_, ok, _ = j.Get(ctx, other, "back")
	g.Expect(ok).To(BeTrue(), "a shard created by a restore is read")
}

// TestLabelledConfigMapsCountTowardTheBound: the journal's label is the namespace's to set, so
// data under it that is not a shard's counts toward MaxJournalBytes, and the check before a new
// message's send refuses a namespace that labels more ConfigMaps than there can be shards.
func TestLabelledConfigMapsCountTowardTheBound(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	label := map[string]string{JournalLabel: JournalVersion}
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ShardName(0), Labels: label},
		Data: map[string]string{"ok": `{"u":"1","a":"act"}`}})).To(Succeed())
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "padding", Labels: label},
		Data: map[string]string{"pad": strings.Repeat("x", 2000)}})).To(Succeed())

	defer func(was int) { MaxJournalBytes = was }(MaxJournalBytes)
	MaxJournalBytes = 1000
	_, _, err := newJournal(apiServer).Get(ctx, ns, "ok")
	g.Expect(err).To(MatchError(ErrJournalTooLarge))
	g.Expect(err.Error()).To(ContainSubstring(JournalLabel))

	MaxJournalBytes = 1 << 20
	defer func(was int) { maxLabelled = was }(maxLabelled)
	maxLabelled = 2
	j := newJournal(apiServer)
	g.Expect(j.Refresh(ctx, ns)).To(Succeed(), "two labelled ConfigMaps are within the bound")
	g.Expect(apiServer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "more", Labels: label}})).To(Succeed())
	err = j.Refresh(ctx, ns)
	g.Expect(err).To(MatchError(ErrJournalTooLarge))
	g.Expect(err.Error()).To(ContainSubstring("namespace " + ns))
}
