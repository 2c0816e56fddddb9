package detect

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// overrides are instruction-override phrases in several languages, each
// with the keywords that start it; one rule per language keeps each regular
// expression small and ASCII where it can be.
var overrides = []struct {
	keywords []string
	re       string
}{
	{[]string{"ignore", "disregard", "forget", "override", "bypass"}, `(?i)\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|your|every)\s+)*(?:previous|prior|above|earlier|preceding|initial|original|system)\s+(?:instructions?|prompts?|directions?|rules?|messages?|context)`},
	{[]string{"you are now"}, `(?i)\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak|admin|god)\s*mode`},
	{[]string{"new instruction", "new system instruction"}, `(?i)\bnew\s+(?:system\s+)?instructions?\s*:`},
	{[]string{"ignora las", "ignora todas"}, `(?i)\bignora\s+(?:todas\s+)?las\s+instrucciones\s+(?:anteriores|previas)`},
	{[]string{"ignore les", "ignorez", "ignore toutes"}, `(?i)\bignore[rz]?\s+(?:toutes\s+)?les\s+instructions\s+(?:pr[ée]c[ée]dentes|ant[ée]rieures)`},
	{[]string{"ignoriere"}, `(?i)\bignoriere\s+(?:alle\s+)?(?:vorherigen|bisherigen|obigen)\s+(?:anweisungen|instruktionen)`},
	{[]string{"ignore as instru"}, `(?i)\bignore\s+as\s+instru[çc][õo]es\s+anteriores`},
	{[]string{"ignora le", "ignora tutte"}, `(?i)\bignora\s+(?:tutte\s+)?le\s+istruzioni\s+precedenti`},
	{[]string{"игнорируй"}, `игнорируй(?:те)?\s+(?:все\s+)?предыдущие\s+инструкции`},
	{[]string{"忽略"}, `忽略(?:之前|以上|先前|前面)的?(?:所有)?(?:指令|指示|说明)`},
	{[]string{"指示を無視"}, `(?:以前|前)の指示を無視`},
}

// overrideRe matches any override phrase, for decoded payloads.
var overrideRe = func() *regexp.Regexp {
	var parts []string
	for _, o := range overrides {
		parts = append(parts, "(?:"+o.re+")")
	}
	return regexp.MustCompile(strings.Join(parts, "|"))
}()

// benignContext reports text around [start, end) that discusses an attack
// rather than mounting one: the phrase quoted, or named as an example of
// prompt injection.
func benignContext(s string, start, end int) bool {
	before := s[max(0, start-1):start]
	after := s[end:min(len(s), end+1)]
	if quote := `"'` + "`" + `“”‘’«»`; strings.ContainsAny(before, quote) || strings.ContainsAny(after, quote) {
		return true
	}
	lo, hi := max(0, start-120), min(len(s), end+120)
	for !utf8.RuneStart(s[lo]) {
		lo++
	}
	for hi < len(s) && !utf8.RuneStart(s[hi]) {
		hi++
	}
	around := strings.ToLower(s[lo:hi])
	for _, w := range []string{"prompt injection", "injection attack", "for example", "e.g.", "such as", "jailbreak attempt", "attackers", "phrases like"} {
		if strings.Contains(around, w) {
			return true
		}
	}
	return false
}

func notDiscussed(s string, m []int) bool { return !benignContext(s, m[0], m[1]) }

// decodesToInstructions decodes a base64 or percent-encoded run and looks
// for override phrases or role tokens in it.
func decodesToInstructions(encoded string) bool {
	var decoded string
	if strings.Contains(encoded, "%") {
		d, err := url.PathUnescape(encoded)
		if err != nil {
			return false
		}
		decoded = d
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(encoded); err == nil {
				decoded = string(b)
				break
			}
		}
	}
	if decoded == "" || !utf8.ValidString(decoded) {
		return false
	}
	return overrideRe.MatchString(decoded) || roleTokenRe.MatchString(decoded) || toolOrSecretRe.MatchString(decoded)
}

var (
	roleTokenRe = regexp.MustCompile(`<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|\[/?INST\]|<</?SYS>>|(?:^|\n)\s*(?:Human|Assistant|System)\s*:\s`)
	// toolOrSecretRe: orders to call tools or to read or send secrets.
	toolOrSecretRe = regexp.MustCompile(`(?i)\b(?:call|invoke|use|run|execute)\s+(?:the\s+)?[a-z0-9_.-]+\s+tool\s+(?:to|and|with)\b|\b(?:read|open|cat|print|output|send|include|upload|forward)\s+(?:the\s+)?(?:contents?\s+of\s+)?(?:~/\.ssh|\.ssh/|/etc/(?:passwd|shadow)|id_rsa|\.env\b|\.aws/credentials|api[_ ]?keys?|private\s+keys?|the\s+user'?s\s+(?:password|credentials|secrets?|tokens?))`)
)

// b64Keywords returns, for each word, the base64 text that encodes it at
// each of the three byte alignments (the characters that depend only on the
// word), so that the prefilter finds encoded payloads without decoding
// every base64 run.
func b64Keywords(words ...string) []string {
	var out []string
	for _, w := range words {
		for k := 0; k < 3; k++ {
			enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), w...))
			start := 0
			if k > 0 {
				start = 4
			}
			end := (k + len(w)) / 3 * 4
			if end-start >= 4 {
				out = append(out, enc[start:end])
			}
		}
	}
	return out
}

// trustedImageHosts never count as exfiltration targets.
var trustedImageHosts = []string{"githubusercontent.com", "github.com", "gitlab.com", "wikimedia.org", "shields.io"}

