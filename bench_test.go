package mcpguard_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
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

// BenchmarkHandshakeAndFirstCall measures a new connection (TLS handshake),
// MCP session start and one tools/call over Streamable HTTP: server-only TLS
// and unguarded, against mutual TLS with pinning, audit and both guards.
func BenchmarkHandshakeAndFirstCall(b *testing.B) {
	d := devPKI(b)
	b.Run("tls-unguarded", func(b *testing.B) {
		s := newBenchServer(nil)
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
		srv := httptest.NewUnstartedServer(h)
		srv.Listener = tls.NewListener(srv.Listener, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{d.Server.TLS}})
		srv.Start()
		defer srv.Close()
		url := "https://" + srv.Listener.Addr().String()
		newClient := func() *http.Client {
			return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.CA.Pool(), MinVersion: tls.VersionTLS13}}}
		}
		benchFirstCall(b, url, newClient, nil)
	})
	b.Run("mtls-guarded", func(b *testing.B) {
		sg := serverGuard(b, d)
		url := serveMTLS(b, sg, newBenchServer(sg), true)
		cg := clientGuard(b, d)
		benchFirstCall(b, url, cg.HTTPClient, cg)
	})
}

func benchFirstCall(b *testing.B, url string, newClient func() *http.Client, cg *mcpguard.Guard) {
	ctx := context.Background()
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{}}
	b.ReportAllocs()
	for b.Loop() {
		hc := newClient()
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
		if cg != nil {
			c.AddSendingMiddleware(cg.ClientMiddleware())
		}
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cs.CallTool(ctx, params); err != nil {
			b.Fatal(err)
		}
		_ = cs.Close()
		hc.CloseIdleConnections()
	}
}
