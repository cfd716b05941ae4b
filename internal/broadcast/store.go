package broadcast

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Where a chunk keeps its parts.
const (
	// DataKey holds the gzip-compressed records (binaryData).
	DataKey = "people.tsv.gz"
	// CountsAnnotation holds the chunk's counts (Counts.String), so status can be summed from a
	// metadata-only list.
	CountsAnnotation = "teams.operator.dev/broadcast-counts"
	// HashAnnotation is the content hash every delivered copy of the chunk carries.
	HashAnnotation = "teams.operator.dev/broadcast-content-hash"
	// ProofAnnotation is an HMAC of the chunk with the manager's key: records are trusted for
	// edits and deletes in Teams only with it (anyone who may write ConfigMaps in the namespace
	// could otherwise name other namespaces' messages of a shared bot).
	ProofAnnotation = "teams.operator.dev/broadcast-proof"
	// IndexAnnotation is the chunk's place in the audience.
	IndexAnnotation = "teams.operator.dev/broadcast-chunk"
)

// ChunkSize is how many people one chunk holds: about 60 KB compressed with Teams' ids, well
// under the 256 KiB an object may take here (docs/broadcast.md).
const ChunkSize = 1000

// maxChunkBytes refuses to write a chunk larger than this (compressed).
const maxChunkBytes = 256 << 10

// maxDecodedBytes bounds a chunk's uncompressed records.
const maxDecodedBytes = 8 << 20

// Chunk is one ConfigMap of records.
type Chunk struct {
	Index  int
	People []Person
	// Hash is the content hash of the chunk's delivered copies.
	Hash string
	// Trusted: the proof matched, so the records may drive edits and deletes in Teams.
	Trusted bool
	cm      *corev1.ConfigMap
}

// Store keeps chunks as ConfigMaps owned by the message.
type Store struct {
	// Client writes; Reader reads past the manager's cache (ConfigMaps are not cached).
	Client client.Client
	Reader client.Reader
	// Key signs chunks; empty: nothing is trusted for edits and deletes after a restart.
	Key []byte
}

// ChunkName is the ConfigMap of chunk i of a message.
func ChunkName(msg *teamsv1alpha1.ProactiveMessage, i int) string {
	return fmt.Sprintf("broadcast-%s-%04d", msg.UID, i)
}

// Create writes a new chunk.
func (st *Store) Create(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage, c *Chunk) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: ChunkName(msg, c.Index), Namespace: msg.Namespace,
		Labels: map[string]string{teamsv1alpha1.BroadcastLabel: string(msg.UID)},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: teamsv1alpha1.GroupVersion.String(), Kind: "ProactiveMessage", Name: msg.Name, UID: msg.UID,
		}},
	}}
	c.cm = cm
	if err := st.fill(msg, c); err != nil {
		return err
	}
	return st.Client.Create(ctx, cm)
}

// Save writes a changed chunk with an optimistic lock: a chunk changed by anyone since it was
// read is not overwritten (a stale reconcile must not send the same batch again).
func (st *Store) Save(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage, c *Chunk) error {
	if c.cm == nil {
		return errors.New("saving a chunk that was not read")
	}
	if err := st.fill(msg, c); err != nil {
		return err
	}
	return st.Client.Update(ctx, c.cm)
}

func (st *Store) fill(msg *teamsv1alpha1.ProactiveMessage, c *Chunk) error {
	data, err := Encode(c.People)
	if err != nil {
		return err
	}
	if len(data) > maxChunkBytes {
		return fmt.Errorf("chunk %d of the broadcast would take %d bytes, more than %d", c.Index, len(data), maxChunkBytes)
	}
	cm := c.cm
	cm.BinaryData = map[string][]byte{DataKey: data}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[CountsAnnotation] = Count(c.People).String()
	cm.Annotations[HashAnnotation] = c.Hash
	cm.Annotations[IndexAnnotation] = strconv.Itoa(c.Index)
	cm.Annotations[ProofAnnotation] = st.proof(msg, c.Index, c.Hash, data)
	c.Trusted = true
	return nil
}

func (st *Store) proof(msg *teamsv1alpha1.ProactiveMessage, index int, hash string, data []byte) string {
	if len(st.Key) == 0 {
		return ""
	}
	h := hmac.New(sha256.New, st.Key)
	for _, part := range []string{"teams-operator/broadcast/v1", msg.Namespace, msg.Name, string(msg.UID), strconv.Itoa(index), hash} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(data)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Load reads chunk i. A ConfigMap that is not this message's (label, owner) is an error.
func (st *Store) Load(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage, i int) (*Chunk, error) {
	cm := &corev1.ConfigMap{}
	if err := st.Reader.Get(ctx, client.ObjectKey{Namespace: msg.Namespace, Name: ChunkName(msg, i)}, cm); err != nil {
		return nil, err
	}
	if !ours(cm, msg) {
		return nil, fmt.Errorf("ConfigMap %s is not a chunk of this broadcast", cm.Name)
	}
	people, err := Decode(cm.BinaryData[DataKey], maxDecodedBytes)
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, err)
	}
	hash := cm.Annotations[HashAnnotation]
	want := st.proof(msg, i, hash, cm.BinaryData[DataKey])
	trusted := want != "" && hmac.Equal([]byte(want), []byte(cm.Annotations[ProofAnnotation]))
	return &Chunk{Index: i, People: people, Hash: hash, Trusted: trusted, cm: cm}, nil
}

func ours(cm *corev1.ConfigMap, msg *teamsv1alpha1.ProactiveMessage) bool {
	if cm.Labels[teamsv1alpha1.BroadcastLabel] != string(msg.UID) {
		return false
	}
	for _, o := range cm.OwnerReferences {
		if o.UID == msg.UID {
			return true
		}
	}
	return false
}

// Counts sums the counts of every chunk from a metadata-only list.
func (st *Store) Counts(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage) (Counts, int, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	if err := st.Reader.List(ctx, list, client.InNamespace(msg.Namespace),
		client.MatchingLabels{teamsv1alpha1.BroadcastLabel: string(msg.UID)}); err != nil {
		return Counts{}, 0, fmt.Errorf("listing the broadcast's chunks: %w", err)
	}
	total := Counts{Reasons: map[string]int{}}
	for _, item := range list.Items {
		c, err := ParseCounts(item.Annotations[CountsAnnotation])
		if err != nil {
			return Counts{}, 0, fmt.Errorf("chunk %s: %w", item.Name, err)
		}
		total.Add(c)
	}
	return total, len(list.Items), nil
}
