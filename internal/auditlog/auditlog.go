// Package auditlog is the storage side of the audit log: the Merkle tree of
// sealed record lines, signed checkpoints, and the group-committed file.
// It knows lines and leaf hashes, not what records mean. Callers serialize
// access (the root AuditLog holds its lock around every call but Wait).
package auditlog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard/internal/auditfile"
	"github.com/mcpguard/mcpguard/internal/checkpoint"
	"github.com/mcpguard/mcpguard/internal/merkle"
)

// Signed is a signed checkpoint.
type Signed = auditfile.SignedCheckpoint

// Store is the tree, its checkpoints and the optional file.
type Store struct {
	File    *auditfile.Writer
	Signer  *checkpoint.Signer
	Origin  string
	Every   uint64
	Timeout time.Duration

	leaves      []merkle.Hash
	tree        merkle.Range
	sinceCP     uint64
	checkpoints []Signed
}

// Size is the number of records.
func (s *Store) Size() uint64 { return s.tree.Size() }

// Add appends a sealed record line with its leaf hash and returns the file
// ticket to wait for (0 without a file). When a checkpoint is due it is
// signed and queued after the record.
func (s *Store) Add(line []byte, leaf merkle.Hash) (uint64, error) {
	var ticket uint64
	if s.File != nil {
		t, err := s.File.Enqueue(line)
		if err != nil {
			return 0, err
		}
		ticket = t
	}
	s.Restore(leaf)
	if s.Signer != nil && s.Every > 0 && s.sinceCP >= s.Every {
		if t, err := s.Checkpoint(); err == nil && t > ticket {
			ticket = t
		}
	}
	return ticket, nil
}

// Restore adds the leaf of a record already in the file.
func (s *Store) Restore(leaf merkle.Hash) {
	s.leaves = append(s.leaves, leaf)
	s.tree.Append(leaf)
	s.sinceCP++
}

// RestoreCheckpoint records a checkpoint already in the file.
func (s *Store) RestoreCheckpoint(cp Signed) {
	s.checkpoints = append(s.checkpoints, cp)
	s.sinceCP = 0
}

// Checkpoint signs the current tree head and queues it.
func (s *Store) Checkpoint() (uint64, error) {
	if s.Signer == nil {
		return 0, fmt.Errorf("no checkpoint signer")
	}
	cp := checkpoint.Checkpoint{Origin: s.Origin, Size: s.tree.Size(), Root: s.tree.Root()}
	note := s.Signer.Sign(cp.Text())
	s.RestoreCheckpoint(Signed{Checkpoint: cp, Note: note})
	if s.File == nil {
		return 0, nil
	}
	return s.File.Enqueue(auditfile.CheckpointLine(note))
}

// Checkpoints returns the checkpoints, oldest first.
func (s *Store) Checkpoints() []Signed { return s.checkpoints }

// Leaf returns the leaf hash of record i.
func (s *Store) Leaf(i uint64) merkle.Hash { return s.leaves[i] }

// Root is the root over the first size records.
func (s *Store) Root(size uint64) (merkle.Hash, error) {
	switch {
	case size > s.tree.Size():
		return merkle.Hash{}, merkle.ErrRange
	case size == s.tree.Size():
		return s.tree.Root(), nil
	}
	return merkle.Root(s.leaves[:size]), nil
}

// InclusionProof proves record index in the tree of size.
func (s *Store) InclusionProof(index, size uint64) ([]merkle.Hash, error) {
	return merkle.InclusionProof(index, size, s.leaves)
}

// ConsistencyProof proves that tree second extends tree first.
func (s *Store) ConsistencyProof(first, second uint64) ([]merkle.Hash, error) {
	return merkle.ConsistencyProof(first, second, s.leaves)
}

// Wait waits until ticket is durable (immediately without a file).
func (s *Store) Wait(ticket uint64) error {
	if s.File == nil || ticket == 0 {
		return nil
	}
	return s.File.Wait(ticket, s.Timeout)
}

// Load verifies the file at path and restores its tree, leaves and
// checkpoints into s, handing the last window records to decode (oldest
// first). The file is read once: verification computes the leaves and the
// tree, and the window's lines are kept aside meanwhile. A Problem other
// than a torn last line is returned without loading anything; size is the
// length of the file's complete part.
func (s *Store) Load(path string, v *checkpoint.Verifier, window uint64, decode func(line []byte) error) (int64, *auditfile.Problem, error) {
	recent := lineRing{max: window}
	rep, err := auditfile.VerifyEach(path, v, true, recent.put)
	if err != nil {
		return 0, nil, err
	}
	if rep.Problem != nil && !(rep.Torn && rep.Problem.Index == rep.Records) {
		return 0, rep.Problem, nil
	}
	for _, line := range recent.inOrder() {
		if err := decode(line); err != nil {
			return 0, nil, err
		}
	}
	s.leaves, s.tree = rep.Leaves, rep.Tree
	s.checkpoints = append(s.checkpoints, rep.Checkpointed...)
	s.sinceCP = rep.Records
	if rep.Latest != nil {
		s.sinceCP -= rep.Latest.Size
	}
	return rep.Size, nil, nil
}

// lineRing keeps copies of the last max lines put into it.
type lineRing struct {
	max   uint64
	lines [][]byte
	next  int // where the oldest line is, once full
}

func (r *lineRing) put(line []byte) {
	if r.max == 0 {
		return
	}
	if uint64(len(r.lines)) < r.max {
		r.lines = append(r.lines, append([]byte(nil), line...))
		return
	}
	r.lines[r.next] = append(r.lines[r.next][:0], line...)
	r.next = (r.next + 1) % len(r.lines)
}

func (r *lineRing) inOrder() [][]byte {
	return append(r.lines[r.next:len(r.lines):len(r.lines)], r.lines[:r.next]...)
}

// Batch collects the file tickets of the records one request writes, so
// that they are committed together at the points where durability matters
// (before acting, before returning): one fsync covers several records.
type Batch struct {
	mu     sync.Mutex
	ticket uint64
}

type batchKey struct{}

// WithBatch returns a context carrying a new, empty batch.
func WithBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, &Batch{})
}

// BatchFrom returns the batch of ctx, if any.
func BatchFrom(ctx context.Context) (*Batch, bool) {
	b, ok := ctx.Value(batchKey{}).(*Batch)
	return b, ok
}

// Add notes a queued record's ticket.
func (b *Batch) Add(ticket uint64) {
	b.mu.Lock()
	b.ticket = max(b.ticket, ticket)
	b.mu.Unlock()
}

// Ticket is the latest ticket noted: committing it commits the batch.
func (b *Batch) Ticket() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ticket
}
