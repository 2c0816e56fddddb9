// Package canonjson implements the JSON Canonicalization Scheme (RFC 8785):
// object members sorted by their UTF-16 code units, no insignificant
// whitespace, numbers in their shortest ECMAScript form, and minimal string
// escaping. Input that I-JSON (RFC 7493) forbids is refused: duplicate object
// member names, invalid UTF-8, numbers outside IEEE 754 double range.
package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects Transform accepts.
const MaxDepth = 64

// Errors returned for input RFC 8785 cannot canonicalize.
var (
	ErrDuplicateKey = errors.New("canonjson: duplicate object member name")
	ErrInvalidUTF8  = errors.New("canonjson: invalid UTF-8")
	ErrTooDeep      = errors.New("canonjson: nesting too deep")
	ErrNumber       = errors.New("canonjson: number not representable as an IEEE 754 double")
	ErrTrailingData = errors.New("canonjson: data after the JSON value")
)

// Transform returns the canonical form of the JSON text in data.
func Transform(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(data))
	if err := transformValue(dec, &out, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailingData
	}
	return out.Bytes(), nil
}

type member struct {
	key   string
	value []byte
}

func transformValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("canonjson: %w", err)
	}
	return transformToken(dec, tok, out, depth)
}

func transformToken(dec *json.Decoder, tok json.Token, out *bytes.Buffer, depth int) error {
	switch t := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		if t == '[' {
			return transformArray(dec, out, depth+1)
		}
		if t == '{' {
			return transformObject(dec, out, depth+1)
		}
		return fmt.Errorf("canonjson: unexpected %q", t)
	case string:
		return writeString(out, t)
	case json.Number:
		return writeNumber(out, t)
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

func transformArray(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	out.WriteByte('[')
	for i := 0; ; i++ {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("canonjson: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			out.WriteByte(']')
			return nil
		}
		if i > 0 {
			out.WriteByte(',')
		}
		if err := transformToken(dec, tok, out, depth); err != nil {
			return err
		}
	}
}

func transformObject(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	var members []member
	seen := make(map[string]struct{})
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("canonjson: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			break
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("canonjson: object key is %T", tok)
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateKey, key)
		}
		seen[key] = struct{}{}
		var v bytes.Buffer
		if err := transformValue(dec, &v, depth); err != nil {
			return err
		}
		members = append(members, member{key: key, value: v.Bytes()})
	}
	slices.SortFunc(members, func(a, b member) int { return compareUTF16(a.key, b.key) })
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := writeString(out, m.key); err != nil {
			return err
		}
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785 §3.2.3
// requires (this differs from byte order for characters above U+FFFF).
func compareUTF16(a, b string) int {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	return slices.Compare(ua, ub)
}

const hexDigits = "0123456789abcdef"

// writeString writes s as RFC 8785 §3.2.2.2 requires: only '"', '\\' and
// control characters are escaped, with the short forms where JSON has them.
func writeString(out *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	out.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out.WriteString(s[start:i])
		switch c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			out.WriteString(`\u00`)
			out.WriteByte(hexDigits[c>>4])
			out.WriteByte(hexDigits[c&0xf])
		}
		start = i + 1
	}
	out.WriteString(s[start:])
	out.WriteByte('"')
	return nil
}

// writeNumber writes n in the ECMAScript Number.prototype.toString form
// that RFC 8785 §3.2.2.3 prescribes.
func writeNumber(out *bytes.Buffer, n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%w: %s", ErrNumber, n)
	}
	out.Write(AppendNumber(nil, f))
	return nil
}

// AppendNumber appends the ECMAScript string form of f (finite) to b.
func AppendNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0') // also for -0
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'e', -1, 64)
	// Go writes e-07 and e+22; ECMAScript writes e-7 and e+22.
	n := len(b)
	if n-start >= 4 && b[n-4] == 'e' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}
