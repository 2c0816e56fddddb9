package detect

import (
	"net/netip"
	"regexp"
	"strings"
)

// reservedDomain reports domains reserved for documentation and testing
// (RFC 2606, RFC 6761) and hosts whose addresses are service identities.
func reservedDomain(domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, r := range []string{"example.com", "example.org", "example.net", "example", "test", "invalid", "localhost", "local",
		"users.noreply.github.com"} {
		if d == r || strings.HasSuffix(d, "."+r) {
			return true
		}
	}
	return false
}

func localChar(c byte) bool {
	return isWord(c) || c == '.' || c == '%' || c == '+' || c == '-'
}

func domainChar(c byte) bool { return isWord(c) && c != '_' || c == '-' || c == '.' }

// email matches an address around the '@' that ends at end, by hand: the
// local part before it, the domain after it.
func email(s string, end int) (int, int, bool) {
	at := end - 1
	a := at
	for a > 0 && at-a < 64 && localChar(s[a-1]) {
		a--
	}
	for a < at && !isWord(s[a]) { // the local part starts with a letter or digit
		a++
	}
	b := end
	for b < len(s) && b-end < 255 && domainChar(s[b]) {
		b++
	}
	for b > end && (s[b-1] == '.' || s[b-1] == '-') { // trailing sentence dot
		b--
	}
	if a == at || b == end {
		return 0, 0, false
	}
	local, domain := s[a:at], s[end:b]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || len(domain)-dot-1 < 2 || strings.Contains(domain, "..") {
		return 0, 0, false
	}
	for _, c := range []byte(domain[dot+1:]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return 0, 0, false
		}
	}
	if a > 0 && s[a-1] == '@' || b < len(s) && s[b] == '@' {
		return 0, 0, false
	}
	if reservedDomain(domain) {
		return 0, 0, false
	}
	l, d := strings.ToLower(local), strings.ToLower(domain)
	// git@github.com and friends are SSH remotes, not people; name@2x.png is
	// an asset.
	if l == "git" || l == "noreply" || l == "no-reply" || l == "donotreply" ||
		strings.HasSuffix(d, ".png") || strings.HasSuffix(d, ".jpg") {
		return 0, 0, false
	}
	return a, b, true
}

// luhn checks the Luhn checksum of the digits of s.
func luhn(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func onlyDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// testCards are the card processors' published test numbers.
var testCards = map[string]bool{
	"4111111111111111": true, "4242424242424242": true, "4012888888881881": true, "4000056655665556": true,
	"5555555555554444": true, "5105105105105100": true, "2223003122003222": true, "5200828282828210": true,
	"378282246310005": true, "371449635398431": true, "378734493671000": true, "6011111111111117": true,
	"6011000990139424": true, "3056930009020004": true, "30569309025904": true, "38520000023237": true,
	"3566002020360505": true, "3530111333300000": true, "6200000000000005": true, "4000000000000002": true,
	"4000000000009995": true, "4000002500003155": true,
}

// cardBrand reports whether digits start like a card of a known brand with
// a fitting length.
func cardBrand(d string) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for i := 0; i < k && i < n; i++ {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19 // Visa
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return n == 16 // Mastercard
	case p(2) == 34 || p(2) == 37:
		return n == 15 // Amex
	case p(4) == 6011 || p(2) == 65 || (p(3) >= 644 && p(3) <= 649):
		return n >= 16 && n <= 19 // Discover
	case p(4) >= 3528 && p(4) <= 3589:
		return n >= 16 && n <= 19 // JCB
	case p(2) == 36 || p(2) == 38 || (p(3) >= 300 && p(3) <= 305):
		return n >= 14 && n <= 19 // Diners
	case p(2) == 62:
		return n >= 16 && n <= 19 // UnionPay
	}
	return false
}

func validCard(s string, m []int) bool {
	d := onlyDigits(sub(s, m, 0))
	return len(d) >= 13 && len(d) <= 19 && cardBrand(d) && luhn(d) && !testCards[d]
}

// ibanLengths are the IBAN lengths of the SEPA countries and some others.
var ibanLengths = map[string]int{"AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
	"CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
	"IL": 23, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
	"PT": 25, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29}

func validIBAN(s string, m []int) bool {
	v := strings.ReplaceAll(sub(s, m, 0), " ", "")
	if want, ok := ibanLengths[v[:2]]; !ok || len(v) != want {
		return false
	}
	// mod-97 over the rearranged number, letters as 10..35.
	r := v[4:] + v[:4]
	rem := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

func validSSN(s string, m []int) bool {
	area, group, serial := sub(s, m, 1), sub(s, m, 2), sub(s, m, 3)
	switch {
	case area == "000" || area == "666" || area[0] == '9', group == "00", serial == "0000":
		return false
	case area+group+serial == "078051120" || area+group+serial == "219099999": // published specimen numbers
		return false
	}
	return true
}

func validPhone(s string, m []int) bool {
	// Part of a longer digit sequence (a card number, an id): not a phone.
	if continuesDigits(s, m[1], 1) || continuesDigits(s, m[0], -1) {
		return false
	}
	d := onlyDigits(sub(s, m, 0))
	if len(d) < 10 || len(d) > 15 {
		return false
	}
	// A run of one digit, or a date/time-like value, is not a phone.
	return strings.Count(d, d[:1]) != len(d)
}

// continuesDigits reports whether a digit follows (dir 1) or precedes (dir
// -1) position i, possibly after one separator.
func continuesDigits(s string, i, dir int) bool {
	for k, steps := i, 0; steps < 2; steps++ {
		if dir < 0 {
			k--
		}
		if k < 0 || k >= len(s) {
			return false
		}
		c := s[k]
		if c >= '0' && c <= '9' {
			return true
		}
		if c != ' ' && c != '-' && c != '.' {
			return false
		}
		if dir > 0 {
			k++
		}
	}
	return false
}

func validIP(s string, m []int) bool {
	a, err := netip.ParseAddr(sub(s, m, 0))
	return err == nil && !a.IsLoopback() && !a.IsUnspecified() && !a.IsPrivate() && !a.IsLinkLocalUnicast() && !a.IsMulticast()
}

func piiRules() []*rule {
	return []*rule{
		{kind: "pii", id: "email", keywords: []string{"@"}, confidence: 0.9, anchored: email},
		{kind: "pii", id: "payment-card", numeric: true,
			re: regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`), before: 2, after: 2, valid: validCard, confidence: 0.95},
		{kind: "pii", id: "iban", numeric: true,
			re: regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`), before: 14, after: 8, valid: validIBAN, confidence: 0.95},
		{kind: "pii", id: "us-ssn", numeric: true,
			re: regexp.MustCompile(`\b(\d{3})-(\d{2})-(\d{4})\b`), before: 2, after: 2, valid: validSSN, confidence: 0.85},
		{kind: "pii", id: "phone", numeric: true,
			re:     regexp.MustCompile(`\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}\b|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b`),
			before: 6, after: 2, valid: validPhone, confidence: 0.7},
		{kind: "pii", id: "birth-date", keywords: []string{"born", "birth", "dob", "d.o.b"},
			re:    regexp.MustCompile(`(?i)\b(?:born(?: on)?|birth ?date|date of birth|dob|d\.o\.b\.?)\W{0,4}(\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2},? \d{4})`),
			group: 1, before: 4, after: 60, confidence: 0.85},
		{kind: "pii", id: "ip-address", numeric: true, optional: func(o Options) bool { return o.IPAddresses },
			re: regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b`), before: 2, after: 2, valid: validIP, confidence: 0.8},
	}
}
