// Package floodgate bounds how many events of a kind are recorded one by one:
// up to a limit per one-second window; the rest are counted and the count is
// handed to the next event that is recorded, so nothing goes unreported and
// nothing grows without bound.
package floodgate

import (
	"sync"
	"time"
)

// Gate is a per-second limiter with a suppressed-event counter.
type Gate struct {
	limit int

	mu         sync.Mutex
	window     int64
	inWindow   int
	suppressed uint64
}

// New returns a gate letting through limit events per second (at least 1).
func New(limit int) *Gate {
	return &Gate{limit: max(limit, 1)}
}

// Admit reports whether the event at now should be recorded, and if so how
// many events were suppressed since the last recorded one.
func (g *Gate) Admit(now time.Time) (ok bool, suppressed uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := now.Unix(); w != g.window {
		g.window, g.inWindow = w, 0
	}
	if g.inWindow >= g.limit {
		g.suppressed++
		return false, 0
	}
	g.inWindow++
	s := g.suppressed
	g.suppressed = 0
	return true, s
}

// Suppressed returns the events suppressed since the last admitted one.
func (g *Gate) Suppressed() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.suppressed
}
