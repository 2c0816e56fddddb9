package jsonwalk

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStringsCopyOnWrite(t *testing.T) {
	var v any
	require.NoError(t, json.Unmarshal([]byte(`{"a":{"b":"secret","c":"ok"},"l":["x","secret"],"n":1,"k/~":"secret"}`), &v))
	before, _ := json.Marshal(v)
	var seen []string
	out, changed, err := Strings(v, "", 10, func(where, s string) (string, error) {
		seen = append(seen, where)
		return strings.ReplaceAll(s, "secret", "[R]"), nil
	})
	require.NoError(t, err)
	require.True(t, changed)
	after, _ := json.Marshal(v)
	require.JSONEq(t, string(before), string(after), "input must not change")
	got, _ := json.Marshal(out)
	require.JSONEq(t, `{"a":{"b":"[R]","c":"ok"},"l":["x","[R]"],"n":1,"k/~":"[R]"}`, string(got))
	require.Equal(t, []string{"/a/b", "/a/c", "/k~1~0", "/l/0", "/l/1"}, seen)

	_, changed, err = Strings(v, "", 10, func(_, s string) (string, error) { return s, nil })
	require.NoError(t, err)
	require.False(t, changed)
}

func TestStringsDepthLimit(t *testing.T) {
	v := any("x")
	for range 5 {
		v = []any{v}
	}
	_, _, err := Strings(v, "", 3, func(_, s string) (string, error) { return s, nil })
	require.ErrorIs(t, err, ErrTooDeep)
}

func TestGeneric(t *testing.T) {
	type rec struct {
		Name string `json:"name"`
		N    int64  `json:"n"`
	}
	g, err := Generic(rec{Name: "x", N: 1 << 60})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"name": "x", "n": json.Number("1152921504606846976")}, g)
	_, err = Generic(func() {})
	require.Error(t, err)
}
