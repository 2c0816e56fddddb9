package mcpguard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

func filledLog(t *testing.T, n int) *mcpguard.AuditLog {
	t.Helper()
	log := mcpguard.NewAuditLog()
	for i := range n {
		_, err := log.Append(context.Background(), mcpguard.Record{
			Time: time.Unix(int64(i), 0).UTC(), Kind: mcpguard.KindDecision, User: fmt.Sprintf("u%d", i%3),
			Tool: "t", RequestID: fmt.Sprintf("req-%d", i), Outcome: "allow",
		})
		require.NoError(t, err)
	}
	return log
}

func TestAuditChainDetectsTampering(t *testing.T) {
	recs := filledLog(t, 6).Records()
	require.NoError(t, mcpguard.VerifyRecords(recs))

	for _, tc := range []struct {
		name   string
		mutate func([]mcpguard.Record) []mcpguard.Record
		index  int
	}{
		{"edited-field", func(r []mcpguard.Record) []mcpguard.Record { r[3].Outcome = "deny"; return r }, 3},
		{"deleted", func(r []mcpguard.Record) []mcpguard.Record { return append(r[:2], r[3:]...) }, 2},
		{"reordered", func(r []mcpguard.Record) []mcpguard.Record { r[1], r[2] = r[2], r[1]; return r }, 1},
		{"rehashed-edit", func(r []mcpguard.Record) []mcpguard.Record {
			// An attacker who recomputes the edited record's hash still
			// breaks the next record's link.
			r[4].User = "mallory"
			fixed := mcpguard.NewAuditLog()
			rec, _ := fixed.Append(context.Background(), r[4])
			r[4].Hash = rec.Hash
			return r
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.mutate(append([]mcpguard.Record(nil), recs...))
			err := mcpguard.VerifyRecords(bad)
			var ce *mcpguard.ChainError
			require.True(t, errors.As(err, &ce), "err = %v", err)
			require.Equal(t, tc.index, ce.Index)
		})
	}
}

func TestAuditQueryAndConcurrentAppends(t *testing.T) {
	log := mcpguard.NewAuditLog()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				_, err := log.Append(context.Background(), mcpguard.Record{Kind: mcpguard.KindExecution,
					User: fmt.Sprintf("u%d", g), RequestID: fmt.Sprintf("r-%d-%d", g, i)})
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 800, log.Len())
	require.NoError(t, log.Verify())
	require.Len(t, log.Query(mcpguard.AuditQuery{User: "u3"}), 50)
	require.Len(t, log.Trace("r-3-7"), 1)
	require.Empty(t, log.Trace(""))

	tl := filledLog(t, 10)
	require.Len(t, tl.Query(mcpguard.AuditQuery{Since: time.Unix(3, 0), Until: time.Unix(6, 0)}), 3)
	require.Len(t, tl.Query(mcpguard.AuditQuery{Kind: mcpguard.KindExchange}), 0)
}