func exfilLink(s string, m []int) bool {
	u, err := url.Parse(sub(s, m, 1))
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, t := range trustedImageHosts {
		if host == t || strings.HasSuffix(host, "."+t) {
			return false
		}
	}
	// Data rides in the query or in long path segments.
	return len(u.RawQuery) >= 8 || strings.Contains(u.RawQuery, "{") || len(u.Path) >= 80
}

func injectionRules() []*rule {
	var rules []*rule
	for _, o := range overrides {
		rules = append(rules, &rule{kind: "injection", id: "instruction-override", keywords: o.keywords,
			re: regexp.MustCompile(o.re), before: 2, after: 100, valid: notDiscussed, confidence: 0.85})
	}
	return append(rules, []*rule{
		{kind: "injection", id: "role-token", keywords: []string{"<|", "[inst]", "[/inst]", "<<sys>>", "human:", "assistant:", "system:"},
			re: roleTokenRe, before: 8, after: 24, valid: notDiscussed, confidence: 0.8},
		{kind: "injection", id: "fake-system-tag",
			keywords: []string{"<system", "</system", "<tool_result", "</tool_result", "<function_results", "</function_results", "<instructions", "</instructions", "<important", "</important", "<assistant", "<admin"},
			re:       regexp.MustCompile(`(?i)</?\s*(?:system|tool_result|function_results|instructions|important|assistant|admin)(?:\s[^>]*)?>`),
			before:   4, after: 80, valid: notDiscussed, confidence: 0.75},
		{kind: "injection", id: "tool-or-secret-instruction",
			keywords: []string{" tool to", " tool and", " tool with", "contents of", "~/.ssh", ".ssh/", "/etc/passwd", "/etc/shadow", "id_rsa",
				".env", ".aws/credentials", "api key", "api_key", "private key", "'s password", "'s credentials", "'s secret", "'s token"},
			before: 80, after: 40,
			re: toolOrSecretRe, valid: notDiscussed, confidence: 0.7},
		{kind: "injection", id: "markdown-exfiltration", keywords: []string{"](http", "<img"},
			re:    regexp.MustCompile(`(?i)!\[[^\]]{0,200}\]\((https?://[^)\s]+)\)|<img\s[^>]*src=["']?(https?://[^"'\s>]+)`),
			group: 1, confidence: 0.8,
			valid: func(s string, m []int) bool {
				if m[2] < 0 { // the <img> form matched
					m = []int{m[0], m[1], m[4], m[5]}
				}
				return exfilLink(s, m)
			}},
		{kind: "injection", id: "encoded-instructions", keywords: append(b64Keywords("ignore", "Ignore", "IGNORE", "instruction", "Instruction", "system prompt"), "%20"),
			re:    regexp.MustCompile(`(?:[A-Za-z0-9+/]{24,}={0,2}|[A-Za-z0-9_-]{32,}|(?:%[0-9A-Fa-f]{2}[^\s%]{0,3}){10,})`),
			valid: func(s string, m []int) bool { return decodesToInstructions(sub(s, m, 0)) }, confidence: 0.8},
	}...)
}

// invisibleKeywords are the UTF-8 encodings of the characters invisible
// looks at (tag characters share the prefix F3 A0): the prefilter runs
// invisible only on text that has one.
var invisibleKeywords = []string{"\u200b", "\u200c", "\u200d", "\u2060", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
	"\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\xf3\xa0"}

// isEmoji reports pictographs and other symbols that ZWJ sequences join.
func isEmoji(r rune) bool {
	return r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r == 0xFE0F || r >= 0x1F3FB && r <= 0x1F3FF
}

// joinsScript reports letters for which ZWNJ/ZWJ are part of correct
// spelling (Arabic, Persian, Indic scripts).
func joinsScript(r rune) bool {
	return unicode.In(r, unicode.Arabic, unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati,
		unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala, unicode.Syriac)
}

// invisible finds characters that carry no legitimate meaning in tool
// output: tag characters outside emoji flag sequences, bidi overrides and
// isolates, and zero-width characters inside words. Emoji ZWJ sequences,
// ZWNJ in Persian or Indic text, RTL marks and a leading byte-order mark are
// left alone.
func invisible(s string) []Match {
	var out []Match
	prev := rune(-1)
	inFlag := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:]) // size 1 for invalid bytes
		next, _ := utf8.DecodeRuneInString(s[i+size:])
		add := func(id string) {
			if n := len(out); n > 0 && out[n-1].Rule == id && out[n-1].End == i {
				out[n-1].End = i + size // one finding per run
			} else {
				out = append(out, Match{Kind: "invisible", Rule: id, Start: i, End: i + size, Confidence: 0.95})
			}
		}
		switch {
		case r == 0x1F3F4: // waving black flag: subdivision flag sequences follow
			inFlag = true
		case r >= 0xE0000 && r <= 0xE007F:
			if !inFlag {
				add("unicode-tag")
			}
			if r == 0xE007F {
				inFlag = false
			}
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			add("bidi-control")
		case r == 0x200D:
			if !(isEmoji(prev) && isEmoji(next)) && !(joinsScript(prev) && joinsScript(next)) {
				add("zero-width")
			}
		case r == 0x200C:
			if !(joinsScript(prev) && joinsScript(next)) {
				add("zero-width")
			}
		case r == 0x200B, r == 0x2060:
			add("zero-width")
		case r == 0xFEFF:
			if i != 0 {
				add("zero-width")
			}
		default:
			inFlag = inFlag && r >= 0xE0000
		}
		prev = r
		i += size
	}
	return out
}
