package floodgate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGate(t *testing.T) {
	g := New(2)
	t0 := time.Unix(100, 0)
	for i, want := range []bool{true, true, false, false, false} {
		ok, s := g.Admit(t0)
		require.Equal(t, want, ok, "event %d", i)
		require.Zero(t, s)
	}
	require.EqualValues(t, 3, g.Suppressed())
	ok, s := g.Admit(t0.Add(time.Second))
	require.True(t, ok)
	require.EqualValues(t, 3, s, "the next recorded event carries the count")
	require.Zero(t, g.Suppressed())
	require.Equal(t, 1, New(0).limit)
}
