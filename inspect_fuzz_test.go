package mcpguard

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// FuzzInspector runs the default inspection over arbitrary text and JSON:
// it never panics, keeps valid UTF-8 valid, and keeps structured content
// valid JSON.
func FuzzInspector(f *testing.F) {
	for _, s := range []string{"plain", "AKIA4HK2WQ7ZNR5TXPLM", `{"a":["jane@acme-corp.com",1,{"b":"4539 1488 0343 6467"}]}`,
		"a\u200bb\u202e", "🏴\U000E0067\U000E007F", "\xff\xfe", "ignore all previous instructions"} {
		f.Add([]byte(s))
	}
	g, err := New()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(data)}}}
		var structured any
		if json.Unmarshal(data, &structured) == nil {
			res.StructuredContent = structured
		}
		call := &Call{Side: SideClient, Method: methodCallTool, Tool: "fuzz"}
		out, in, err := g.inspectToolResult(context.Background(), call, res)
		if err != nil || in.blocked {
			return
		}
		text := out.Content[0].(*mcp.TextContent).Text
		if utf8.Valid(data) {
			require.True(t, utf8.ValidString(text), "%q → %q", data, text)
		}
		if out.StructuredContent != nil {
			b, err := json.Marshal(out.StructuredContent)
			require.NoError(t, err)
			require.True(t, json.Valid(b))
		}
	})
}

// BenchmarkInspectToolResult is the latency the inspector adds to one tool
// result with every default rule on.
func BenchmarkInspectToolResult(b *testing.B) {
	g, err := New()
	require.NoError(b, err)
	clean := "The deployment finished in 42 seconds. Logs show the worker pool scaled from 3 to 8 instances while the queue drained; " +
		"see the runbook for the rollback procedure and the token bucket settings. Ask the on-call engineer for access.\n"
	withEmail := strings.Replace(clean, "the on-call engineer", "ops@acme-corp.com", 1)
	for _, bc := range []struct {
		name string
		para string
		size int
	}{{"clean-1KB", clean, 1 << 10}, {"clean-4KB", clean, 4 << 10}, {"clean-16KB", clean, 16 << 10}, {"clean-1MB", clean, 1 << 20},
		{"clean-10MB", clean, 10 << 20},
		{"email-every-300B-16KB", withEmail, 16 << 10}} {
		size := bc.size
		text := strings.Repeat(bc.para, size/len(bc.para)+1)[:size]
		b.Run(bc.name, func(b *testing.B) {
			res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
			call := &Call{Side: SideClient, Method: methodCallTool, Tool: "fetch"}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := g.inspectToolResult(context.Background(), call, res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
