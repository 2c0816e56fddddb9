// Package checkpoint writes and verifies signed tree heads: the tlog
// checkpoint body ("origin\nsize\nbase64(root)\n") signed as a note in the
// format of golang.org/x/mod/sumdb/note with an Ed25519 key.
package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

const algEd25519 = 1

// Checkpoint is a tree head.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
}

// Text is the checkpoint body.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// Errors of Parse and Open.
var (
	ErrMalformed = errors.New("checkpoint: malformed")
	ErrSignature = errors.New("checkpoint: no valid signature by the expected key")
)

// Parse reads a checkpoint body.
func Parse(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, ErrMalformed
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, ErrMalformed
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, ErrMalformed
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], root)
	return c, nil
}

func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.ContainsAny(name, "+ \t\n\r")
}

func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algEd25519})
	h.Write(pub)
	sum := h.Sum(nil)
	return binary.BigEndian.Uint32(sum[:4])
}

// Signer signs notes.
type Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

// NewSigner returns a signer named name.
func NewSigner(name string, key ed25519.PrivateKey) (*Signer, error) {
	if !validName(name) {
		return nil, fmt.Errorf("checkpoint: invalid signer name %q", name)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("checkpoint: not an Ed25519 private key")
	}
	return &Signer{name: name, hash: keyHash(name, key.Public().(ed25519.PublicKey)), key: key}, nil
}

// Sign returns the signed note of text (which must end in a newline).
func (s *Signer) Sign(text string) string {
	sig := make([]byte, 4, 4+ed25519.SignatureSize)
	binary.BigEndian.PutUint32(sig, s.hash)
	sig = append(sig, ed25519.Sign(s.key, []byte(text))...)
	return text + "\n— " + s.name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// VerifierKey is the public key in note verifier-key form:
// name+hash+base64(0x01||key).
func (s *Signer) VerifierKey() string {
	pub := s.key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", s.name, s.hash, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, pub...)))
}

// Verifier checks notes signed by one key.
type Verifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// ParseVerifierKey reads a verifier key.
func ParseVerifierKey(vkey string) (*Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || !validName(parts[0]) || len(parts[1]) != 8 {
		return nil, fmt.Errorf("checkpoint: malformed verifier key")
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: malformed verifier key hash")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return nil, fmt.Errorf("checkpoint: verifier key is not an Ed25519 key")
	}
	pub := ed25519.PublicKey(raw[1:])
	if keyHash(parts[0], pub) != uint32(h) {
		return nil, fmt.Errorf("checkpoint: verifier key hash does not match")
	}
	return &Verifier{name: parts[0], hash: uint32(h), pub: pub}, nil
}

// Open verifies a signed note and returns its text.
func (v *Verifier) Open(note string) (string, error) {
	i := strings.LastIndex(note, "\n\n")
	if i < 0 || !strings.HasSuffix(note, "\n") {
		return "", ErrMalformed
	}
	text, sigs := note[:i+1], note[i+2:]
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return "", ErrMalformed
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok || name != v.name {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != 4+ed25519.SignatureSize || binary.BigEndian.Uint32(sig) != v.hash {
			continue
		}
		if ed25519.Verify(v.pub, []byte(text), sig[4:]) {
			return text, nil
		}
	}
	return "", ErrSignature
}
