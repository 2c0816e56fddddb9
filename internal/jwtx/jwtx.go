// Package jwtx signs and verifies the compact JWTs mcpguard issues and
// accepts. It uses jwx for JWS and JWK, and typed claims for speed and
// strictness: the header is checked (algorithm on an allowlist and equal to
// the key's, key id present, no "crit"), and the signature is verified with
// exactly one key chosen by kid.
package jwtx

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = 16 << 10

// Token types (the JWS "typ" header).
const (
	TypeAccessToken  = "at+jwt"      // RFC 9068: the per-call tokens
	TypeSessionToken = "session+jwt" // the embedded issuer's session tokens
)

// Errors from Parse and Verify. They say what is wrong with a token, never
// what it contains.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("token algorithm not accepted")
	ErrUnknownKey   = errors.New("token signed by an unknown key")
	ErrSignature    = errors.New("token signature invalid")
	ErrTooLarge     = errors.New("token too large")
	ErrCriticalHdrs = errors.New("token has critical header parameters")
)

// Actor is the RFC 8693 "act" claim: who acts on the subject's behalf.
type Actor struct {
	Subject string `json:"sub"`
}

// Confirmation is the RFC 8705 "cnf" claim.
type Confirmation struct {
	X5tS256 string `json:"x5t#S256,omitempty"`
}

// Claims are the claims of session tokens and per-call tokens.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud,omitempty"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Tenant    string   `json:"tenant,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Actor     *Actor   `json:"act,omitempty"`
	// Tool, ArgsHash and RequestID bind a per-call token to one call.
	Tool         string        `json:"mcp_tool,omitempty"`
	ArgsHash     string        `json:"mcp_args_sha256,omitempty"`
	RequestID    string        `json:"mcp_req,omitempty"`
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Audience is the "aud" claim, a string or an array of strings on the wire.
type Audience []string

// MarshalJSON writes a single audience as a string.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

// Contains reports whether aud holds s.
func (a Audience) Contains(s string) bool { return slices.Contains(a, s) }

// Header is the part of the protected header mcpguard looks at.
type Header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit,omitempty"`
}

// Allowed signature algorithms. HMAC and "none" are never accepted.
var allowedAlgs = map[string]jwa.SignatureAlgorithm{
	"ES256": jwa.ES256, "ES384": jwa.ES384, "EdDSA": jwa.EdDSA, "RS256": jwa.RS256, "PS256": jwa.PS256,
}

// Algorithm returns the jwa algorithm for a name on the allowlist.
func Algorithm(name string) (jwa.SignatureAlgorithm, bool) {
	a, ok := allowedAlgs[name]
	return a, ok
}

// AlgorithmFor returns the algorithm mcpguard uses for a signing key type.
func AlgorithmFor(key crypto.PublicKey) (string, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "ES256", nil
		case 384:
			return "ES384", nil
		}
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return "RS256", nil
		}
		return "", errors.New("RSA keys must have at least 2048 bits")
	}
	return "", fmt.Errorf("unsupported key type %T", key)
}

// Key is a verification key with its algorithm.
type Key struct {
	ID  string
	Alg string
	Pub crypto.PublicKey
}

// KeysFromSet extracts the usable verification keys of a JWK set. Keys
// without a kid, with an algorithm off the allowlist, or whose algorithm does
// not fit the key type are skipped. A key without "alg" gets the algorithm
// of its type.
func KeysFromSet(set jwk.Set) map[string]Key {
	out := make(map[string]Key, set.Len())
	for i := 0; i < set.Len(); i++ {
		k, ok := set.Key(i)
		if !ok || k.KeyID() == "" {
			continue
		}
		if u := k.KeyUsage(); u != "" && u != "sig" {
			continue
		}
		var raw any
		if err := k.Raw(&raw); err != nil {
			continue
		}
		pub := publicOf(raw)
		want, err := AlgorithmFor(pub)
		if err != nil {
			continue
		}
		if a := k.Algorithm().String(); a != "" && a != want {
			if _, ok := allowedAlgs[a]; !ok || !fits(a, pub) {
				continue
			}
			want = a
		}
		out[k.KeyID()] = Key{ID: k.KeyID(), Alg: want, Pub: pub}
	}
	return out
}

