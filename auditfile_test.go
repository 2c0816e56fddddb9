package mcpguard_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

func newSigner(t testing.TB) *mcpguard.CheckpointSigner {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := mcpguard.NewCheckpointSigner("audit.acme.example/mcp", key)
	require.NoError(t, err)
	return s
}

func appendN(t testing.TB, log *mcpguard.AuditLog, n int, user string) {
	t.Helper()
	for i := range n {
		_, err := log.Append(context.Background(), mcpguard.Record{Kind: mcpguard.KindDecision, User: user,
			Tool: "read_file", RequestID: fmt.Sprintf("%s-%d", user, i), Outcome: "allow"})
		require.NoError(t, err)
	}
}

// TestAuditFileChainWalk runs guarded calls that write one audit file, then
// walks a call from the model's view back to the user and verifies the file.
func TestAuditFileChainWalk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	signer := newSigner(t)
	log, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(4))
	require.NoError(t, err)
	d := devPKI(t)
	ts := newTokenSetup(t,
		[]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCertificate(d.Server.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert))},
		[]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCertificate(d.Client.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Server.Cert))})
	url := serveMTLS(t, ts.server, newTestServer(ts.server, &ts.executed), true)
	cs, err := connectMTLS(ts.ctx, url, ts.client, "")
	require.NoError(t, err)
	for i := range 3 {
		_, err := callEcho(ts.ctx, cs, fmt.Sprintf("call %d", i))
		require.NoError(t, err)
	}
	require.NoError(t, cs.Close())

	// Forward and back from the last inspection record (what the model got).
	insp := log.Query(mcpguard.AuditQuery{Kind: mcpguard.KindInspection})
	require.Len(t, insp, 3)
	trace := log.Trace(insp[2].RequestID)
	kinds := []string{}
	for _, r := range trace {
		kinds = append(kinds, string(r.Side)+"/"+string(r.Kind))
	}
	require.Equal(t, []string{"server/connection", "client/decision", "client/exchange", "server/decision", "server/execution", "client/inspection"}, kinds)
	require.Equal(t, "alice", trace[0].User, "the connection record links the certificate to the user session")
	require.Equal(t, trace[2].TokenID, trace[4].TokenID, "exchange → execution by token id")
	for _, r := range trace[1:] {
		require.Equal(t, "alice", r.User)
	}
	require.NoError(t, log.Close())

	// The file verifies on its own, checkpoints and all.
	rep, err := mcpguard.VerifyAuditFile(path, signer.VerifierKey(), nil)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.EqualValues(t, log.Len(), rep.Records)
	require.GreaterOrEqual(t, rep.Checkpoints, 2)
	require.Equal(t, rep.Records, rep.Latest.Size, "Close signed a final checkpoint")
	recs, _, err := mcpguard.ReadAuditFile(path)
	require.NoError(t, err)
	require.Len(t, mcpguard.TraceRecords(recs, insp[2].RequestID), 6)

	// Reopening continues the same chain.
	log2, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer))
	require.NoError(t, err)
	appendN(t, log2, 3, "bob")
	require.NoError(t, log2.Close())
	rep2, err := mcpguard.VerifyAuditFile(path, signer.VerifierKey(), rep.Latest)
	require.NoError(t, err)
	require.Nil(t, rep2.Problem)
	require.Equal(t, rep.Records+3, rep2.Records)
}

