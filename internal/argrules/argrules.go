// Package argrules checks single tool-call arguments against declarative
// rules: paths confined to roots, URLs limited to schemes and hosts with
// internal addresses refused, numeric ranges, string length and pattern,
// enumerations.
package argrules

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Violation says which rule an argument broke.
type Violation struct {
	Rule   string
	Reason string
}

// Error implements error.
func (v *Violation) Error() string { return v.Rule + ": " + v.Reason }

func violate(rule, format string, args ...any) *Violation {
	return &Violation{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

func asString(rule string, v any) (string, *Violation) {
	s, ok := v.(string)
	if !ok {
		return "", violate(rule, "must be a string, got %s", typeName(v))
	}
	return s, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Path confines a path argument to roots. Roots are absolute and cleaned.
type Path struct {
	Roots []string
	// Relative paths are resolved against the first root when true, and
	// refused when false.
	AllowRelative bool
	// ResolveSymlinks follows symlinks of paths that exist on this machine
	// and checks the target too (use it on the server, where the paths are).
	ResolveSymlinks bool
}

// Check validates v.
func (p *Path) Check(v any) *Violation {
	s, bad := asString("path", v)
	if bad != nil {
		return bad
	}
	switch {
	case s == "":
		return violate("path", "empty path")
	case strings.ContainsRune(s, 0):
		return violate("path", "NUL byte in path")
	case strings.Contains(s, "\\"):
		return violate("path", "backslash in path")
	case !utf8.ValidString(s):
		return violate("path", "path is not valid UTF-8")
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return violate("path", "path traversal (..)")
		}
	}
	if lower := strings.ToLower(s); strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%00") {
		return violate("path", "percent-encoded path characters")
	}
	if !strings.HasPrefix(s, "/") {
		if !p.AllowRelative || len(p.Roots) == 0 {
			return violate("path", "relative path")
		}
		s = path.Join(p.Roots[0], s)
	}
	clean := path.Clean(s)
	if !p.within(clean) {
		return violate("path", "outside the allowed roots")
	}
	if p.ResolveSymlinks {
		if real, err := filepath.EvalSymlinks(clean); err == nil && !p.within(filepath.ToSlash(real)) {
			return violate("path", "a symlink leads outside the allowed roots")
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return violate("path", "cannot resolve path")
		}
	}
	return nil
}

func (p *Path) within(clean string) bool {
	for _, r := range p.Roots {
		r = path.Clean(r)
		if clean == r || strings.HasPrefix(clean, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// URL limits a URL argument.
type URL struct {
	// Schemes allowed (default https).
	Schemes []string
	// Hosts allowed: exact names, or ".example.com" for subdomains. Empty
	// allows any host that is not an internal address.
	Hosts []string
	// AllowInternal allows loopback, private, link-local and other
	// non-public addresses (off: refused).
	AllowInternal bool
}

// denied are the non-public ranges refused by default.
var denied = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96", "100::/64"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Internal reports whether addr is not a public unicast address.
func Internal(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range denied {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// numericHost matches hosts that some resolvers read as IPv4 numbers:
// 2130706433, 0x7f.1, 017700000001, 127.1.
var numericHost = regexp.MustCompile(`^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$`)

// Check validates v.
func (u *URL) Check(v any) *Violation {
	s, bad := asString("url", v)
	if bad != nil {
		return bad
	}
	if strings.ContainsAny(s, " \t\r\n\\") || strings.ContainsRune(s, 0) {
		return violate("url", "whitespace, backslash or NUL in URL")
	}
	pu, err := url.Parse(s)
	if err != nil || !pu.IsAbs() || pu.Host == "" {
		return violate("url", "not an absolute URL with a host")
	}
	schemes := u.Schemes
	if len(schemes) == 0 {
		schemes = []string{"https"}
	}
	if !slices.Contains(schemes, strings.ToLower(pu.Scheme)) {
		return violate("url", "scheme %q not allowed", pu.Scheme)
	}
	if pu.User != nil {
		return violate("url", "credentials (userinfo) in URL")
	}
	host := strings.ToLower(pu.Hostname())
	if strings.HasSuffix(host, ".") {
		host = strings.TrimSuffix(host, ".")
	}
	if pu.Port() != "" {
		if n, err := strconv.Atoi(pu.Port()); err != nil || n <= 0 || n > 65535 {
			return violate("url", "invalid port")
		}
	}
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !u.AllowInternal && Internal(addr) {
			return violate("url", "internal address %s", addr)
		}
		if len(u.Hosts) > 0 && !hostAllowed(u.Hosts, addr.String()) {
			return violate("url", "host not allowed")
		}
		return nil
	}
	if numericHost.MatchString(host) {
		return violate("url", "numeric host %q (an IP address in disguise)", host)
	}
	if !u.AllowInternal && (host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local")) {
		return violate("url", "internal host name %q", host)
	}
	if len(u.Hosts) > 0 && !hostAllowed(u.Hosts, host) {
		return violate("url", "host %q not allowed", host)
	}
	if net.ParseIP(host) != nil {
		return violate("url", "unparsed IP host")
	}
	return nil
}

func hostAllowed(hosts []string, host string) bool {
	for _, h := range hosts {
		h = strings.ToLower(h)
		if h == host || strings.HasPrefix(h, ".") && strings.HasSuffix(host, h) {
			return true
		}
	}
	return false
}

// Number bounds a numeric argument.
type Number struct {
	Min, Max *float64
	Integer  bool
}

// Check validates v.
func (n *Number) Check(v any) *Violation {
	var f float64
	switch t := v.(type) {
	case json.Number:
		var err error
		if f, err = t.Float64(); err != nil {
			return violate("number", "not a number")
		}
	case float64:
		f = t
	default:
		return violate("number", "must be a number, got %s", typeName(v))
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return violate("number", "not a finite number")
	case n.Integer && f != math.Trunc(f):
		return violate("number", "must be an integer")
	case n.Min != nil && f < *n.Min:
		return violate("number", "below the minimum %v", *n.Min)
	case n.Max != nil && f > *n.Max:
		return violate("number", "above the maximum %v", *n.Max)
	}
	return nil
}

// String bounds a string argument.
type String struct {
	MaxLen  int            // in characters; 0: no bound
	Pattern *regexp.Regexp // must match the whole value
}

// Check validates v.
func (s *String) Check(v any) *Violation {
	str, bad := asString("string", v)
	if bad != nil {
		return bad
	}
	if s.MaxLen > 0 && utf8.RuneCountInString(str) > s.MaxLen {
		return violate("string", "longer than %d characters", s.MaxLen)
	}
	if s.Pattern != nil {
		loc := s.Pattern.FindStringIndex(str)
		if loc == nil || loc[0] != 0 || loc[1] != len(str) {
			return violate("string", "does not match the allowed pattern")
		}
	}
	return nil
}

// Enum allows a fixed set of values (compared as JSON scalars).
type Enum struct{ Values []string }

// Check validates v.
func (e *Enum) Check(v any) *Violation {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case json.Number:
		s = t.String()
	case bool:
		s = strconv.FormatBool(t)
	default:
		return violate("enum", "must be one of the allowed values, got %s", typeName(v))
	}
	if !slices.Contains(e.Values, s) {
		return violate("enum", "value not among the allowed ones")
	}
	return nil
}

// Checker checks one argument value.
type Checker interface{ Check(v any) *Violation }

// Set is the compiled rules of one tool.
type Set struct {
	Args          map[string][]Checker
	ForbiddenKeys []string
	MaxBytes      int
}

// Check validates decoded arguments and their canonical encoding. It
// returns the argument at fault and the violation.
func (s *Set) Check(args map[string]any, canonical []byte) (string, *Violation) {
	if s.MaxBytes > 0 && len(canonical) > s.MaxBytes {
		return "(all)", violate("size", "arguments are %d bytes, over the %d-byte limit", len(canonical), s.MaxBytes)
	}
	if len(s.ForbiddenKeys) > 0 {
		if k := findKey(args, s.ForbiddenKeys, 0); k != "" {
			return k, violate("forbidden-key", "key %q is not allowed", k)
		}
	}
	for _, name := range sortedKeys(s.Args) {
		v, ok := args[name]
		if !ok {
			continue // presence is the schema's business
		}
		for _, c := range s.Args[name] {
			if bad := c.Check(v); bad != nil {
				return name, bad
			}
		}
	}
	return "", nil
}

func sortedKeys(m map[string][]Checker) []string {
	return slices.Sorted(maps.Keys(m))
}

func findKey(v any, keys []string, depth int) string {
	if depth > 64 {
		return ""
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if slices.Contains(keys, k) {
				return k
			}
			if f := findKey(e, keys, depth+1); f != "" {
				return f
			}
		}
	case []any:
		for _, e := range t {
			if f := findKey(e, keys, depth+1); f != "" {
				return f
			}
		}
	}
	return ""
}
