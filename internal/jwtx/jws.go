package jwtx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
)

// The compact JWS signing and verification below use crypto/* directly:
// the header is already parsed and checked by ParseHeader and the key is
// already chosen by kid, so going through jws.Sign/jws.Verify would parse
// and allocate everything a second time on every call. The tests cross-check
// every algorithm against jwx in both directions.

// b64 is the JWS base64url encoding, strict: no padding and no non-zero
// trailing bits, so one token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// signingHash returns the hash of alg and, for ECDSA, the byte length of
// one signature half.
func signingHash(alg string) (crypto.Hash, int, error) {
	switch alg {
	case "ES256":
		return crypto.SHA256, 32, nil
	case "ES384":
		return crypto.SHA384, 48, nil
	case "RS256", "PS256":
		return crypto.SHA256, 0, nil
	case "EdDSA":
		return 0, 0, nil
	}
	return 0, 0, ErrAlgorithm
}

func digest(h crypto.Hash, input []byte) []byte {
	if h == crypto.SHA384 {
		sum := sha512.Sum384(input)
		return sum[:]
	}
	sum := sha256.Sum256(input)
	return sum[:]
}

// curveOf is the curve an ECDSA algorithm requires.
func curveOf(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	}
	return nil
}

// signRaw signs the JWS signing input with key under alg and returns the
// JWS signature bytes (for ECDSA the fixed-size r‖s, not ASN.1).
func signRaw(alg string, key crypto.Signer, input []byte) ([]byte, error) {
	h, half, err := signingHash(alg)
	if err != nil {
		return nil, err
	}
	switch alg {
	case "EdDSA":
		return key.Sign(rand.Reader, input, crypto.Hash(0))
	case "RS256":
		return key.Sign(rand.Reader, digest(h, input), h)
	case "PS256":
		return key.Sign(rand.Reader, digest(h, input), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
	}
	der, err := key.Sign(rand.Reader, digest(h, input), h)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("jwtx: signer returned a malformed ECDSA signature")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*half || rs.S.BitLen() > 8*half {
		return nil, errors.New("jwtx: signer returned an ECDSA signature of the wrong size")
	}
	out := make([]byte, 2*half)
	rs.R.FillBytes(out[:half])
	rs.S.FillBytes(out[half:])
	return out, nil
}

// verifyRaw checks sig over input with k. The key's algorithm decides
// everything; the key's type and curve must fit it.
func verifyRaw(k Key, input, sig []byte) bool {
	h, half, err := signingHash(k.Alg)
	if err != nil {
		return false
	}
	switch pub := k.Pub.(type) {
	case ed25519.PublicKey:
		return k.Alg == "EdDSA" && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, input, sig)
	case *ecdsa.PublicKey:
		want := curveOf(k.Alg)
		if want == nil || pub.Curve != want || len(sig) != 2*half {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])
		return ecdsa.Verify(pub, digest(h, input), r, s)
	case *rsa.PublicKey:
		switch k.Alg {
		case "RS256":
			return rsa.VerifyPKCS1v15(pub, h, digest(h, input), sig) == nil
		case "PS256":
			return rsa.VerifyPSS(pub, h, digest(h, input), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}) == nil
		}
	}
	return false
}
