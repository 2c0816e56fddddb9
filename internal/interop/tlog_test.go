package interop

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/mcpguard/mcpguard"
)

// The audit log's Merkle roots and proofs equal those of an independent
// RFC 6962 implementation (golang.org/x/mod/sumdb/tlog), and its signed
// checkpoints open with golang.org/x/mod/sumdb/note.
func TestAuditLogAgainstSumdbTlog(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := mcpguard.NewCheckpointSigner("audit.example/log", key)
	require.NoError(t, err)
	log := mcpguard.NewAuditLog(mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(0))

	var hashes []tlog.Hash // tlog's stored hashes, built from our leaf hashes
	hashReader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for n := 1; n <= 70; n++ {
		r, err := log.Append(context.Background(), mcpguard.Record{Kind: mcpguard.KindDecision, User: fmt.Sprint("u", n)})
		require.NoError(t, err)
		leaf := hexHash(t, r.Hash)
		blank := r
		blank.Hash = ""
		encoded, err := json.Marshal(&blank) // the bytes the record hash covers
		require.NoError(t, err)
		stored, err := tlog.StoredHashes(int64(n-1), encoded, hashReader)
		require.NoError(t, err)
		require.Equal(t, leaf, stored[0], "our record hash is tlog's leaf hash of the record")
		hashes = append(hashes, stored...)

		want, err := tlog.TreeHash(int64(n), hashReader)
		require.NoError(t, err)
		got, err := log.Root(uint64(n))
		require.NoError(t, err)
		require.Equal(t, [32]byte(want), got, "root of size %d", n)

		for i := 0; i < n; i += 7 {
			p, err := log.InclusionProof(uint64(i), uint64(n))
			require.NoError(t, err)
			tp := make(tlog.RecordProof, len(p))
			for j := range p {
				tp[j] = tlog.Hash(p[j])
			}
			li := hexHash(t, log.Records()[i].Hash)
			require.NoError(t, tlog.CheckRecord(tp, int64(n), want, int64(i), li), "inclusion %d/%d", i, n)
		}
		if n > 1 {
			old, _ := tlog.TreeHash(int64(n/2), hashReader)
			p, err := log.ConsistencyProof(uint64(n/2), uint64(n))
			require.NoError(t, err)
			tp := make(tlog.TreeProof, len(p))
			for j := range p {
				tp[j] = tlog.Hash(p[j])
			}
			require.NoError(t, tlog.CheckTree(tp, int64(n), want, int64(n/2), old), "consistency %d→%d", n/2, n)
		}
	}

	cp, err := log.Checkpoint()
	require.NoError(t, err)
	v, err := note.NewVerifier(signer.VerifierKey())
	require.NoError(t, err)
	n, err := note.Open([]byte(cp.Note), note.VerifierList(v))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("audit.example/log\n70\n%s\n", tlog.Hash(cp.Root).String()), n.Text)
}

func hexHash(t *testing.T, s string) tlog.Hash {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, 32)
	return tlog.Hash(b)
}
