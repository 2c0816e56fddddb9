// Package hookwriter wraps an http.ResponseWriter so that a hook runs once,
// after the handler has set its response headers and before any of them is
// sent. If the hook fails, the handler's response is replaced by a 503.
package hookwriter

import (
	"errors"
	"net/http"
)

// ErrRefused is returned by Write after the hook refused the response.
var ErrRefused = errors.New("hookwriter: response refused")

// Writer is the wrapping ResponseWriter.
type Writer struct {
	http.ResponseWriter
	// Before runs once before the header is written; its error's text
	// becomes the body of the 503 sent instead.
	Before func(h http.Header) error

	status  int
	refused bool
}

// New wraps w.
func New(w http.ResponseWriter, before func(http.Header) error) *Writer {
	return &Writer{ResponseWriter: w, Before: before}
}

// Status is the status code sent, or 0 if nothing was sent yet.
func (w *Writer) Status() int { return w.status }

// WriteHeader runs the hook, then writes the header.
func (w *Writer) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.Before != nil {
		if err := w.Before(w.Header()); err != nil {
			w.refused, w.status = true, http.StatusServiceUnavailable
			h := w.Header()
			for k := range h {
				delete(h, k)
			}
			http.Error(w.ResponseWriter, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes the header first if needed.
func (w *Writer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.refused {
		return 0, ErrRefused
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed responses (SSE) through; http.ResponseController
// finds it before unwrapping, so the hook still runs first.
func (w *Writer) Flush() {
	w.WriteHeader(http.StatusOK)
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.refused {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
