package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		spans []Span
		want  Result
	}{
		{"none", "abc", nil, Result{Text: "abc"}},
		{"replace", "key=SECRET!", []Span{{4, 10, Replace, "[X]"}}, Result{Text: "key=[X]!", Changed: true}},
		{"strip", "a\u200bb", []Span{{1, 4, Strip, ""}}, Result{Text: "ab", Changed: true}},
		{"keep", "hello", []Span{{0, 5, Keep, ""}}, Result{Text: "hello"}},
		{"block", "hello", []Span{{0, 2, Block, ""}, {3, 4, Replace, "[X]"}}, Result{Text: "hel[X]o", Changed: true, Blocked: true}},
		{"overlap-strongest-wins", "0123456789", []Span{{2, 6, Keep, ""}, {4, 8, Replace, "[R]"}}, Result{Text: "01[R]89", Changed: true}},
		{"unsorted", "aXbYc", []Span{{3, 4, Replace, "y"}, {1, 2, Replace, "x"}}, Result{Text: "axbyc", Changed: true}},
		{"nested", "0123456789", []Span{{1, 9, Replace, "[A]"}, {3, 4, Strip, ""}}, Result{Text: "0[A]9", Changed: true}},
		{"adjacent", "abcd", []Span{{0, 2, Replace, "1"}, {2, 4, Replace, "2"}}, Result{Text: "12", Changed: true}},
		{"empty-strip", "abc", []Span{{1, 1, Strip, ""}}, Result{Text: "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Apply(tc.text, tc.spans))
		})
	}
}
