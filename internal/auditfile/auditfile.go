// Package auditfile stores audit lines in an append-only file. Appends are
// group-committed: concurrent writers share one write and one fsync, and a
// writer is released only once its line is durable. On open, a torn last
// line (a crash in the middle of a write) is cut off; nothing that was
// acknowledged can be in it.
//
// With a sync interval, a writer is released once its line is written to
// the file (the kernel holds it: it survives a crash of this process) and a
// background flusher fsyncs at most one interval later; an operating-system
// crash can then lose the last interval's lines. A failed fsync poisons the
// writer: every later Enqueue and Wait fails.
package auditfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// MaxLine bounds one line.
const MaxLine = 1 << 20

// Errors.
var (
	ErrTimeout  = errors.New("auditfile: commit timed out")
	ErrBacklog  = errors.New("auditfile: too many bytes waiting for the disk")
	ErrClosed   = errors.New("auditfile: closed")
	ErrLineSize = errors.New("auditfile: line too long")
)

// Scan calls fn for every complete line of the file at path, in order, and
// returns the length of the complete part and whether a torn (unterminated)
// last line followed it.
func Scan(path string, fn func(line []byte) error) (complete int64, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			var long []byte
			long = append(long, line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if len(long) > MaxLine {
					return complete, false, ErrLineSize
				}
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			return complete, len(line) > 0, nil
		}
		if err != nil {
			return complete, false, err
		}
		if ferr := fn(bytes.TrimSuffix(line, []byte{'\n'})); ferr != nil {
			return complete, false, ferr
		}
		complete += int64(len(line))
	}
}

// Writer appends lines with group commit.
type Writer struct {
	f          *os.File
	maxBacklog int

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []byte
	spare    []byte
	enqueued uint64 // tickets handed out
	durable  uint64 // tickets released: written, and synced unless interval > 0
	flushing bool
	err      error

	interval time.Duration // 0: fsync before releasing anyone
	unsynced bool          // written since the last fsync
	stop     chan struct{} // closes the background flusher
	stopped  chan struct{}
	stopOnce sync.Once
}

// Open opens path for appending, first cutting it to size bytes (the
// complete part reported by Scan); maxBacklog bounds the bytes waiting for
// the disk. syncInterval 0 fsyncs before releasing a writer; above 0 it is
// the longest a written line waits for its fsync.
func Open(path string, size int64, maxBacklog int, syncInterval time.Duration) (*Writer, error) {
	if syncInterval < 0 {
		return nil, errors.New("auditfile: negative sync interval")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != size {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("auditfile: cutting torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	w := &Writer{f: f, maxBacklog: maxBacklog, interval: syncInterval}
	w.cond = sync.NewCond(&w.mu)
	if syncInterval > 0 {
		w.stop, w.stopped = make(chan struct{}), make(chan struct{})
		go w.syncLoop()
	}
	return w, nil
}

// syncLoop fsyncs written lines every interval until Close.
func (w *Writer) syncLoop() {
	defer close(w.stopped)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.syncWritten()
		}
	}
}

// syncWritten fsyncs what was written since the last fsync. A failure
// poisons the writer: the kernel may have dropped the unsynced pages, so
// nothing later may be acknowledged as if the log were intact.
func (w *Writer) syncWritten() error {
	w.mu.Lock()
	if !w.unsynced || w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.unsynced = false
	w.mu.Unlock()
	if err := w.f.Sync(); err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = fmt.Errorf("auditfile: background fsync: %w", err)
		}
		w.cond.Broadcast()
		err = w.err
		w.mu.Unlock()
		return err
	}
	return nil
}

// Enqueue adds a line (without its newline) and returns its ticket. The
// line is durable once Wait(ticket) returns nil. Enqueue order is file
// order.
func (w *Writer) Enqueue(line []byte) (uint64, error) {
	if len(line) > MaxLine {
		return 0, ErrLineSize
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if len(w.pending)+len(line) > w.maxBacklog {
		return 0, ErrBacklog
	}
	w.pending = append(w.pending, line...)
	w.pending = append(w.pending, '\n')
	w.enqueued++
	return w.enqueued, nil
}

// Wait blocks until the line of ticket is on disk, the writer failed, or
// timeout passed. Whoever finds no flush running becomes the leader and
// writes and syncs everything pending; the others wait for it.
func (w *Writer) Wait(ticket uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.durable < ticket {
		if w.err != nil {
			return w.err
		}
		if !w.flushing {
			w.flushing = true
			buf, upto := w.pending, w.enqueued
			w.pending, w.spare = w.spare[:0], nil
			w.mu.Unlock()
			_, err := w.f.Write(buf)
			if err == nil && w.interval == 0 {
				err = w.f.Sync()
			}
			w.mu.Lock()
			w.flushing = false
			w.spare = buf[:0]
			if err != nil {
				if w.err == nil {
					w.err = fmt.Errorf("auditfile: %w", err)
				}
			} else {
				w.durable = upto
				w.unsynced = w.unsynced || w.interval > 0
			}
			w.cond.Broadcast()
			continue
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		waitWithDeadline(w.cond, deadline)
	}
	return nil
}

// waitWithDeadline waits on c, waking up by the deadline at the latest.
func waitWithDeadline(c *sync.Cond, deadline time.Time) {
	t := time.AfterFunc(time.Until(deadline), func() {
		c.L.Lock()
		c.Broadcast()
		c.L.Unlock()
	})
	c.Wait()
	t.Stop()
}

// Close flushes what is pending, fsyncs it and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	t := w.enqueued
	w.mu.Unlock()
	err := w.Wait(t, time.Minute)
	if w.stop != nil {
		w.stopOnce.Do(func() {
			close(w.stop)
			<-w.stopped
		})
		if serr := w.syncWritten(); err == nil {
			err = serr
		}
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = ErrClosed
	}
	w.mu.Unlock()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
