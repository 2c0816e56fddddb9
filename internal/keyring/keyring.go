// Package keyring holds an issuer's signing keys: the current key signs, the
// previous ones stay published in the JWKS until the tokens they signed have
// expired.
package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/mcpguard/mcpguard/internal/jwtx"
)

// Signer is one signing key.
type Signer struct {
	Kid    string
	Alg    string
	Signer crypto.Signer
}

// Generate returns a new private key for alg ("ES256", "EdDSA", "RS256").
func Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "RS256":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q (use ES256, EdDSA or RS256)", alg)
}

// NewSigner wraps key; the kid is the RFC 7638 thumbprint of its public key.
func NewSigner(key crypto.Signer) (*Signer, error) {
	alg, err := jwtx.AlgorithmFor(key.Public())
	if err != nil {
		return nil, err
	}
	pub, err := jwk.FromRaw(key.Public())
	if err != nil {
		return nil, err
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &Signer{Kid: base64.RawURLEncoding.EncodeToString(tp), Alg: alg, Signer: key}, nil
}

// Ring is the set of keys. It is safe for concurrent use.
type Ring struct {
	keep int

	mu      sync.RWMutex
	current *Signer
	older   []*Signer
	set     jwk.Set             // public keys, current first
	keys    map[string]jwtx.Key // by kid
	jwks    []byte
}

// New returns a ring signing with s that keeps keep previous keys.
func New(s *Signer, keep int) (*Ring, error) {
	r := &Ring{keep: keep}
	if err := r.install(s, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// Rotate makes s the signing key and keeps the previous ones published.
func (r *Ring) Rotate(s *Signer) error {
	r.mu.RLock()
	older := append([]*Signer{r.current}, r.older...)
	r.mu.RUnlock()
	if len(older) > r.keep {
		older = older[:r.keep]
	}
	return r.install(s, older)
}

func (r *Ring) install(cur *Signer, older []*Signer) error {
	set := jwk.NewSet()
	keys := make(map[string]jwtx.Key)
	for _, s := range append([]*Signer{cur}, older...) {
		pub, err := jwk.FromRaw(s.Signer.Public())
		if err != nil {
			return err
		}
		_ = pub.Set(jwk.KeyIDKey, s.Kid)
		_ = pub.Set(jwk.AlgorithmKey, s.Alg)
		_ = pub.Set(jwk.KeyUsageKey, "sig")
		if err := set.AddKey(pub); err != nil {
			return err
		}
		keys[s.Kid] = jwtx.Key{ID: s.Kid, Alg: s.Alg, Pub: s.Signer.Public()}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current, r.older, r.set, r.keys, r.jwks = cur, older, set, keys, jwks
	return nil
}

// Current returns the signing key.
func (r *Ring) Current() *Signer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Set returns the public JWK set. The same value is returned until the next
// rotation, so callers can cache what they derive from it.
func (r *Ring) Set() jwk.Set {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.set
}

// Keys returns the verification keys by kid.
func (r *Ring) Keys() map[string]jwtx.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys
}

// JWKS returns the public set as JSON.
func (r *Ring) JWKS() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.jwks
}

// Fingerprint is a short id of the current key set, for logs.
func (r *Ring) Fingerprint() string {
	sum := sha256.Sum256(r.JWKS())
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}
