// Package auditlog is the storage side of the audit log: the Merkle tree of
// sealed record lines, signed checkpoints, and the group-committed file.
// It knows lines and leaf hashes, not what records mean. Callers serialize
// access (the root AuditLog holds its lock around every call but Wait).
package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard/internal/auditfile"
	"github.com/mcpguard/mcpguard/internal/checkpoint"
	"github.com/mcpguard/mcpguard/internal/merkle"
)

// Signed is a signed checkpoint.
type Signed struct {
	checkpoint.Checkpoint
	Note string
}

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

// ErrChanged is returned by Load when the file changed between its two
// passes.
var ErrChanged = errors.New("log changed while it was opened")

// Load verifies the file at path and restores every leaf and checkpoint
// into s, handing the last window records to decode (oldest first). The
// leaves come from the verification pass, so the second pass neither hashes
// nor decodes the records before the window: opening a large log costs one
// hashing pass. A Problem other than a torn last line is returned without
// loading anything; size is the length of the file's complete part.
func (s *Store) Load(path string, v *checkpoint.Verifier, window uint64, decode func(line []byte) error) (int64, *auditfile.Problem, error) {
	rep, err := auditfile.Verify(path, v, true)
	if err != nil {
		return 0, nil, err
	}
	if rep.Problem != nil && !(rep.Torn && rep.Problem.Index == rep.Records) {
		return 0, rep.Problem, nil
	}
	window = min(window, rep.Records)
	var i uint64
	size, _, err := auditfile.Scan(path, func(line []byte) error {
		if bytes.HasPrefix(line, auditfile.CheckpointPrefix) {
			note, err := auditfile.ParseCheckpointLine(line)
			if err != nil {
				return err
			}
			cp, err := auditfile.ParseNoteUnverified(note)
			if err != nil {
				return err
			}
			s.RestoreCheckpoint(Signed{Checkpoint: cp, Note: note})
			return nil
		}
		if i >= rep.Records {
			return ErrChanged
		}
		if i >= rep.Records-window {
			if err := decode(line); err != nil {
				return err
			}
		}
		s.Restore(rep.Leaves[i])
		i++
		return nil
	})
	if err == nil && i != rep.Records {
		err = ErrChanged
	}
	return size, nil, err
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
