package mcpguard

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// BenchmarkArgumentChecks measures the argument checks of one call on their
// own: decoding and canonicalization, pinned-schema validation and rules.
func BenchmarkArgumentChecks(b *testing.B) {
	c := NewCatalog()
	require.NoError(b, c.Add("files", &mcp.Tool{Name: "fetch", InputSchema: map[string]any{
		"type": "object", "required": []string{"url"}, "additionalProperties": false,
		"properties": map[string]any{"url": map[string]any{"type": "string"}, "limit": map[string]any{"type": "integer"}},
	}}))
	g, err := New(WithCatalog(c), WithServerName("files"), WithArgumentRules(ArgumentRules{Tool: "fetch",
		URLs:    map[string]URLRule{"url": {Hosts: []string{".example.com"}}},
		Numbers: map[string]NumberRule{"limit": {Min: 1, Max: 100, Integer: true}}}))
	require.NoError(b, err)
	raw := []byte(`{"url":"https://api.example.com/v1/items?page=2","limit":50}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		call := &Call{Method: methodCallTool, Server: "files", Tool: "fetch"}
		if err := call.setArguments(raw, nil); err != nil {
			b.Fatal(err)
		}
		if err := g.cfg.catalog.admitCall(ctx, call); err != nil {
			b.Fatal(err)
		}
		if _, v := g.cfg.argRules["fetch"].Check(call.Arguments, call.RawArguments); v != nil {
			b.Fatal(v)
		}
	}
}

// FuzzArguments decodes arbitrary argument bytes and runs the rules and the
// pinned-schema check over them: never a panic; decoded arguments are a
// canonical JSON object.
func FuzzArguments(f *testing.F) {
	for _, s := range []string{`{"url":"https://api.example.com/x","limit":5}`, `{"a":{"a":1},"a":2}`, `[1]`, `null`, "{\"u\":\"\xff\"}",
		`{"url":"http://169.254.169.254/","limit":1e400}`} {
		f.Add([]byte(s))
	}
	c := NewCatalog()
	require.NoError(f, c.Add("s", &mcp.Tool{Name: "fetch", InputSchema: map[string]any{"type": "object"}}))
	g, err := New(WithCatalog(c), WithServerName("s"), WithArgumentRules(ArgumentRules{Tool: "fetch",
		URLs: map[string]URLRule{"url": {}}, Numbers: map[string]NumberRule{"limit": {Min: 0, Max: 10}},
		Paths: map[string]PathRule{"path": {Roots: []string{"/srv"}}}, ForbiddenKeys: []string{"__proto__"}}))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, raw []byte) {
		call := &Call{Method: methodCallTool, Server: "s", Tool: "fetch"}
		if err := call.setArguments(raw, nil); err != nil {
			return
		}
		require.True(t, json.Valid(call.RawArguments))
		require.Equal(t, byte('{'), call.RawArguments[0])
		_ = g.cfg.catalog.admitCall(context.Background(), call)
		g.cfg.argRules["fetch"].Check(call.Arguments, call.RawArguments)
	})
}

// BenchmarkCatalogScale measures, as the catalog grows from 10 to 10,000
// tools, the per-call admission check and the validation of one listed tool.
func BenchmarkCatalogScale(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		c := NewCatalog()
		tools := make([]*mcp.Tool, n)
		for i := range n {
			tools[i] = &mcp.Tool{Name: fmt.Sprintf("tool_%05d", i), Description: "Does a thing for the user.",
				InputSchema: map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}
		}
		require.NoError(b, c.Add("s", tools...))
		g, err := New(WithCatalog(c), WithServerName("s"), WithoutDefaultRules())
		require.NoError(b, err)
		call := &Call{Method: methodCallTool, Server: "s", Tool: tools[n/2].Name}
		require.NoError(b, call.setArguments([]byte(`{"q":"x"}`), nil))
		b.Run(fmt.Sprintf("admit-call/tools=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := g.cfg.catalog.admitCall(context.Background(), call); err != nil {
					b.Fatal(err)
				}
			}
		})
		list := &mcp.ListToolsResult{Tools: []*mcp.Tool{tools[n/2]}}
		b.Run(fmt.Sprintf("validate-one-listed-tool/tools=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := g.cfg.catalog.filterTools(context.Background(), &Call{Server: "s"}, list); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
