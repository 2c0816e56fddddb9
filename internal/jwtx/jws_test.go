package jwtx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"
)

type algKey struct {
	alg  string
	priv crypto.Signer
}

func algKeys(t *testing.T) []algKey {
	t.Helper()
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return []algKey{{"ES256", p256}, {"ES384", p384}, {"EdDSA", ed}, {"RS256", rsaKey}, {"PS256", rsaKey}}
}

// TestJWSAgainstJWX cross-checks the direct signing and verification with
// jwx in both directions, for every accepted algorithm.
func TestJWSAgainstJWX(t *testing.T) {
	claims := &Claims{Issuer: "https://i", Subject: "alice", Audience: Audience{"mcp"}, Expiry: 2e9, IssuedAt: 1e9, ID: "j1", Tool: "fetch"}
	for _, ak := range algKeys(t) {
		t.Run(ak.alg, func(t *testing.T) {
			keys := map[string]Key{"k": {ID: "k", Alg: ak.alg, Pub: ak.priv.Public()}}
			jwxAlg, ok := Algorithm(ak.alg)
			require.True(t, ok)

			// Ours → jwx.
			tok, err := Sign(claims, TypeAccessToken, "k", ak.alg, ak.priv)
			require.NoError(t, err)
			payload, err := jws.Verify(tok, jws.WithKey(jwxAlg, ak.priv.Public()))
			require.NoError(t, err, "jwx verifies our token")
			var got Claims
			require.NoError(t, json.Unmarshal(payload, &got))
			require.Equal(t, *claims, got)
			msg, err := jws.Parse(tok)
			require.NoError(t, err)
			hdr := msg.Signatures()[0].ProtectedHeaders()
			require.Equal(t, "k", hdr.KeyID())
			require.Equal(t, TypeAccessToken, hdr.Type())
			require.Equal(t, jwxAlg, hdr.Algorithm())

			// jwx → ours.
			body, _ := json.Marshal(claims)
			h := jws.NewHeaders()
			require.NoError(t, h.Set(jws.KeyIDKey, "k"))
			require.NoError(t, h.Set(jws.TypeKey, TypeAccessToken))
			theirs, err := jws.Sign(body, jws.WithKey(jwxAlg, ak.priv, jws.WithProtectedHeaders(h)))
			require.NoError(t, err)
			_, c, err := Verify(theirs, keys)
			require.NoError(t, err, "we verify jwx's token")
			require.Equal(t, claims, c)

			// A flipped bit anywhere in the signature fails.
			for i := len(tok) - 1; tok[i] != '.'; i-- {
				bad := append([]byte(nil), tok...)
				bad[i] ^= 0x01
				_, _, err := Verify(bad, keys)
				require.Error(t, err, "flipped signature byte %d", i)
			}
		})
	}
}

// TestVerifyRejectsKeyMismatch: a signature is only checked with the
// algorithm the key was registered with, and the key's type and curve
// must fit that algorithm.
func TestVerifyRejectsKeyMismatch(t *testing.T) {
	ks := algKeys(t)
	input := []byte("header.payload")
	for _, signer := range ks {
		sig, err := signRaw(signer.alg, signer.priv, input)
		require.NoError(t, err)
		for _, other := range ks {
			k := Key{ID: "k", Alg: other.alg, Pub: signer.priv.Public()}
			require.Equal(t, other.alg == signer.alg, verifyRaw(k, input, sig), "%s signature checked as %s", signer.alg, other.alg)
		}
	}
	// ECDSA signatures must be exactly r‖s of the curve's size.
	p256 := ks[0]
	sig, err := signRaw("ES256", p256.priv, input)
	require.NoError(t, err)
	k := Key{ID: "k", Alg: "ES256", Pub: p256.priv.Public()}
	require.True(t, verifyRaw(k, input, sig))
	require.False(t, verifyRaw(k, input, append([]byte{0}, sig...)))
	require.False(t, verifyRaw(k, input, sig[:63]))
	require.False(t, verifyRaw(Key{ID: "k", Alg: "ES384", Pub: p256.priv.Public()}, input, sig))
	require.False(t, verifyRaw(Key{ID: "k", Alg: "HS256", Pub: p256.priv.Public()}, input, sig))
}

// Non-canonical base64 (set trailing bits) in the signature is refused, so
// a token has one spelling.
func TestVerifyRejectsNonCanonicalEncoding(t *testing.T) {
	priv, keys := testKey(t)
	tok, err := Sign(&Claims{Subject: "s", ID: "j"}, TypeAccessToken, "k1", "EdDSA", priv)
	require.NoError(t, err)
	// An Ed25519 signature is 64 bytes: 86 base64 characters, the last of
	// which carries 4 unused bits.
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := 0
	for i := range alphabet {
		if alphabet[i] == last {
			idx = i
		}
	}
	bad := append([]byte(nil), tok...)
	bad[len(bad)-1] = alphabet[idx^1]
	_, _, err = Verify(bad, keys)
	require.ErrorIs(t, err, ErrMalformed)
}
