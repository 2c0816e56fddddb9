package auditlog

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLineRingKeepsTheLastLinesInOrder(t *testing.T) {
	for _, tc := range []struct {
		max  uint64
		put  int
		want []string
	}{
		{max: 3, put: 7, want: []string{"l4", "l5", "l6"}},
		{max: 3, put: 3, want: []string{"l0", "l1", "l2"}},
		{max: 3, put: 6, want: []string{"l3", "l4", "l5"}},
		{max: 10, put: 4, want: []string{"l0", "l1", "l2", "l3"}},
		{max: 0, put: 4, want: nil},
	} {
		t.Run(fmt.Sprintf("max%d-put%d", tc.max, tc.put), func(t *testing.T) {
			r := lineRing{max: tc.max}
			buf := make([]byte, 0, 8)
			for i := range tc.put {
				// The caller's buffer is reused, as Scan reuses its own.
				buf = fmt.Appendf(buf[:0], "l%d", i)
				r.put(buf)
			}
			var got []string
			for _, l := range r.inOrder() {
				got = append(got, string(l))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBatchKeepsTheLatestTicket(t *testing.T) {
	ctx := WithBatch(context.Background())
	b, ok := BatchFrom(ctx)
	require.True(t, ok)
	b.Add(3)
	b.Add(1)
	require.EqualValues(t, 3, b.Ticket())
	_, ok = BatchFrom(context.Background())
	require.False(t, ok)
}
