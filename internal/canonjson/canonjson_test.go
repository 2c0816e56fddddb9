package canonjson

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Number vectors from RFC 8785 Appendix B (IEEE 754 bits → canonical text).
func TestNumberVectorsRFC8785(t *testing.T) {
	for _, tc := range []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	} {
		f := math.Float64frombits(tc.bits)
		require.Equal(t, tc.want, string(AppendNumber(nil, f)), "bits %016x", tc.bits)
		// And through the parser, from Go's own shortest encoding.
		in, err := json.Marshal(f)
		require.NoError(t, err)
		out, err := Transform(in)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(out))
	}
}

// The examples of RFC 8785 §3.2.2 and §3.2.3.
func TestTransformRFC8785Examples(t *testing.T) {
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	out, err := Transform([]byte(in))
	require.NoError(t, err)
	require.Equal(t, want, string(out))

	sorting := `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`
	out, err = Transform([]byte(sorting))
	require.NoError(t, err)
	require.Equal(t, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\","+
		"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}", string(out))
}

func TestTransformRefusesNonIJSON(t *testing.T) {
	deep := make([]byte, 0, 2*MaxDepth+2)
	for range MaxDepth + 1 {
		deep = append(deep, '[')
	}
	for range MaxDepth + 1 {
		deep = append(deep, ']')
	}
	for name, tc := range map[string]struct {
		in   string
		want error
	}{
		"duplicate":      {`{"a":1,"a":2}`, ErrDuplicateKey},
		"nested-dup":     {`{"x":{"a":1,"a":2}}`, ErrDuplicateKey},
		"invalid-utf8":   {"{\"a\":\"\xff\"}", ErrInvalidUTF8},
		"too-deep":       {string(deep), ErrTooDeep},
		"huge-number":    {`{"n":1e400}`, ErrNumber},
		"trailing":       {`{} {}`, ErrTrailingData},
		"lone-surrogate": {`{"a":"\ud800"}`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Transform([]byte(tc.in))
			if tc.want == nil {
				// encoding/json turns a lone surrogate into U+FFFD; that is
				// still a valid canonical string.
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `[1,]`, `{"a":1,}`, `nul`} {
		_, err := Transform([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func FuzzTransform(f *testing.F) {
	for _, s := range []string{`{}`, `{"b":[1,2.5e10,"x"],"a":null}`, `"\u2028"`, `[{"a":{"b":true}}]`, `1e-7`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Transform(data)
		if err != nil {
			return
		}
		// Canonical output is valid JSON and a fixed point.
		require.True(t, json.Valid(out), "%q", out)
		again, err := Transform(out)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	})
}
