package mcpguard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/auditfile"
)

// benchRecord is a typical inspection record (about 330 bytes encoded).
func benchRecord(i int) mcpguard.Record {
	return mcpguard.Record{Time: time.Unix(1_764_000_000, int64(i)).UTC(), Kind: mcpguard.KindInspection, Side: mcpguard.SideClient,
		User: "alice@acme.example", Tenant: "acme", Session: "sess-42", Server: "files", Method: "tools/call", Tool: "read_file",
		RequestID: "0123456789abcdef0123456789abcdef", Outcome: "clean", TokenID: "fedcba9876543210fedcba9876543210",
		ArgsHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
}

// BenchmarkAuditAppend measures appends per second: in memory, and to a
// file with group commit (every append waits until it is fsynced) from many
// concurrent callers, as a busy guard would.
func BenchmarkAuditAppend(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		log := mcpguard.NewAuditLog(mcpguard.WithRetainedRecords(1024))
		ctx := context.Background()
		r := benchRecord(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := log.Append(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
	type fileCase struct {
		name    string
		writers int
		sync    time.Duration
	}
	cases := []fileCase{{"file-durable-1writers", 1, 0}, {"file-durable-64writers", 64, 0}, {"file-durable-256writers", 256, 0},
		{"file-sync-10ms-1writers", 1, 10 * time.Millisecond}}
	for _, fc := range cases {
		writers := fc.writers
		b.Run(fc.name, func(b *testing.B) {
			log, err := mcpguard.OpenAuditLog(filepath.Join(b.TempDir(), "audit.log"), mcpguard.WithRetainedRecords(1024),
				mcpguard.WithSyncInterval(fc.sync))
			require.NoError(b, err)
			defer log.Close()
			r := benchRecord(0)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / writers
			for w := range writers {
				n := per
				if w == 0 {
					n += b.N % writers
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if _, err := log.Append(context.Background(), r); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// writeBenchLog writes n sealed records straight to a file, as the log
// would, without fsyncing each one.
func writeBenchLog(b *testing.B, n int) string {
	path := filepath.Join(b.TempDir(), fmt.Sprintf("audit-%d.log", n))
	f, err := os.Create(path)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	prev := ""
	for i := range n {
		r := benchRecord(i)
		r.Seq, r.Prev = uint64(i), prev
		enc, err := json.Marshal(&r)
		require.NoError(b, err)
		line, leaf, err := auditfile.SealLine(enc)
		require.NoError(b, err)
		prev = fmt.Sprintf("%x", leaf)
		_, _ = w.Write(line)
		_ = w.WriteByte('\n')
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	return path
}

// BenchmarkAuditVerify measures verifying a whole log file (every hash,
// link and the Merkle root).
func BenchmarkAuditVerify(b *testing.B) {
	for _, n := range auditScaleSizes(b) {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			path := writeBenchLog(b, n)
			b.ResetTimer()
			for b.Loop() {
				rep, err := mcpguard.VerifyAuditFile(path, "", nil)
				if err != nil || rep.Problem != nil || rep.Records != uint64(n) {
					b.Fatal(err, rep.Problem)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// auditScaleSizes are the log sizes of the scaling benchmarks; the 10M
// size (a 4 GB file, minutes per run) only with MCPGUARD_AUDIT_SCALE=10m.
func auditScaleSizes(b *testing.B) []int {
	sizes := []int{1000, 100_000, 1_000_000}
	if os.Getenv("MCPGUARD_AUDIT_SCALE") == "10m" {
		sizes = append(sizes, 10_000_000)
	}
	if testing.Short() {
		sizes = sizes[:1]
	}
	return sizes
}

// BenchmarkAuditOpen measures OpenAuditLog on an existing file: the whole
// file is verified (every hash and link) before the log may grow, and the
// retained window of recent records is loaded for queries.
func BenchmarkAuditOpen(b *testing.B) {
	for _, n := range auditScaleSizes(b) {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			path := writeBenchLog(b, n)
			b.ResetTimer()
			for b.Loop() {
				log, err := mcpguard.OpenAuditLog(path)
				if err != nil {
					b.Fatal(err)
				}
				if log.Len() != n {
					b.Fatalf("opened %d records, want %d", log.Len(), n)
				}
				b.StopTimer()
				require.NoError(b, log.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAuditAppendAtSize measures one append to a log that already
// holds n records: the Merkle compact range makes it independent of n.
func BenchmarkAuditAppendAtSize(b *testing.B) {
	for _, n := range auditScaleSizes(b) {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			log := mcpguard.NewAuditLog(mcpguard.WithRetainedRecords(1024), mcpguard.WithCheckpointEvery(0))
			ctx := context.Background()
			for i := range n {
				if _, err := log.Append(ctx, benchRecord(i)); err != nil {
					b.Fatal(err)
				}
			}
			r := benchRecord(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := log.Append(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
