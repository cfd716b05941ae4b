//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// JournalEntry is one Microsoft API request as the emulator saw it. It never holds tokens,
// secrets or bodies.
type JournalEntry struct {
	// Seq increases by one per entry; pass it back as ?since= to read only newer entries.
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	// Path is the URL path with the query; query values that could be secrets are redacted.
	Path string `json:"path"`
	// API is entra, graph or botframework (or none for unknown paths).
	API string `json:"api"`
	// Operation is the operation name of docs/dev/contracts.md (token, installApp, sendActivity…).
	Operation string `json:"operation"`
	Status    int    `json:"status"`
	// Duration is how long the emulator took (JSON: a Go duration string such as "1.2ms").
	Duration time.Duration `json:"-"`
	// RequestID is the request-id (Graph), X-Correlating-OperationId (Connector) or
	// x-ms-request-id (Entra) the emulator answered with.
	RequestID string `json:"requestId,omitempty"`
	// ClientID is the app that called (from the token, or the token request).
	ClientID string `json:"clientId,omitempty"`
	TenantID string `json:"tenantId,omitempty"`
	// Fault is the id of the injected fault that applied, if any.
	Fault string `json:"fault,omitempty"`
	// Dropped: the connection was closed without an answer (acceptThenDrop).
	Dropped bool `json:"dropped,omitempty"`
}

type journalAlias JournalEntry

// MarshalJSON writes Duration as a string.
func (j JournalEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		journalAlias
		Duration string `json:"duration"`
	}{journalAlias(j), j.Duration.String()})
}

// journal is a bounded ring of entries.
type journal struct {
	mu      sync.Mutex
	entries []JournalEntry
	head    int
	n       int
	seq     int64
}

func newJournal(capacity int) *journal {
	return &journal{entries: make([]JournalEntry, capacity)}
}

func (j *journal) add(e JournalEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	e.Seq = j.seq
	if j.n < len(j.entries) {
		j.entries[(j.head+j.n)%len(j.entries)] = e
		j.n++
		return
	}
	j.entries[j.head] = e
	j.head = (j.head + 1) % len(j.entries)
}

// since returns entries with Seq > seq and Time >= t (zero values: all), oldest first.
func (j *journal) since(seq int64, t time.Time) []JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]JournalEntry, 0)
	if j.n == 0 {
		return out
	}
	first := j.entries[j.head].Seq
	start := 0
	if seq >= first {
		start = int(seq - first + 1)
	}
	for i := start; i < j.n; i++ {
		e := j.entries[(j.head+i)%len(j.entries)]
		if !t.IsZero() && e.Time.Before(t) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.head, j.n = 0, 0
	clear(j.entries)
}

var secretParams = []string{"secret", "token", "assertion", "password", "code", "sig", "key"}

// redactedPath is the path plus the query with secret-looking values replaced.
func redactedPath(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return u.Path + "?(unparsable query)"
	}
	parts := make([]string, 0, len(q))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		lk := strings.ToLower(k)
		secret := !strings.HasPrefix(lk, "$") && slices.ContainsFunc(secretParams, func(s string) bool {
			return strings.Contains(lk, s)
		})
		for _, v := range q[k] {
			if secret {
				v = "REDACTED"
			}
			parts = append(parts, k+"="+v)
		}
	}
	// Unescaped, for people reading the journal.
	return u.Path + "?" + strings.Join(parts, "&")
}
