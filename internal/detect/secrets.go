package detect

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"
)

// placeholder reports documentation stand-ins that are not secrets:
// masked or repeated characters, ${VAR} and <...> references, and words
// such as "example" or "changeme".
func placeholder(v string) bool {
	l := strings.ToLower(v)
	switch {
	case v == "":
		return true
	case strings.Contains(v, "${") || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "<") || strings.HasPrefix(v, "{{") || strings.HasPrefix(v, "%"):
		return true
	case strings.Contains(l, "xxxx") || strings.Contains(v, "****") || strings.Contains(v, "...") || strings.Contains(v, "•••"):
		return true
	}
	for _, w := range []string{"example", "placeholder", "changeme", "your_", "your-", "yourkey", "dummy", "redacted", "sample", "fake", "test1234", "password", "secret", "replace"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	// One character repeated (aaaaaaaa, 00000000).
	return strings.Count(v, v[:1]) == len(v)
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

var (
	hexOnly = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	uuidRe  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// looksRandom accepts values that look generated: long enough, high
// entropy, letters and digits mixed, and neither a digest nor a UUID.
func looksRandom(v string) bool {
	if len(v) < 12 || placeholder(v) || hexOnly.MatchString(v) || uuidRe.MatchString(v) {
		return false
	}
	var lower, upper, digit bool
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit} {
		if b {
			classes++
		}
	}
	return classes >= 2 && entropy(v) >= 3.2
}

func sub(s string, m []int, g int) string { return s[m[2*g]:m[2*g+1]] }

// notPlaceholder rejects matches whose group g is a placeholder.
func notPlaceholder(g int) func(s string, m []int) bool {
	return func(s string, m []int) bool { return !placeholder(sub(s, m, g)) }
}

// isJWT checks that a three-segment token's header decodes to a JSON object
// with an "alg".
func isJWT(s string, m []int) bool {
	tok := sub(s, m, 0)
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	var hdr map[string]any
	if json.Unmarshal(raw, &hdr) != nil {
		return false
	}
	_, ok := hdr["alg"]
	return ok
}

func secretRules() []*rule {
	return []*rule{
		{kind: "secret", id: "aws-access-key", keywords: []string{"AKIA", "ASIA", "ABIA", "ACCA"},
			re: regexp.MustCompile(`\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`), group: 1, before: 4, after: 20, confidence: 0.95,
			valid: func(s string, m []int) bool { return !strings.HasSuffix(sub(s, m, 1), "EXAMPLE") }},
		{kind: "secret", id: "aws-secret-key", keywords: []string{"secret_access_key", "secretaccesskey", "aws_secret"}, confidence: 0.9,
			anchored: func(s string, end int) (int, int, bool) {
				a, b, ok := assignment(s, end, true, base64Char, 40, 40)
				return a, b, ok && !placeholder(s[a:b]) && !strings.Contains(s[a:b], "EXAMPLEKEY")
			}},
		{kind: "secret", id: "gcp-api-key", keywords: []string{"AIza"},
			re: regexp.MustCompile(`\b(AIza[0-9A-Za-z_-]{35})\b`), group: 1, confidence: 0.9, valid: notPlaceholder(1)},
		{kind: "secret", id: "azure-storage-key", keywords: []string{"AccountKey="},
			re: regexp.MustCompile(`AccountKey=([A-Za-z0-9+/]{86}==)`), group: 1, confidence: 0.95},
		{kind: "secret", id: "azure-sas-signature", keywords: []string{"sig="},
			re:    regexp.MustCompile(`[?&]sig=([A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})`),
			group: 1, confidence: 0.8, valid: notPlaceholder(1)},
		{kind: "secret", id: "azure-client-secret", keywords: []string{"Q~"},
			re: regexp.MustCompile(`\b([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})\b`), group: 1, confidence: 0.85},
		{kind: "secret", id: "github-token", keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
			re:    regexp.MustCompile(`\b((?:gh[pousr]_[A-Za-z0-9]{36,255})|(?:github_pat_[A-Za-z0-9_]{82}))\b`),
			group: 1, confidence: 0.95},
		{kind: "secret", id: "gitlab-token", keywords: []string{"glpat-", "glptt-", "gldt-", "glrt-"},
			re: regexp.MustCompile(`\b((?:glpat|glptt|gldt|glrt)-[0-9A-Za-z_-]{20,})\b`), group: 1, confidence: 0.95},
		{kind: "secret", id: "slack-token", keywords: []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"},
			re: regexp.MustCompile(`\b((?:xox[abprs]|xapp)-[0-9A-Za-z-]{10,})\b`), group: 1, confidence: 0.9, valid: notPlaceholder(1)},
		{kind: "secret", id: "slack-webhook", keywords: []string{"hooks.slack.com"},
			// Only the token segment is redacted; the URL's shape stays.
			re: regexp.MustCompile(`hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/([A-Za-z0-9]{20,})`), group: 1, confidence: 0.95},
		{kind: "secret", id: "stripe-secret-key", keywords: []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_"},
			re: regexp.MustCompile(`\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99})\b`), group: 1, confidence: 0.95, valid: notPlaceholder(1)},
		{kind: "secret", id: "openai-api-key", keywords: []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ"},
			re:    regexp.MustCompile(`\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})\b`),
			group: 1, confidence: 0.95},
		{kind: "secret", id: "anthropic-api-key", keywords: []string{"sk-ant-"},
			re: regexp.MustCompile(`\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{80,})\b`), group: 1, confidence: 0.95},
		{kind: "secret", id: "twilio-api-key", keywords: []string{"SK"}, exact: true,
			re:    regexp.MustCompile(`\b(SK[0-9a-f]{32})\b`),
			group: 1, confidence: 0.7},
		{kind: "secret", id: "sendgrid-api-key", keywords: []string{"SG."},
			re: regexp.MustCompile(`\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})\b`), group: 1, confidence: 0.95},
		{kind: "secret", id: "npm-token", keywords: []string{"npm_"},
			re: regexp.MustCompile(`\b(npm_[A-Za-z0-9]{36})\b`), group: 1, confidence: 0.9},
		{kind: "secret", id: "private-key", keywords: []string{"PRIVATE KEY"},
			// The whole block: a partial key is still a key.
			re:         regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`),
			confidence: 0.99},
		{kind: "secret", id: "jwt", keywords: []string{"eyJ"},
			re:         regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`),
			confidence: 0.9, valid: isJWT},
		{kind: "secret", id: "url-password", keywords: []string{"://"},
			// scheme://user:PASSWORD@host — only the password.
			re:    regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'"]+:([^\s@/'"]+)@[^\s/'"]+`),
			group: 1, confidence: 0.9, valid: notPlaceholder(1)},
		{kind: "secret", id: "connection-string-password", keywords: []string{"password", "pwd"}, confidence: 0.85,
			// Password=…; in connection strings, "password": "…" in JSON.
			anchored: func(s string, end int) (int, int, bool) {
				a, b, ok := assignment(s, end, false, passwordChar, 4, 200)
				return a, b, ok && !placeholder(s[a:b])
			}},
		{kind: "secret", id: "generic-secret", keywords: []string{"key", "secret", "token", "passwd", "credential"}, confidence: 0.6,
			anchored: func(s string, end int) (int, int, bool) {
				a, b, ok := assignment(s, end, true, tokenChar, 12, 200)
				return a, b, ok && looksRandom(s[a:b])
			}},
	}
}

func base64Char(c byte) bool { return isWord(c) && c != '_' || c == '/' || c == '+' || c == '=' }

func tokenChar(c byte) bool {
	return isWord(c) || c == '+' || c == '/' || c == '.' || c == '~' || c == '=' || c == '-'
}

func passwordChar(c byte) bool {
	return c > ' ' && c != ';' && c != '\'' && c != '"' && c != ',' && c != '`' && c < 0x7f
}

// assignment matches, right after a keyword ending at end, the rest of an
// identifier, an optional closing quote, ':' or '=', and a value of
// valueChar characters (minLen..maxLen long, not followed by another). A
// ':' is accepted only when colon is set or the value is quoted, so prose
// ("password: must be long") does not count.
func assignment(s string, end int, colon bool, valueChar func(byte) bool, minLen, maxLen int) (int, int, bool) {
	i := end
	for k := 0; i < len(s) && k < 40 && (isWord(s[i]) || s[i] == '-' || s[i] == '.'); k++ {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		i++
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) || (s[i] != '=' && s[i] != ':') {
		return 0, 0, false
	}
	sep := s[i]
	i++
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	quoted := i < len(s) && (s[i] == '"' || s[i] == '\'' || s[i] == '`')
	if quoted {
		i++
	}
	if sep == ':' && !colon && !quoted {
		return 0, 0, false
	}
	start := i
	for i < len(s) && i-start <= maxLen && valueChar(s[i]) {
		i++
	}
	if n := i - start; n < minLen || n > maxLen {
		return 0, 0, false
	}
	return start, i, true
}
