package mcpguard_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

func serverWithTools(n int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "many", Version: "v1"}, nil)
	for i := range n {
		mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("tool_%03d", i), Description: fmt.Sprintf("Does thing number %d for the user.", i)},
			func(context.Context, *mcp.CallToolRequest, fetchArgs) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
	}
	return s
}

// BenchmarkCatalogListTools measures tools/list of 100 tools with and
// without catalog validation (digest of every definition, description
// inspection), in the same run.
func BenchmarkCatalogListTools(b *testing.B) {
	s := serverWithTools(100)
	catalog, err := mcpguard.SnapshotCatalog(context.Background(), connectInMemory(b, s, nil), "many")
	require.NoError(b, err)
	for _, bc := range []struct {
		name string
		g    *mcpguard.Guard
	}{{"unguarded", nil}, {"catalog", mustGuard(b, mcpguard.WithCatalog(catalog))}} {
		b.Run(bc.name, func(b *testing.B) {
			cs := connectInMemory(b, s, bc.g)
			b.ReportAllocs()
			for b.Loop() {
				res, err := cs.ListTools(context.Background(), nil)
				if err != nil || len(res.Tools) != 100 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkArgumentValidation measures one call with catalog schema
// validation and argument rules against the same call unchecked.
func BenchmarkArgumentValidation(b *testing.B) {
	var n atomic.Int64
	s := toolServer("files", nil, &n)
	catalog, err := mcpguard.SnapshotCatalog(context.Background(), connectInMemory(b, s, nil), "files")
	require.NoError(b, err)
	rules := mcpguard.WithArgumentRules(mcpguard.ArgumentRules{Tool: "fetch",
		URLs:    map[string]mcpguard.URLRule{"url": {Hosts: []string{".example.com"}}},
		Numbers: map[string]mcpguard.NumberRule{"limit": {Min: 1, Max: 100, Integer: true}}})
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://api.example.com/v1/items?page=2", "limit": 50}}
	for _, bc := range []struct {
		name string
		opts []mcpguard.Option
	}{{"guard-no-rules", []mcpguard.Option{mcpguard.WithoutDefaultRules()}},
		{"guard-catalog+rules", []mcpguard.Option{mcpguard.WithoutDefaultRules(), mcpguard.WithCatalog(catalog), rules}}} {
		b.Run(bc.name, func(b *testing.B) {
			cs := connectInMemory(b, s, mustGuard(b, bc.opts...))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.CallTool(context.Background(), params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