func TestAuditFileTamperingIsDetected(t *testing.T) {
	dir := t.TempDir()
	signer := newSigner(t)
	path := filepath.Join(dir, "clean.log")
	log, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(5))
	require.NoError(t, err)
	appendN(t, log, 12, "alice")
	published, err := log.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, log.Close())
	clean, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(clean), "\n")
	lines = lines[:len(lines)-1] // trailing empty element
	// Line numbers of record 7 (two checkpoints come before it: after 5, after 10 it is later).
	recordLine := func(seq int) int {
		for i, l := range lines {
			if strings.HasPrefix(l, fmt.Sprintf(`{"seq":%d,`, seq)) {
				return i
			}
		}
		t.Fatalf("no record %d", seq)
		return -1
	}
	otherSigner := newSigner(t)
	_ = otherSigner

	for _, tc := range []struct {
		name   string
		mutate func() string
		index  int
		reason string
	}{
		{"one-byte", func() string {
			l := slicesClone(lines)
			i := recordLine(7)
			l[i] = strings.Replace(l[i], `"outcome":"allow"`, `"outcome":"allaw"`, 1)
			return strings.Join(l, "")
		}, 7, "record hash mismatch"},
		{"deleted", func() string {
			l := slicesClone(lines)
			i := recordLine(3)
			return strings.Join(append(l[:i], l[i+1:]...), "")
		}, 3, "sequence 4 out of place"},
		{"reordered", func() string {
			l := slicesClone(lines)
			i, j := recordLine(8), recordLine(9)
			l[i], l[j] = l[j], l[i]
			return strings.Join(l, "")
		}, 8, "sequence 9 out of place"},
		{"truncated-mid-record", func() string {
			i := recordLine(11)
			return strings.Join(lines[:i], "") + lines[i][:40]
		}, 11, "torn record"},
		{"truncated-at-boundary", func() string {
			return strings.Join(lines[:recordLine(6)], "")
		}, 6, "truncated"},
		{"forged-checkpoint", func() string {
			l := slicesClone(lines)
			// Replace the checkpoint after record 4 with one signed by
			// another key over a made-up tree.
			for i, line := range l {
				if strings.HasPrefix(line, `{"checkpoint":`) {
					forged := mcpguard.NewAuditLog(mcpguard.WithCheckpointSigner(otherSigner))
					appendN(t, forged, 5, "mallory")
					cp, err := forged.Checkpoint()
					require.NoError(t, err)
					l[i] = strings.Replace(line, line, checkpointLine(cp.Note), 1)
					break
				}
			}
			return strings.Join(l, "")
		}, 5, "checkpoint after record 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".log")
			require.NoError(t, os.WriteFile(p, []byte(tc.mutate()), 0o600))
			rep, err := mcpguard.VerifyAuditFile(p, signer.VerifierKey(), published)
			require.NoError(t, err)
			require.NotNil(t, rep.Problem, "tampering undetected")
			require.Equal(t, tc.index, rep.Problem.Index, rep.Problem.Reason)
			require.Contains(t, rep.Problem.Reason, tc.reason)
			// A broken log is never extended, except for a torn tail.
			_, err = mcpguard.OpenAuditLog(p, mcpguard.WithCheckpointSigner(signer))
			if tc.name == "truncated-mid-record" || tc.name == "truncated-at-boundary" {
				require.NoError(t, err)
			} else {
				var ce *mcpguard.ChainError
				require.True(t, errors.As(err, &ce), "%v", err)
			}
		})
	}
}

func slicesClone(l []string) []string { return append([]string(nil), l...) }

func checkpointLine(note string) string {
	return `{"checkpoint":` + strconv.Quote(note) + "}\n"
}

// TestAuditFileSurvivesKill appends from a child process that is killed
// with SIGKILL in the middle of its writes, then reopens the file: every
// record the child had acknowledged is there, and the log continues. With a
// sync interval the same holds, because an acknowledged record is already
// written to the file when Append returns; only an operating-system crash
// could lose what awaits the background fsync.
func TestAuditFileSurvivesKill(t *testing.T) {
	if path := os.Getenv("MCPGUARD_AUDIT_CHILD"); path != "" {
		interval, _ := time.ParseDuration(os.Getenv("MCPGUARD_AUDIT_SYNC"))
		log, err := mcpguard.OpenAuditLog(path, mcpguard.WithSyncInterval(interval))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					r, err := log.Append(context.Background(), mcpguard.Record{Kind: mcpguard.KindExecution,
						RequestID: fmt.Sprintf("g%d-%d", g, i), Reason: strings.Repeat("x", 200)})
					if err != nil {
						return
					}
					fmt.Printf("ack %d %s\n", r.Seq, r.RequestID)
				}
			}()
		}
		wg.Wait()
		return
	}
	for _, interval := range []string{"0s", "50ms"} {
		t.Run("sync-interval-"+interval, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			cmd := exec.Command(os.Args[0], "-test.run=^TestAuditFileSurvivesKill$")
			cmd.Env = append(os.Environ(), "MCPGUARD_AUDIT_CHILD="+path, "MCPGUARD_AUDIT_SYNC="+interval)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			acked := map[uint64]string{}
			sc := bufio.NewScanner(out)
			for sc.Scan() && len(acked) < 3000 {
				var seq uint64
				var id string
				if _, err := fmt.Sscanf(sc.Text(), "ack %d %s", &seq, &id); err == nil {
					acked[seq] = id
				}
			}
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			require.GreaterOrEqual(t, len(acked), 3000)

			log, err := mcpguard.OpenAuditLog(path)
			require.NoError(t, err, "a torn tail is cut, the rest opens")
			recs := log.Records()
			for seq, id := range acked {
				require.Less(t, seq, uint64(len(recs)), "acknowledged record %d lost", seq)
				require.Equal(t, id, recs[seq].RequestID)
			}
			appendN(t, log, 2, "after-crash")
			require.NoError(t, log.Close())
			rep, err := mcpguard.VerifyAuditFile(path, "", nil)
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
		})
	}
}

func TestAuditFileConcurrentAppendsAreTotallyOrdered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := mcpguard.OpenAuditLog(path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			appendN(t, log, 50, fmt.Sprintf("u%d", g))
		}()
	}
	wg.Wait()
	require.NoError(t, log.Close())
	rep, err := mcpguard.VerifyAuditFile(path, "", nil)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.EqualValues(t, 800, rep.Records)
	_, err = log.Append(context.Background(), mcpguard.Record{})
	require.ErrorIs(t, err, mcpguard.ErrAuditSink, "closed log refuses")
}

