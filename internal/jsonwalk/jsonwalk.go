// Package jsonwalk rewrites the strings inside a generic JSON value
// (map[string]any, []any, string, json.Number, float64, bool, nil) without
// modifying the input: containers are copied only along changed paths.
package jsonwalk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrTooDeep is returned for values nested deeper than the walk allows.
var ErrTooDeep = errors.New("jsonwalk: value nested too deep")

// StringFunc returns the replacement for the string s found at the JSON
// Pointer where.
type StringFunc func(where, s string) (string, error)

// Generic returns v as a generic JSON value. Values that already are one are
// returned as they are; others (structs, typed maps) go through their JSON
// encoding, with numbers kept exact as json.Number.
func Generic(v any) (any, error) {
	switch v.(type) {
	case nil, map[string]any, []any, string, json.Number, float64, bool:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// Strings calls f for every string value in v, in a fixed order (object
// members sorted by name), and returns v with the replacements and whether
// anything changed. Object member names are not rewritten.
func Strings(v any, root string, maxDepth int, f StringFunc) (any, bool, error) {
	return walk(v, root, 0, maxDepth, f)
}

func walk(v any, where string, depth, maxDepth int, f StringFunc) (any, bool, error) {
	if depth > maxDepth {
		return v, false, fmt.Errorf("%w (limit %d)", ErrTooDeep, maxDepth)
	}
	switch t := v.(type) {
	case string:
		s, err := f(where, t)
		return s, err == nil && s != t, err
	case map[string]any:
		var out map[string]any
		for _, k := range slices.Sorted(maps.Keys(t)) {
			e, changed, err := walk(t[k], where+"/"+pointerEscaper.Replace(k), depth+1, maxDepth, f)
			if err != nil {
				return v, false, err
			}
			if changed {
				if out == nil {
					out = maps.Clone(t)
				}
				out[k] = e
			}
		}
		if out == nil {
			return v, false, nil
		}
		return out, true, nil
	case []any:
		var out []any
		for i, e := range t {
			e2, changed, err := walk(e, fmt.Sprintf("%s/%d", where, i), depth+1, maxDepth, f)
			if err != nil {
				return v, false, err
			}
			if changed {
				if out == nil {
					out = slices.Clone(t)
				}
				out[i] = e2
			}
		}
		if out == nil {
			return v, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

// pointerEscaper escapes a member name for a JSON Pointer (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
