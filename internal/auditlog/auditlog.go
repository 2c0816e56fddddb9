// Package auditlog is the storage side of the audit log: the Merkle tree of
// sealed record lines, signed checkpoints, and the group-committed file.
// It knows lines and leaf hashes, not what records mean. Callers serialize
// access (the root AuditLog holds its lock around every call but Wait).
package auditlog

import (
	"fmt"
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
