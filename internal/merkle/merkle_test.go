package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// leaves returns the leaf hashes of the RFC 6962 test inputs used by
// certificate-transparency implementations.
func testLeaves() []Hash {
	inputs := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	out := make([]Hash, len(inputs))
	for i, s := range inputs {
		b, _ := hex.DecodeString(s)
		out[i] = LeafHash(b)
	}
	return out
}

// Roots of the first n of the test inputs, from the certificate-transparency
// reference test vectors.
var wantRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestRootsMatchReferenceVectors(t *testing.T) {
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex.EncodeToString(EmptyRoot[:]))
	ls := testLeaves()
	var r Range
	for n := 1; n <= len(ls); n++ {
		r.Append(ls[n-1])
		root := Root(ls[:n])
		require.Equal(t, wantRoots[n-1], hex.EncodeToString(root[:]), "size %d", n)
		got := r.Root()
		require.Equal(t, wantRoots[n-1], hex.EncodeToString(got[:]), "range size %d", n)
	}
}

func TestProofsRoundTrip(t *testing.T) {
	var ls []Hash
	for i := range 70 {
		ls = append(ls, LeafHash([]byte(fmt.Sprint(i))))
	}
	for size := uint64(1); size <= uint64(len(ls)); size++ {
		root := Root(ls[:size])
		for i := uint64(0); i < size; i++ {
			p, err := InclusionProof(i, size, ls)
			require.NoError(t, err)
			require.NoError(t, VerifyInclusion(i, size, ls[i], p, root), "i=%d size=%d", i, size)
			require.Error(t, VerifyInclusion(i, size, LeafHash([]byte("x")), p, root))
			if len(p) > 0 {
				p[0][0] ^= 1
				require.Error(t, VerifyInclusion(i, size, ls[i], p, root))
			}
		}
		for first := uint64(0); first <= size; first++ {
			p, err := ConsistencyProof(first, size, ls)
			require.NoError(t, err)
			require.NoError(t, VerifyConsistency(first, size, Root(ls[:first]), root, p), "%d→%d", first, size)
			if first > 0 && first < size {
				require.Error(t, VerifyConsistency(first, size, sha256.Sum256([]byte("forged")), root, p))
			}
		}
	}
	_, err := InclusionProof(5, 5, ls)
	require.ErrorIs(t, err, ErrRange)
}

func BenchmarkRangeAppend(b *testing.B) {
	var r Range
	leaf := LeafHash([]byte("x"))
	for b.Loop() {
		r.Append(leaf)
	}
}
