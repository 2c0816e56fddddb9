package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

func writeLog(t *testing.T) (path, key string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := mcpguard.NewCheckpointSigner("audit.test/log", priv)
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "audit.log")
	log, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(3))
	require.NoError(t, err)
	for i := range 7 {
		user := []string{"alice", "bob"}[i%2]
		for _, kind := range []mcpguard.RecordKind{mcpguard.KindDecision, mcpguard.KindInspection} {
			_, err := log.Append(context.Background(), mcpguard.Record{Kind: kind, User: user, Session: "s-" + user,
				Tool: "read_file", RequestID: fmt.Sprintf("req-%d", i), Outcome: "allow"})
			require.NoError(t, err)
		}
	}
	require.NoError(t, log.Close())
	return path, signer.VerifierKey()
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAuditctl(t *testing.T) {
	path, key := writeLog(t)

	code, out, _ := runCmd("verify", path, "--key", key)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "records: 14, chain intact")
	require.Contains(t, out, "signatures and tree heads verified")

	code, out, _ = runCmd("trace", path, "req-3")
	require.Equal(t, 0, code)
	require.Contains(t, out, `user "bob"`)
	require.Equal(t, 3, strings.Count(out, "\n"))

	code, out, _ = runCmd("query", path, "--user", "alice", "--kind", "decision", "--json")
	require.Equal(t, 0, code)
	var recs []mcpguard.Record
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.Len(t, recs, 4)

	code, out, _ = runCmd("prove", path, "5", "--key", key, "--json")
	require.Equal(t, 0, code, out)
	var proof map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &proof))
	require.Equal(t, true, proof["verified"])
	require.EqualValues(t, 14, proof["treeSize"])

	// Tamper with record 9: verify names it and fails.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, `{"seq":9,`) {
			lines[i] = strings.Replace(l, `"outcome":"allow"`, `"outcome":"deny"`, 1)
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600))
	code, out, _ = runCmd("verify", path, "--key", key)
	require.Equal(t, 1, code)
	require.Contains(t, out, "first bad record: 9 (record hash mismatch)")
	code, out, _ = runCmd("verify", path, "--json")
	require.Equal(t, 1, code)
	require.Contains(t, out, `"firstBadIndex": 9`)

	code, _, errOut := runCmd("bogus", path)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage")
}
