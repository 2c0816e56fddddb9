// Package sessionbind remembers which client certificate opened each
// transport session, so a session id cannot be used from another
// certificate. The table is bounded: when full, idle entries are dropped
// first, and if none are idle new sessions are refused rather than old
// bindings forgotten.
package sessionbind

import (
	"errors"
	"sync"
	"time"
)

// Errors returned by Check and Bind.
var (
	ErrUnknown  = errors.New("sessionbind: session was not opened through this guard")
	ErrMismatch = errors.New("sessionbind: session is bound to another client certificate")
	ErrFull     = errors.New("sessionbind: too many live sessions")
)

type entry struct {
	pin      string
	lastSeen time.Time
}

// Table maps session ids to the pin of the certificate that opened them.
type Table struct {
	max  int
	idle time.Duration

	mu sync.Mutex
	m  map[string]*entry
}

// New returns a table for at most max sessions; entries unused for idle are
// dropped when room is needed.
func New(max int, idle time.Duration) *Table {
	return &Table{max: max, idle: idle, m: make(map[string]*entry)}
}

// Check reports whether session may be used by pin.
func (t *Table) Check(session, pin string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[session]
	if !ok {
		return ErrUnknown
	}
	if e.pin != pin {
		return ErrMismatch
	}
	e.lastSeen = now
	return nil
}

// Bind records that pin opened session. It returns true if the binding is
// new. Binding a session already bound to another pin fails.
func (t *Table) Bind(session, pin string, now time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[session]; ok {
		if e.pin != pin {
			return false, ErrMismatch
		}
		e.lastSeen = now
		return false, nil
	}
	if len(t.m) >= t.max {
		for id, e := range t.m {
			if now.Sub(e.lastSeen) > t.idle {
				delete(t.m, id)
			}
		}
		if len(t.m) >= t.max {
			return false, ErrFull
		}
	}
	t.m[session] = &entry{pin: pin, lastSeen: now}
	return true, nil
}

// Forget drops a session, e.g. after the client deleted it.
func (t *Table) Forget(session string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, session)
}

// Len returns the number of bound sessions.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
