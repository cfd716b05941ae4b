package emulator

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Conversation types of StoredActivity.
const (
	ConversationPersonal  = "personal"
	ConversationGroupChat = "groupChat"
	ConversationChannel   = "channel"
)

// StoredActivity is one message as Teams holds it.
type StoredActivity struct {
	// ConversationID is the conversation's canonical id: a:… for a 1:1 chat, 19:…@thread.v2 for
	// a group chat, the channel id (19:…@thread.tacv2) for a channel.
	ConversationID string `json:"conversationId"`
	// ChatID is Graph's id of a 1:1 chat (19:{botAppId}_{userId}@unq.gbl.spaces).
	ChatID string `json:"chatId,omitempty"`
	// AddressedTo is the conversation id the client used.
	AddressedTo      string `json:"addressedTo"`
	ActivityID       string `json:"activityId"`
	ConversationType string `json:"conversationType"`
	// ReplyToID is the activity this one replies to: the URL's activity id for replyToActivity,
	// the thread root for a send to {channel};messageid={root}, else the activity's replyToId.
	ReplyToID string `json:"replyToId,omitempty"`
	// ThreadID is, in a channel, the root activity id of the thread the message is in (its own id
	// for a new post).
	ThreadID  string `json:"threadId,omitempty"`
	TenantID  string `json:"tenantId"`
	BotID     string `json:"botId"`
	UserID    string `json:"userId,omitempty"`
	TeamID    string `json:"teamId,omitempty"`
	ChannelID string `json:"channelId,omitempty"`
	// Operation is createConversation, sendActivity or replyToActivity.
	Operation string `json:"operation"`
	// Split: the request had text and attachments, which Teams split into two messages
	// (reference 3.4); this is one of them, and the client never learnt its id.
	Split bool `json:"split,omitempty"`
	// MissingTenant lists where the request lacked the tenant that the Bot Framework SDKs
	// always send: conversation.tenantId and channelData.tenant.id on an activity, tenantId and
	// channelData.tenant.id on a create's parameters. Empty: the tenant was everywhere.
	MissingTenant []string `json:"missingTenant,omitempty"`
	// Activity is the activity JSON as received (the latest update).
	Activity  json.RawMessage `json:"activity"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt *time.Time      `json:"updatedAt,omitempty"`
	Deleted   bool            `json:"deleted"`
	DeletedAt *time.Time      `json:"deletedAt,omitempty"`
}

type activityVersion struct {
	activity  json.RawMessage
	updatedAt time.Time
	deletedAt time.Time
}

// activityRecord is immutable metadata plus an atomically replaced current version, so readers
// never lock.
type activityRecord struct {
	meta StoredActivity
	cur  atomic.Pointer[activityVersion]
}

func (a *activityRecord) snapshot() StoredActivity {
	s := a.meta
	v := a.cur.Load()
	s.Activity = v.activity
	if !v.updatedAt.IsZero() {
		t := v.updatedAt
		s.UpdatedAt = &t
	}
	if !v.deletedAt.IsZero() {
		t := v.deletedAt
		s.Deleted, s.DeletedAt = true, &t
	}
	return s
}

func (a *activityRecord) deleted() bool { return !a.cur.Load().deletedAt.IsZero() }

// conversation is the activities of one conversation; its mutex serialises writes to it only.
type conversation struct {
	mu   sync.Mutex
	byID map[string]*activityRecord
	list []*activityRecord
}

type conversations struct{ m sync.Map }

func (c *conversations) get(id string) *conversation {
	if v, ok := c.m.Load(id); ok {
		return v.(*conversation)
	}
	v, _ := c.m.LoadOrStore(id, &conversation{byID: map[string]*activityRecord{}})
	return v.(*conversation)
}

func (c *conversations) lookup(id string) *conversation {
	if v, ok := c.m.Load(id); ok {
		return v.(*conversation)
	}
	return nil
}

func (c *conversation) find(id string) *activityRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

func (c *conversation) snapshot() []StoredActivity {
	c.mu.Lock()
	list := append([]*activityRecord(nil), c.list...)
	c.mu.Unlock()
	out := make([]StoredActivity, 0, len(list))
	for _, a := range list {
		out = append(out, a.snapshot())
	}
	return out
}

// activityLog is every activity in arrival order.
type activityLog struct {
	mu  sync.Mutex
	all []*activityRecord
}

func (l *activityLog) add(a *activityRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, a)
}

func (l *activityLog) snapshot() []StoredActivity {
	l.mu.Lock()
	list := append([]*activityRecord(nil), l.all...)
	l.mu.Unlock()
	out := make([]StoredActivity, 0, len(list))
	for _, a := range list {
		out = append(out, a.snapshot())
	}
	return out
}

// storeActivity records a new activity in its conversation and the global log.
func (w *world) storeActivity(meta StoredActivity, activity json.RawMessage) {
	rec := &activityRecord{meta: meta}
	rec.cur.Store(&activityVersion{activity: activity})
	c := w.convs.get(meta.ConversationID)
	c.mu.Lock()
	c.byID[meta.ActivityID] = rec
	c.list = append(c.list, rec)
	c.mu.Unlock()
	w.log.add(rec)
	if w.changed != nil {
		w.changed()
	}
}
