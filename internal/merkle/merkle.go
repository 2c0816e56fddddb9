// Package merkle implements the RFC 6962 / RFC 9162 Merkle tree: leaf and
// node hashing, an append-only compact range for roots, and inclusion and
// consistency proofs with their verification.
package merkle

import (
	"crypto/sha256"
	"errors"
	"math/bits"
)

// Hash is a SHA-256 digest.
type Hash = [32]byte

// EmptyRoot is the root of the empty tree: SHA-256 of the empty string.
var EmptyRoot = sha256.Sum256(nil)

// LeafHash is SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// Range is the compact range of a growing tree: the roots of its maximal
// perfect subtrees, left to right. Appending is amortized O(1) and the root
// O(log n).
type Range struct {
	size  uint64
	nodes []Hash
}

// Append adds a leaf hash.
func (r *Range) Append(leaf Hash) {
	r.nodes = append(r.nodes, leaf)
	r.size++
	// Merge equal-sized subtrees: one merge per trailing zero bit of size.
	for s := r.size; s&1 == 0; s >>= 1 {
		n := len(r.nodes)
		r.nodes[n-2] = NodeHash(r.nodes[n-2], r.nodes[n-1])
		r.nodes = r.nodes[:n-1]
	}
}

// Size is the number of leaves.
func (r *Range) Size() uint64 { return r.size }

// Root is the tree head.
func (r *Range) Root() Hash {
	if len(r.nodes) == 0 {
		return EmptyRoot
	}
	root := r.nodes[len(r.nodes)-1]
	for i := len(r.nodes) - 2; i >= 0; i-- {
		root = NodeHash(r.nodes[i], root)
	}
	return root
}

// split is the largest power of two smaller than n (n > 1).
func split(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// Root computes MTH(leaves).
func Root(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return EmptyRoot
	case 1:
		return leaves[0]
	}
	k := split(uint64(len(leaves)))
	return NodeHash(Root(leaves[:k]), Root(leaves[k:]))
}

// Errors of proof generation and verification.
var (
	ErrRange  = errors.New("merkle: index or size out of range")
	ErrProof  = errors.New("merkle: proof does not verify")
	ErrLength = errors.New("merkle: proof has the wrong length")
)

// InclusionProof returns PATH(index, leaves[:size]) (RFC 9162 §2.1.3.1).
func InclusionProof(index, size uint64, leaves []Hash) ([]Hash, error) {
	if index >= size || size > uint64(len(leaves)) {
		return nil, ErrRange
	}
	return path(index, leaves[:size]), nil
}

func path(m uint64, d []Hash) []Hash {
	n := uint64(len(d))
	if n == 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(path(m, d[:k]), Root(d[k:]))
	}
	return append(path(m-k, d[k:]), Root(d[:k]))
}

// ConsistencyProof returns PROOF(first, leaves[:second]) (RFC 9162 §2.1.4.1).
func ConsistencyProof(first, second uint64, leaves []Hash) ([]Hash, error) {
	if first > second || second > uint64(len(leaves)) {
		return nil, ErrRange
	}
	if first == 0 || first == second {
		return nil, nil
	}
	return subproof(first, leaves[:second], true), nil
}

func subproof(m uint64, d []Hash, b bool) []Hash {
	n := uint64(len(d))
	if m == n {
		if b {
			return nil
		}
		return []Hash{Root(d)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(m, d[:k], b), Root(d[k:]))
	}
	return append(subproof(m-k, d[k:], false), Root(d[:k]))
}

// VerifyInclusion checks that leaf is at index in the tree of size with
// root (RFC 9162 §2.1.3.2).
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	if index >= size {
		return ErrRange
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return ErrLength
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return ErrLength
	}
	if r != root {
		return ErrProof
	}
	return nil
}

// VerifyConsistency checks that the tree of size second with root2 extends
// the tree of size first with root1 (RFC 9162 §2.1.4.2).
func VerifyConsistency(first, second uint64, root1, root2 Hash, proof []Hash) error {
	switch {
	case first > second:
		return ErrRange
	case first == second:
		if len(proof) != 0 {
			return ErrLength
		}
		if root1 != root2 {
			return ErrProof
		}
		return nil
	case first == 0:
		if len(proof) != 0 {
			return ErrLength
		}
		return nil
	case len(proof) == 0:
		return ErrLength
	}
	if first&(first-1) == 0 { // a power of two: the first tree is a node of the proof path
		proof = append([]Hash{root1}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return ErrLength
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return ErrLength
	}
	if fr != root1 || sr != root2 {
		return ErrProof
	}
	return nil
}