func publicOf(raw any) crypto.PublicKey {
	switch k := raw.(type) {
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	case *rsa.PrivateKey:
		return &k.PublicKey
	}
	return raw
}

// fits reports whether alg can be used with pub (PS256 with RSA keys).
func fits(alg string, pub crypto.PublicKey) bool {
	_, isRSA := pub.(*rsa.PublicKey)
	return alg == "PS256" && isRSA
}

// Sign returns a compact JWS of claims with the given typ and kid.
func Sign(c *Claims, typ, kid, alg string, key crypto.Signer) ([]byte, error) {
	if _, ok := allowedAlgs[alg]; !ok {
		return nil, ErrAlgorithm
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(Header{Alg: alg, Typ: typ, Kid: kid})
	if err != nil {
		return nil, err
	}
	token := make([]byte, 0, b64.EncodedLen(len(header))+b64.EncodedLen(len(payload))+b64.EncodedLen(512)+2)
	token = b64.AppendEncode(token, header)
	token = append(token, '.')
	token = b64.AppendEncode(token, payload)
	sig, err := signRaw(alg, key, token)
	if err != nil {
		return nil, err
	}
	token = append(token, '.')
	return b64.AppendEncode(token, sig), nil
}

// ParseHeader decodes and checks the protected header of a compact JWS.
func ParseHeader(token []byte) (*Header, error) {
	if len(token) > MaxTokenBytes {
		return nil, ErrTooLarge
	}
	if bytes.Count(token, []byte{'.'}) != 2 {
		return nil, ErrMalformed
	}
	seg := token[:bytes.IndexByte(token, '.')]
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := b64.Decode(raw, seg)
	if err != nil {
		return nil, ErrMalformed
	}
	var h Header
	if err := json.Unmarshal(raw[:n], &h); err != nil {
		return nil, ErrMalformed
	}
	if len(h.Crit) > 0 {
		return nil, ErrCriticalHdrs
	}
	if _, ok := allowedAlgs[h.Alg]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	return &h, nil
}

// Verify checks the signature of token with the key named by its kid and
// returns its header and claims. Claims are not validated here (see the
// callers): only the signature and the header.
func Verify(token []byte, keys map[string]Key) (*Header, *Claims, error) {
	h, err := ParseHeader(token)
	if err != nil {
		return nil, nil, err
	}
	c, err := VerifyParsed(token, h, keys)
	return h, c, err
}

// VerifyParsed is Verify for a token whose header ParseHeader already
// returned (callers that need the kid first to find the keys).
func VerifyParsed(token []byte, h *Header, keys map[string]Key) (*Claims, error) {
	k, ok := keys[h.Kid]
	if !ok || h.Kid == "" {
		return nil, ErrUnknownKey
	}
	if k.Alg != h.Alg {
		// Algorithm confusion: the key decides the algorithm, never the
		// token.
		return nil, fmt.Errorf("%w: %s token for a %s key", ErrAlgorithm, h.Alg, k.Alg)
	}
	if len(token) > MaxTokenBytes {
		return nil, ErrTooLarge
	}
	if bytes.Count(token, []byte{'.'}) != 2 {
		return nil, ErrMalformed
	}
	first, last := bytes.IndexByte(token, '.'), bytes.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(string(token[last+1:]))
	if err != nil {
		return nil, ErrMalformed
	}
	if !verifyRaw(k, token[:last], sig) {
		return nil, ErrSignature
	}
	payload, err := b64.DecodeString(string(token[first+1 : last]))
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return &c, nil
}

// UnverifiedID returns the jti of a JWT without verifying it, for audit
// records that must name a token without holding it. For anything that is
// not a JWT with a jti it returns a hash prefix of the token instead.
func UnverifiedID(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) == 3 {
		if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			var c struct {
				ID string `json:"jti"`
			}
			if json.Unmarshal(raw, &c) == nil && c.ID != "" && len(c.ID) <= 128 {
				return c.ID
			}
		}
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// CertThumbprint is the RFC 8705 x5t#S256 of a DER certificate.
func CertThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
