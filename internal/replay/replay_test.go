package replay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(2)
	require.NoError(t, c.Use("a", now.Add(time.Minute), now))
	require.ErrorIs(t, c.Use("a", now.Add(time.Minute), now), ErrReplayed)
	require.NoError(t, c.Use("b", now.Add(2*time.Minute), now))
	require.ErrorIs(t, c.Use("c", now.Add(time.Minute), now), ErrFull, "full: refuse rather than forget")
	// After a's expiry its slot frees up; a itself could come back only
	// as an expired token, which the verifier refuses before this point.
	later := now.Add(61 * time.Second)
	require.NoError(t, c.Use("c", later.Add(time.Minute), later))
	require.Equal(t, 2, c.Len())
	require.ErrorIs(t, c.Use("b", later.Add(time.Minute), later), ErrReplayed)
}
