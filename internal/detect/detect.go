// Package detect holds the built-in response detectors: credentials, personal
// data and prompt-injection markers. Each rule has literal keywords; a rule's
// regular expression only runs on text that contains one of them, so clean
// text costs a few substring searches.
package detect

import (
	"regexp"
	"strings"
)

// Match is one detected span.
type Match struct {
	Kind       string
	Rule       string
	Start, End int
	Confidence float64
}

type rule struct {
	kind, id   string
	keywords   []string // any one must occur (case-sensitive) for re to run
	re         *regexp.Regexp
	group      int // submatch holding the sensitive part; 0 = whole match
	confidence float64
	reject     func(s string) bool // true for a known non-secret (placeholder, test value)
}

var rules = []rule{
	{
		kind: "secret", id: "aws-access-key", keywords: []string{"AKIA", "ASIA"},
		re:         regexp.MustCompile(`\b((?:AKIA|ASIA)[0-9A-Z]{16})\b`),
		group:      1,
		confidence: 0.95,
		reject:     func(s string) bool { return strings.HasSuffix(s, "EXAMPLE") },
	},
	{
		kind: "secret", id: "github-token", keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re:         regexp.MustCompile(`\b((?:gh[pousr]_[A-Za-z0-9]{36,255})|(?:github_pat_[A-Za-z0-9_]{22,255}))\b`),
		group:      1,
		confidence: 0.95,
	},
	{
		kind: "secret", id: "private-key", keywords: []string{"PRIVATE KEY-----"},
		re:         regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----`),
		confidence: 0.99,
	},
}

// Scan returns the matches of every built-in rule in s, in rule order.
func Scan(s string) []Match {
	var out []Match
	for i := range rules {
		r := &rules[i]
		if !containsAny(s, r.keywords) {
			continue
		}
		for _, loc := range r.re.FindAllStringSubmatchIndex(s, -1) {
			start, end := loc[2*r.group], loc[2*r.group+1]
			if start < 0 {
				continue
			}
			if r.reject != nil && r.reject(s[start:end]) {
				continue
			}
			out = append(out, Match{Kind: r.kind, Rule: r.id, Start: start, End: end, Confidence: r.confidence})
		}
	}
	return out
}

func containsAny(s string, keywords []string) bool {
	for _, k := range keywords {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}
