// Package replay remembers token ids until their tokens expire, so that each
// per-call token is accepted once. The cache is bounded: when it is full and
// nothing has expired, new tokens are refused rather than old ids forgotten.
package replay

import (
	"container/heap"
	"errors"
	"sync"
	"time"
)

// Errors returned by Use.
var (
	ErrReplayed = errors.New("token already used")
	ErrFull     = errors.New("replay cache full")
)

type item struct {
	id  string
	exp time.Time
}

type expiryHeap []item

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Cache is a bounded set of token ids with expiry.
type Cache struct {
	max int

	mu   sync.Mutex
	seen map[string]time.Time
	exp  expiryHeap
}

// New returns a cache for at most max live ids.
func New(max int) *Cache {
	return &Cache{max: max, seen: make(map[string]time.Time)}
}

// Use records id, valid until exp, and fails if it was recorded before and
// has not expired at now.
func (c *Cache) Use(id string, exp, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.exp) > 0 && !c.exp[0].exp.After(now) {
		it := heap.Pop(&c.exp).(item)
		if e, ok := c.seen[it.id]; ok && e.Equal(it.exp) {
			delete(c.seen, it.id)
		}
	}
	if _, ok := c.seen[id]; ok {
		return ErrReplayed
	}
	if len(c.seen) >= c.max {
		return ErrFull
	}
	c.seen[id] = exp
	heap.Push(&c.exp, item{id: id, exp: exp})
	return nil
}

// Len returns the number of live ids.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
