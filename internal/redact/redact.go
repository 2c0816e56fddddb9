// Package redact applies actions to spans of a text: it merges overlapping
// spans, lets the strongest action of each merged run win, and rewrites only
// the bytes inside the spans.
package redact

import (
	"slices"
	"strings"
)

// Op is what to do with a span. Higher values are stronger.
type Op int

// The operations, weakest first.
const (
	Keep    Op = iota // leave the text (flag or allow)
	Strip             // remove the span
	Replace           // replace the span with the placeholder
	Block             // leave the text, but report the whole text blocked
)

// Span is a byte range [Start, End) of the text with its operation.
type Span struct {
	Start, End  int
	Op          Op
	Placeholder string // for Replace
}

// Result is the rewritten text.
type Result struct {
	Text    string
	Changed bool
	Blocked bool
}

// Apply rewrites text according to spans, which must lie within text. The
// spans slice is reordered.
func Apply(text string, spans []Span) Result {
	res := Result{Text: text}
	if len(spans) == 0 {
		return res
	}
	slices.SortStableFunc(spans, func(a, b Span) int { return a.Start - b.Start })
	var b strings.Builder
	pos := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].Start, spans[i].End
		strongest := spans[i]
		j := i
		for ; j < len(spans) && (j == i || spans[j].Start < end); j++ {
			end = max(end, spans[j].End)
			if spans[j].Op > strongest.Op {
				strongest = spans[j]
			}
		}
		i = j
		b.WriteString(text[pos:start])
		switch strongest.Op {
		case Block:
			res.Blocked = true
			b.WriteString(text[start:end])
		case Replace:
			b.WriteString(strongest.Placeholder)
			res.Changed = true
		case Strip:
			res.Changed = res.Changed || end > start
		default:
			b.WriteString(text[start:end])
		}
		pos = end
	}
	if res.Changed {
		b.WriteString(text[pos:])
		res.Text = b.String()
	}
	return res
}
