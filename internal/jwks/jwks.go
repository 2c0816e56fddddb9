// Package jwks fetches and caches a remote JSON Web Key Set. A token signed
// by a key the cache does not know triggers one refresh, at most once per
// minimum interval however many requests ask, so a flood of tokens with
// random key ids cannot turn into a flood of fetches.
package jwks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"
)

// maxJWKSBytes bounds a fetched key set.
const maxJWKSBytes = 1 << 20

// Cache is a remote JWKS with refresh.
type Cache struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	maxAge      time.Duration
	now         func() time.Time

	group singleflight.Group

	mu      sync.Mutex
	set     jwk.Set
	fetched time.Time
}

// New returns a cache of the set at url.
func New(url string, client *http.Client, minInterval, maxAge time.Duration, now func() time.Time) *Cache {
	return &Cache{url: url, client: client, minInterval: minInterval, maxAge: maxAge, now: now}
}

// Get returns the cached set, fetching it when there is none, when it is
// older than maxAge, or when refresh is asked for and the last fetch is
// older than minInterval. A failed refresh keeps serving the cached set.
func (c *Cache) Get(ctx context.Context, refresh bool) (jwk.Set, error) {
	c.mu.Lock()
	set, fetched := c.set, c.fetched
	c.mu.Unlock()
	age := c.now().Sub(fetched)
	if set != nil && age < c.maxAge && (!refresh || age < c.minInterval) {
		return set, nil
	}
	v, err, _ := c.group.Do("fetch", func() (any, error) { return c.fetch(ctx) })
	if err != nil {
		if set != nil {
			return set, nil
		}
		return nil, err
	}
	return v.(jwk.Set), nil
}

func (c *Cache) fetch(ctx context.Context) (jwk.Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", res.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("fetching JWKS: set larger than %d bytes", maxJWKSBytes)
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	c.mu.Lock()
	c.set, c.fetched = set, c.now()
	c.mu.Unlock()
	return set, nil
}
