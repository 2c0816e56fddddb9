// Package detect holds the built-in response detectors: credentials, personal
// data, invisible characters and prompt-injection markers.
//
// Speed comes from a prefilter: one pass of an Aho–Corasick automaton over
// the text (ASCII case folded) finds where rules' keywords occur, and where
// runs of digits are (for cards, phones, IBANs, SSNs). A rule's regular
// expression then runs only in small windows around its keywords, and
// keyword-anchored rules (key = value assignments) are matched by hand right
// after the keyword. Clean text costs one table-driven pass.
package detect

import (
	"regexp"
	"slices"
)

// Match is one detected span.
type Match struct {
	Kind       string
	Rule       string
	Start, End int
	Confidence float64
}

// Options turn optional rules on.
type Options struct {
	// IPAddresses reports public IP addresses as personal data.
	IPAddresses bool
}

// rule is one detector.
type rule struct {
	kind, id string
	// keywords trigger the rule (any one; ASCII case folded unless exact).
	keywords []string
	exact    bool
	// numeric rules are triggered by runs of digits instead.
	numeric  bool
	optional func(Options) bool
	// re runs in windows of before/after bytes around each trigger
	// (defaults 64 and 256).
	re            *regexp.Regexp
	before, after int
	// anchored, instead of re, matches right after a keyword occurrence
	// ending at end and returns the sensitive span.
	anchored func(s string, end int) (start, stop int, ok bool)
	// group is the submatch of re holding the sensitive part (0: all).
	group      int
	confidence float64
	// valid filters matches of re: false drops it (placeholders, test
	// values, failed checksums, benign context). s is the whole text and m
	// the submatch indexes into it.
	valid func(s string, m []int) bool
}

// Detector runs a set of rules.
type Detector struct {
	rules     []*rule
	ac        *automaton
	keywords  []string
	byKeyword [][]int // keyword index → rule indexes (invisibleRule for the invisible scan)
	numeric   []int
}

// invisibleRule marks the keywords that trigger the invisible-character
// scan.
const invisibleRule = -1

// New builds a detector over every built-in rule.
func New(opts Options) *Detector {
	d := &Detector{}
	for _, r := range slices.Concat(secretRules(), piiRules(), injectionRules()) {
		if r.optional != nil && !r.optional(opts) {
			continue
		}
		if r.before == 0 {
			r.before = 64
		}
		if r.after == 0 {
			r.after = 256
		}
		idx := len(d.rules)
		d.rules = append(d.rules, r)
		if r.numeric {
			d.numeric = append(d.numeric, idx)
		}
		for _, k := range r.keywords {
			d.keywords = append(d.keywords, k)
			d.byKeyword = append(d.byKeyword, []int{idx})
		}
	}
	for _, k := range invisibleKeywords {
		d.keywords = append(d.keywords, k)
		d.byKeyword = append(d.byKeyword, []int{invisibleRule})
	}
	d.ac = newAutomaton(d.keywords)
	return d
}

// minDigitRun is the shortest run of digits that triggers the numeric
// rules: a phone number has at least seven.
const minDigitRun = 7

// Scan returns every match in s.
func (d *Detector) Scan(s string) []Match {
	hits, runs := d.ac.scan(s, minDigitRun)
	if len(hits) == 0 && len(runs) == 0 {
		return nil
	}
	var out []Match
	windows := map[int][][2]int{}
	scanInvisible := false
	for _, h := range hits {
		kw := d.keywords[h.kw]
		for _, ri := range d.byKeyword[h.kw] {
			if ri == invisibleRule {
				scanInvisible = true
				continue
			}
			r := d.rules[ri]
			start := h.end - len(kw)
			if r.exact && s[start:h.end] != kw {
				continue
			}
			if r.anchored != nil {
				if a, b, ok := r.anchored(s, h.end); ok {
					out = append(out, Match{Kind: r.kind, Rule: r.id, Start: a, End: b, Confidence: r.confidence})
				}
				continue
			}
			windows[ri] = append(windows[ri], [2]int{start - r.before, h.end + r.after})
		}
	}
	for _, run := range runs {
		for _, ri := range d.numeric {
			r := d.rules[ri]
			windows[ri] = append(windows[ri], [2]int{run[0] - r.before, run[1] + r.after})
		}
	}
	for ri, ws := range windows {
		out = append(out, d.rules[ri].matchWindows(s, ws)...)
	}
	if scanInvisible {
		out = append(out, invisible(s)...)
	}
	// Findings are reported in text order.
	slices.SortStableFunc(out, func(a, b Match) int {
		switch {
		case a.Start != b.Start:
			return a.Start - b.Start
		case a.End != b.End:
			return a.End - b.End
		case a.Confidence > b.Confidence:
			return -1 // the more specific rule names the span
		case a.Confidence < b.Confidence:
			return 1
		}
		return 0
	})
	return dedupe(out)
}

// matchWindows runs the rule's regular expression in each window, in text
// order, skipping windows that start inside the previous match. Windows are
// small (a keyword and the longest span the rule can match around it), so
// dense text costs a few hundred bytes of regexp per finding, not a pass
// over the whole text per rule.
func (r *rule) matchWindows(s string, ws [][2]int) []Match {
	slices.SortFunc(ws, func(a, b [2]int) int { return a[0] - b[0] })
	var out []Match
	covered := -1 // windows ending before this were already searched
	for _, w := range ws {
		a, b := max(w[0], 0), min(w[1], len(s))
		if b <= covered {
			continue
		}
		a = max(a, covered)
		// Widen to word boundaries so \b means what it says at the edges.
		for k := 0; a > 0 && isWord(s[a-1]) && k < 64; k++ {
			a--
		}
		for k := 0; b < len(s) && isWord(s[b]) && k < 64; k++ {
			b++
		}
		covered = b
		for _, m := range r.re.FindAllStringSubmatchIndex(s[a:b], -1) {
			for k := range m {
				if m[k] >= 0 {
					m[k] += a
				}
			}
			start, end := m[2*r.group], m[2*r.group+1]
			if start < 0 || start == end {
				continue
			}
			if r.valid != nil && !r.valid(s, m) {
				continue
			}
			out = append(out, Match{Kind: r.kind, Rule: r.id, Start: start, End: end, Confidence: r.confidence})
		}
	}
	return out
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// dedupe keeps one finding per span and kind: the most specific rule's (a
// generic key=value rule and a vendor rule often find the same token).
func dedupe(ms []Match) []Match {
	out := ms[:0]
	for i, m := range ms {
		if i > 0 {
			p := ms[i-1]
			if m.Start == p.Start && m.End == p.End && m.Kind == p.Kind {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}
