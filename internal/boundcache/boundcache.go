// Package boundcache is a concurrent map with a size bound: when a store
// would exceed the bound, the whole cache is dropped and refilled. It suits
// caches of verification results, where a miss only costs a recomputation.
package boundcache

import (
	"sync"
	"sync/atomic"
)

// Cache maps K to V, holding at most Max entries (DefaultMax when Max is
// 0). Set Max before first use.
type Cache[K comparable, V any] struct {
	Max int

	m sync.Map
	n atomic.Int64
}

// DefaultMax is the bound of a Cache whose Max is 0.
const DefaultMax = 1 << 14

// Load returns the value for k.
func (c *Cache[K, V]) Load(k K) (V, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// Store sets the value for k, dropping everything first when full.
func (c *Cache[K, V]) Store(k K, v V) {
	limit := c.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if c.n.Add(1) > int64(limit) {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(k, v)
}

// Delete removes k.
func (c *Cache[K, V]) Delete(k K) { c.m.Delete(k) }
