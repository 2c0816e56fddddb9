package argrules

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPathSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "link")))
	p := &Path{Roots: []string{root}, ResolveSymlinks: true}
	require.Nil(t, p.Check(filepath.Join(root, "missing.txt")))
	bad := p.Check(filepath.Join(root, "link", "secret"))
	require.NotNil(t, bad)
	require.Contains(t, bad.Reason, "symlink")
	require.Nil(t, (&Path{Roots: []string{root}}).Check(filepath.Join(root, "link", "secret")), "without resolution the lexical check passes")
}

func TestInternalRanges(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fe80::1", "::ffff:10.0.0.1", "fd00::1", "0.0.0.0", "100.64.0.1"} {
		require.True(t, Internal(netip.MustParseAddr(s)), s)
	}
	for _, s := range []string{"93.184.216.34", "2606:4700::1111", "8.8.8.8"} {
		require.False(t, Internal(netip.MustParseAddr(s)), s)
	}
}

func TestRuleTypeConfusion(t *testing.T) {
	for _, c := range []Checker{&Path{Roots: []string{"/a"}}, &URL{}, &String{MaxLen: 3}} {
		for _, v := range []any{json.Number("1"), true, nil, []any{"x"}, map[string]any{}} {
			require.NotNil(t, c.Check(v), "%T accepted %T", c, v)
		}
	}
	require.NotNil(t, (&Number{}).Check("1"))
	require.NotNil(t, (&Enum{Values: []string{"a"}}).Check([]any{"a"}))
	require.Nil(t, (&Enum{Values: []string{"a", "true", "3"}}).Check(json.Number("3")))
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"/srv/docs/a", "/srv/docs/../x", "/srv/docs/./a//b", "/srv/docsx", "/srv/docs/%2e%2e/", "docs/a", "/srv/docs/a\x00"} {
		f.Add(s)
	}
	p := &Path{Roots: []string{"/srv/docs"}, AllowRelative: true}
	f.Fuzz(func(t *testing.T, s string) {
		if p.Check(s) != nil {
			return
		}
		// Whatever passes must lie under the root once cleaned, with no
		// traversal left in it.
		clean := filepath.Clean(s)
		if !strings.HasPrefix(s, "/") {
			clean = filepath.Join("/srv/docs", s)
		}
		require.True(t, clean == "/srv/docs" || strings.HasPrefix(clean, "/srv/docs/"), "%q → %q", s, clean)
		require.NotContains(t, s, "\x00")
	})
}

func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://example.com/a", "http://169.254.169.254/", "https://[::1]/", "https://2130706433/",
		"https://a@b/", "https://example.com:99999/", "https://0x7f.1/", "https://example.com./x"} {
		f.Add(s)
	}
	u := &URL{Schemes: []string{"https"}}
	f.Fuzz(func(t *testing.T, s string) {
		if u.Check(s) != nil {
			return
		}
		// Whatever passes has a public, non-numeric host and no userinfo.
		require.True(t, strings.HasPrefix(strings.ToLower(s), "https:"), s)
		require.NotContains(t, strings.ToLower(s), "localhost")
	})
}
