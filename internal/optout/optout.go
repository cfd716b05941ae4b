// Package optout is the record of the people who told a bot to stop sending them
// notifications (a reply "stop" in their 1:1 chat with the bot; "start" undoes it).
//
// The record lives in ConfigMaps the manager owns, in its own namespace: for each bot, a fixed
// number of shards (Shards) named teams-opt-out-{botAppId}-{NN}, labelled
// teams.operator.dev/opt-out=true and teams.operator.dev/bot-app-id={botAppId}. A shard's data
// maps "{tenantId}.{userObjectId}" to the time the person opted out (RFC 3339). One entry is
// about 100 bytes, so 32 shards hold 100,000 people per bot with room to spare (about 320 KB a
// shard, well under a ConfigMap's 1 MiB), with no object per person. Writes are JSON merge
// patches of one key, so concurrent writers (every replica runs the bot endpoint) never
// overwrite each other. Reads come from an informer on those ConfigMaps only.
//
// The platform team sees the record with kubectl (docs/bot-endpoint.md), clears one person
// with a JSON patch removing a key, and everyone for a bot by deleting its shards.
package optout

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels of the shards.
const (
	LabelOptOut = "teams.operator.dev/opt-out"
	LabelBot    = "teams.operator.dev/bot-app-id"
	// Shards is the number of ConfigMaps per bot. Changing it moves people between shards, so
	// it is fixed.
	Shards = 32
)

// Lookup says whether a person opted out of a bot's notifications. *Store implements it; the
// ProactiveMessage controller and the broadcast fan-out use it.
type Lookup interface {
	IsOptedOut(ctx context.Context, botAppID, tenantID, userObjectID string) (bool, error)
}

// Store reads and writes the record.
type Store struct {
	// Namespace holds the shards (the manager's namespace).
	Namespace string
	// Reader reads the shards: an informer on the labelled ConfigMaps of Namespace.
	Reader client.Reader
	// Writer creates and patches the shards.
	Writer client.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ Lookup = (*Store)(nil)

// ErrInvalidID is returned for an id that is not a plain GUID-like token.
var ErrInvalidID = errors.New("opt-out: ids must be non-empty and made of letters, digits and '-'")

// IsOptedOut implements Lookup.
func (s *Store) IsOptedOut(ctx context.Context, botAppID, tenantID, userObjectID string) (bool, error) {
	k, err := entryKey(tenantID, userObjectID)
	if err != nil || validID(botAppID) != nil {
		return false, ErrInvalidID
	}
	cm := &corev1.ConfigMap{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: ShardName(botAppID, k)}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading the opt-out record: %w", err)
	}
	_, ok := cm.Data[k]
	return ok, nil
}

// Set records that the person opted out (optedOut) or back in. It reports whether that is a
// change (as far as the informer knew).
func (s *Store) Set(ctx context.Context, botAppID, tenantID, userObjectID string, optedOut bool) (bool, error) {
	k, err := entryKey(tenantID, userObjectID)
	if err != nil || validID(botAppID) != nil {
		return false, ErrInvalidID
	}
	was, err := s.IsOptedOut(ctx, botAppID, tenantID, userObjectID)
	if err != nil {
		return false, err
	}
	// Written even when the informer says it is already so: it may be a moment behind.
	var value any // null removes the key (JSON merge patch)
	if optedOut {
		value = s.now().UTC().Format(time.RFC3339)
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]any{k: value}})
	if err != nil {
		return false, err
	}
	cm := s.shard(botAppID, k)
	err = s.Writer.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) && optedOut {
		cm.Data = map[string]string{k: value.(string)}
		if err = s.Writer.Create(ctx, cm); apierrors.IsAlreadyExists(err) {
			err = s.Writer.Patch(ctx, s.shard(botAppID, k), client.RawPatch(types.MergePatchType, patch))
		}
	} else if apierrors.IsNotFound(err) {
		err = nil // nothing to remove
	}
	if err != nil {
		return false, fmt.Errorf("writing the opt-out record: %w", err)
	}
	return was != optedOut, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) shard(botAppID, k string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: ShardName(botAppID, k),
			Labels: map[string]string{LabelOptOut: "true", LabelBot: strings.ToLower(botAppID)},
			Annotations: map[string]string{"teams.operator.dev/description": "People who replied stop to the bot " +
				botAppID + ": {tenantId}.{userObjectId} -> when. Owned by teams-operator; see docs/bot-endpoint.md."},
		},
	}
}

// ShardName is the ConfigMap that holds the entry k of a bot.
func ShardName(botAppID, k string) string {
	// SHA-256, not FNV: ids share most of their bytes, and FNV's low bits then cluster.
	sum := sha256.Sum256([]byte(k))
	return fmt.Sprintf("teams-opt-out-%s-%02d", strings.ToLower(botAppID), binary.BigEndian.Uint32(sum[:4])%Shards)
}

// entryKey is the data key of a person: "{tenantId}.{userObjectId}", lower case.
func entryKey(tenantID, userObjectID string) (string, error) {
	if err := validID(tenantID); err != nil {
		return "", err
	}
	if err := validID(userObjectID); err != nil {
		return "", err
	}
	return strings.ToLower(tenantID) + "." + strings.ToLower(userObjectID), nil
}

// validID accepts GUIDs (and other short tokens of letters, digits and '-'), so a key is always
// a valid ConfigMap key and a name part.
func validID(id string) error {
	if id == "" || len(id) > 64 {
		return ErrInvalidID
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return ErrInvalidID
		}
	}
	return nil
}
