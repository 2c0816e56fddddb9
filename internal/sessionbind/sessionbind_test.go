package sessionbind

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := New(2, time.Minute)
	require.ErrorIs(t, tb.Check("s1", "pinA", now), ErrUnknown)
	isNew, err := tb.Bind("s1", "pinA", now)
	require.NoError(t, err)
	require.True(t, isNew)
	isNew, err = tb.Bind("s1", "pinA", now)
	require.NoError(t, err)
	require.False(t, isNew)
	_, err = tb.Bind("s1", "pinB", now)
	require.ErrorIs(t, err, ErrMismatch)
	require.NoError(t, tb.Check("s1", "pinA", now))
	require.ErrorIs(t, tb.Check("s1", "pinB", now), ErrMismatch)

	_, err = tb.Bind("s2", "pinB", now)
	require.NoError(t, err)
	_, err = tb.Bind("s3", "pinC", now.Add(30*time.Second))
	require.ErrorIs(t, err, ErrFull, "no idle entry to drop: refuse, never forget a live binding")
	_, err = tb.Bind("s3", "pinC", now.Add(2*time.Minute))
	require.NoError(t, err, "idle entries make room")
	require.ErrorIs(t, tb.Check("s1", "pinA", now), ErrUnknown)
	tb.Forget("s3")
	require.Equal(t, 0, tb.Len())
}