func TestProofs(t *testing.T) {
	signer := newSigner(t)
	log := mcpguard.NewAuditLog(mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(0))
	appendN(t, log, 10, "alice")
	cp1, err := log.Checkpoint()
	require.NoError(t, err)
	appendN(t, log, 7, "bob")
	cp2, err := log.Checkpoint()
	require.NoError(t, err)

	// A reviewer holding the published notes checks them with the key...
	got1, err := mcpguard.OpenCheckpoint(cp1.Note, signer.VerifierKey())
	require.NoError(t, err)
	got2, err := mcpguard.OpenCheckpoint(cp2.Note, signer.VerifierKey())
	require.NoError(t, err)
	_, err = mcpguard.OpenCheckpoint(cp1.Note, newSigner(t).VerifierKey())
	require.Error(t, err)
	// ...that the log only grew...
	cons, err := log.ConsistencyProof(got1.Size, got2.Size)
	require.NoError(t, err)
	require.NoError(t, mcpguard.VerifyConsistency(got1.Size, got2.Size, got1.Root, got2.Root, cons))
	// ...and that record 4 is in it.
	rec := log.Records()[4]
	incl, err := log.InclusionProof(4, got2.Size)
	require.NoError(t, err)
	require.NoError(t, mcpguard.VerifyInclusion(4, got2.Size, rec.Hash, incl, got2.Root))
	require.Error(t, mcpguard.VerifyInclusion(5, got2.Size, rec.Hash, incl, got2.Root))
	_ = bytes.MinRead
}

// TestRecordsAreDurableBeforeTheGuardActs: when the tool runs, the server's
// decision record is already on disk, and when the client sends, its decision
// and exchange records are (checked from the server's handler, which runs
// after the client sent).
func TestRecordsAreDurableBeforeTheGuardActs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := mcpguard.OpenAuditLog(path)
	require.NoError(t, err)
	defer log.Close()
	ts := newTokenSetup(t, []mcpguard.Option{mcpguard.WithAuditLog(log)}, []mcpguard.Option{mcpguard.WithAuditLog(log)})
	var onDisk []mcpguard.Record
	s := mcp.NewServer(&mcp.Implementation{Name: "files", Version: "v1"}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			recs, _, err := mcpguard.ReadAuditFile(path) // what a crash now would leave
			require.NoError(t, err)
			onDisk = recs
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	s.AddReceivingMiddleware(ts.server.ServerMiddleware())
	cs := connectInMemory(t, s, ts.client)
	_, err = cs.CallTool(ts.ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	require.NoError(t, err)
	var kinds []string
	for _, r := range onDisk {
		kinds = append(kinds, string(r.Side)+"/"+string(r.Kind))
	}
	require.Equal(t, []string{"client/decision", "client/exchange", "server/decision"}, kinds)
	all, _, err := mcpguard.ReadAuditFile(path)
	require.NoError(t, err)
	require.Len(t, all, 5, "and everything before the result returned")
}

// Reopening a log loads only the retained window of records, but every
// leaf: proofs still cover the whole file and the chain continues.
func TestAuditFileReopenKeepsWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	signer := newSigner(t)
	log, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(7))
	require.NoError(t, err)
	appendN(t, log, 50, "alice")
	require.NoError(t, log.Close())
	root50, err := log.Root(50)
	require.NoError(t, err)

	log, err = mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(7),
		mcpguard.WithRetainedRecords(10))
	require.NoError(t, err)
	require.Equal(t, 50, log.Len())
	recs := log.Records()
	require.LessOrEqual(t, len(recs), 10)
	require.Equal(t, "alice-49", recs[len(recs)-1].RequestID)
	got, err := log.Root(50)
	require.NoError(t, err)
	require.Equal(t, root50, got)
	proof, err := log.InclusionProof(3, 50)
	require.NoError(t, err)
	appendN(t, log, 5, "bob")
	require.NoError(t, log.Close())

	all, _, err := mcpguard.ReadAuditFile(path)
	require.NoError(t, err)
	require.Len(t, all, 55)
	require.NoError(t, mcpguard.VerifyInclusion(3, 50, all[3].Hash, proof, root50))
	rep, err := mcpguard.VerifyAuditFile(path, signer.VerifierKey(), nil)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.Greater(t, rep.Checkpoints, 7)
}

// Close seals the log and signs its final checkpoint at once: appends that
// race with it either land before the checkpoint or fail, never after it.
func TestAuditFileCloseRacingAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	signer := newSigner(t)
	log, err := mcpguard.OpenAuditLog(path, mcpguard.WithCheckpointSigner(signer), mcpguard.WithCheckpointEvery(0))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if _, err := log.Append(context.Background(), mcpguard.Record{Kind: mcpguard.KindDecision,
					RequestID: fmt.Sprintf("g%d-%d", g, i)}); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, log.Close())
	wg.Wait()
	rep, err := mcpguard.VerifyAuditFile(path, signer.VerifierKey(), nil)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.NotNil(t, rep.Latest)
	require.Equal(t, rep.Records, rep.Latest.Size, "the final checkpoint covers every record in the file")
	require.Error(t, log.Close(), "a second Close reports the closed file")
}
