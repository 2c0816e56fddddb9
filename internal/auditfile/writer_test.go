package auditfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	var got []string
	_, torn, err := Scan(path, func(line []byte) error { got = append(got, string(line)); return nil })
	require.NoError(t, err)
	require.False(t, torn)
	return got
}

func TestWriterModes(t *testing.T) {
	for _, interval := range []time.Duration{0, 5 * time.Millisecond, time.Hour} {
		t.Run(interval.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			w, err := Open(path, 0, 1<<20, interval)
			require.NoError(t, err)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						ticket, err := w.Enqueue(fmt.Appendf(nil, "g%d-%d", g, i))
						assert.NoError(t, err)
						assert.NoError(t, w.Wait(ticket, time.Minute))
					}
				}()
			}
			wg.Wait()
			// Released lines are in the file before any fsync: another
			// reader (or the same file after this process dies) sees them.
			require.Len(t, readLines(t, path), 200)
			require.NoError(t, w.Close())
			require.Len(t, readLines(t, path), 200)
			_, err = w.Enqueue([]byte("late"))
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}

func TestWriterIntervalSyncs(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "log"), 0, 1<<20, time.Millisecond)
	require.NoError(t, err)
	defer w.Close()
	ticket, err := w.Enqueue([]byte("a"))
	require.NoError(t, err)
	require.NoError(t, w.Wait(ticket, time.Minute))
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.unsynced
	}, 10*time.Second, time.Millisecond, "the flusher fsyncs what was written")
}

// A failed background fsync must not go unnoticed: the writer is poisoned
// and every later append fails.
func TestWriterBackgroundSyncFailurePoisons(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "log"), 0, 1<<20, time.Millisecond)
	require.NoError(t, err)
	w.mu.Lock()
	w.unsynced = true
	require.NoError(t, w.f.Close()) // every later fsync fails
	w.mu.Unlock()
	require.Eventually(t, func() bool {
		_, err := w.Enqueue([]byte("x"))
		return err != nil
	}, 10*time.Second, time.Millisecond)
	_, err = w.Enqueue([]byte("x"))
	require.ErrorContains(t, err, "background fsync")
	require.Error(t, w.Wait(1, time.Second))
	require.Error(t, w.Close())
}

func TestOpenRejectsNegativeInterval(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "log"), 0, 1<<20, -time.Second)
	require.Error(t, err)
}

func TestOpenCutsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.WriteFile(path, []byte("one\ntw"), 0o600))
	size, torn, err := Scan(path, func([]byte) error { return nil })
	require.NoError(t, err)
	require.True(t, torn)
	w, err := Open(path, size, 1<<20, 0)
	require.NoError(t, err)
	ticket, err := w.Enqueue([]byte("two"))
	require.NoError(t, err)
	require.NoError(t, w.Wait(ticket, time.Minute))
	require.NoError(t, w.Close())
	require.Equal(t, []string{"one", "two"}, readLines(t, path))
}

// A full backlog refuses new lines at once (the guard then refuses the
// call) instead of queueing without bound; once the disk catches up,
// appends succeed again.
func TestWriterBacklogFull(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "log"), 0, 16, 0)
	require.NoError(t, err)
	defer w.Close()
	first, err := w.Enqueue([]byte("0123456789"))
	require.NoError(t, err)
	_, err = w.Enqueue([]byte("0123456789"))
	require.ErrorIs(t, err, ErrBacklog)
	require.NoError(t, w.Wait(first, time.Minute))
	_, err = w.Enqueue([]byte("0123456789"))
	require.NoError(t, err)
	_, err = w.Enqueue(make([]byte, MaxLine+1))
	require.ErrorIs(t, err, ErrLineSize)
}
