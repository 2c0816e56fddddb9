package mcpguard_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

// result4K is a clean 4 KB tool result, the size the benchmarks use.
var result4K = strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4096/45+1)[:4096]

func newBenchServer(sg *mcpguard.Guard) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
	s.AddTool(&mcp.Tool{Name: "fetch", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: result4K}}}, nil
		})
	if sg != nil {
		s.AddReceivingMiddleware(sg.ServerMiddleware())
	}
	return s
}

// BenchmarkToolCall measures one tools/call with a 4 KB result over
// in-memory transports, unguarded and guarded on both sides.
func BenchmarkToolCall(b *testing.B) {
	allow := mcpguard.WithPolicy(mcpguard.PolicyFunc(func(context.Context, *mcpguard.Call) (mcpguard.Decision, error) {
		return mcpguard.Allow(), nil
	}))
	for _, bc := range []struct {
		name   string
		guards func() (server, client *mcpguard.Guard)
	}{
		{"unguarded", func() (*mcpguard.Guard, *mcpguard.Guard) { return nil, nil }},
		{"guarded-noop", func() (*mcpguard.Guard, *mcpguard.Guard) {
			return mustGuard(b, mcpguard.WithoutDefaultRules()), mustGuard(b, mcpguard.WithoutDefaultRules())
		}},
		{"guarded-policy+inspect", func() (*mcpguard.Guard, *mcpguard.Guard) {
			return mustGuard(b, allow), mustGuard(b, allow)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sg, cg := bc.guards()
			cs := connectInMemory(b, newBenchServer(sg), cg)
			ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "bench"})
			params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
			b.ReportAllocs()
			b.SetBytes(int64(len(result4K)))
			b.ResetTimer()
			for b.Loop() {
				res, err := cs.CallTool(ctx, params)
				if err != nil || len(res.Content) != 1 {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if cg != nil {
				require.NoError(b, cg.AuditLog().Verify())
			}
		})
	}
}
