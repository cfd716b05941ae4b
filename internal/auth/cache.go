package auth

import (
	"container/list"
	"sync"
)

// DefaultMaxEntries bounds a Cache when Options.MaxEntries is not set.
const DefaultMaxEntries = 64

// Cache keeps the token sources of recently used credentials, keyed by their
// Fingerprint: controllers ask for every reconcile, get the same sources (and so
// the same cached tokens) while a Secret is unchanged, and fresh ones as soon as
// it is rotated. The least recently used entries are dropped beyond MaxEntries.
type Cache struct {
	opts Options

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	fingerprint string
	tokens      Tokens
}

// NewCache returns an empty cache whose entries are built with opts.
func NewCache(opts Options) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	return &Cache{opts: opts, entries: map[string]*list.Element{}, lru: list.New()}
}

// Get returns the token sources for creds, building them on first use.
func (c *Cache) Get(creds Credentials) (Tokens, error) {
	fp := creds.Fingerprint()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[fp]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cacheEntry).tokens, nil
	}
	tokens, err := New(creds, c.opts)
	if err != nil {
		return Tokens{}, err
	}
	c.entries[fp] = c.lru.PushFront(&cacheEntry{fingerprint: fp, tokens: tokens})
	for c.lru.Len() > c.opts.MaxEntries {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).fingerprint)
	}
	return tokens, nil
}

// Len is the number of cached credentials.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
