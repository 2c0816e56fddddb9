package mcpguard_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/demo"
)

// measure runs call b.N times and reports p50 and p99 latency besides the
// mean.
func measure(b *testing.B, call func() error) {
	durs := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	slices.Sort(durs)
	pct := func(p float64) float64 { return float64(durs[int(p*float64(len(durs)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// guardsFor returns server and client guards with one set of controls.
func guardsFor(b *testing.B, controls string, s *mcp.Server) (*mcpguard.Guard, *mcpguard.Guard, context.Context) {
	ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "bench"})
	base := []mcpguard.Option{mcpguard.WithoutDefaultRules(), mcpguard.WithAuditLog(mcpguard.NewAuditLog(mcpguard.WithRetainedRecords(1024)))}
	var so, co []mcpguard.Option
	switch controls {
	case "unguarded":
		return nil, nil, ctx
	case "audit-only":
	case "policy":
		so = append(so, mcpguard.WithPolicy(denyText))
		co = append(co, mcpguard.WithPolicy(denyText))
	case "inspection":
		base = base[1:] // default rules on
	case "catalog+rules":
		c, err := mcpguard.SnapshotCatalog(context.Background(), connectInMemory(b, s, nil), "bench")
		require.NoError(b, err)
		rules := mcpguard.WithArgumentRules(mcpguard.ArgumentRules{Tool: "fetch", URLs: map[string]mcpguard.URLRule{"url": {}}})
		so = append(so, mcpguard.WithCatalog(c), mcpguard.WithServerName("bench"), rules)
		co = append(co, mcpguard.WithCatalog(c), rules)
	case "exchange":
		iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithSigningAlgorithm("EdDSA"))
		require.NoError(b, err)
		v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
		require.NoError(b, err)
		so = append(so, mcpguard.WithTokenVerifier(v))
		co = append(co, mcpguard.WithTokenExchange(iss, testAudience))
		session, err := iss.SessionToken(mcpguard.Subject{User: "bench"}, 0)
		require.NoError(b, err)
		ctx = mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "bench", SessionToken: session})
	case "durable-audit":
		log, err := mcpguard.OpenAuditLog(filepath.Join(b.TempDir(), "audit.log"), mcpguard.WithRetainedRecords(1024))
		require.NoError(b, err)
		b.Cleanup(func() { _ = log.Close() })
		base = []mcpguard.Option{mcpguard.WithoutDefaultRules(), mcpguard.WithAuditLog(log)}
	case "full", "full-commit-before-return", "full-sync-10ms":
		return fullGuards(b, s, controls)
	}
	return mustGuard(b, append(so, base...)...), mustGuard(b, append(co, base...)...), ctx
}

// fullGuards turns every in-process control on: catalog, argument rules,
// policy, token exchange (EdDSA) and verification, default inspection, and
// a durable audit file. The variant "full-commit-before-return" commits the
// audit records once per call and side; "full-sync-10ms" releases a call
// once its records are written and fsyncs them within 10 ms.
func fullGuards(b *testing.B, s *mcp.Server, variant string) (*mcpguard.Guard, *mcpguard.Guard, context.Context) {
	var extra []mcpguard.Option
	logOpts := []mcpguard.AuditLogOption{mcpguard.WithRetainedRecords(1024)}
	switch variant {
	case "full-commit-before-return":
		extra = append(extra, mcpguard.WithAuditCommitBeforeReturn())
	case "full-sync-10ms":
		logOpts = append(logOpts, mcpguard.WithSyncInterval(10*time.Millisecond))
	}
	c, err := mcpguard.SnapshotCatalog(context.Background(), connectInMemory(b, s, nil), "bench")
	require.NoError(b, err)
	rules := mcpguard.WithArgumentRules(mcpguard.ArgumentRules{Tool: "fetch", URLs: map[string]mcpguard.URLRule{"url": {}}})
	iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithSigningAlgorithm("EdDSA"))
	require.NoError(b, err)
	v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
	require.NoError(b, err)
	log, err := mcpguard.OpenAuditLog(filepath.Join(b.TempDir(), "audit.log"), logOpts...)
	require.NoError(b, err)
	b.Cleanup(func() { _ = log.Close() })
	session, err := iss.SessionToken(mcpguard.Subject{User: "bench"}, 0)
	require.NoError(b, err)
	sg := mustGuard(b, append([]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCatalog(c), mcpguard.WithServerName("bench"), rules,
		mcpguard.WithPolicy(denyText), mcpguard.WithTokenVerifier(v)}, extra...)...)
	cg := mustGuard(b, append([]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCatalog(c), rules, mcpguard.WithPolicy(denyText),
		mcpguard.WithTokenExchange(iss, testAudience)}, extra...)...)
	return sg, cg, mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "bench", SessionToken: session})
}

var pipelineVariants = []string{"unguarded", "audit-only", "policy", "inspection", "catalog+rules", "exchange", "durable-audit", "full",
	"full-commit-before-return", "full-sync-10ms"}

// BenchmarkPipelineInMemory is one tools/call with a 4 KB result over
// in-memory transports: unguarded, each control alone (guards on both
// sides, default rules off unless the control is inspection), and the full
// pipeline.
func BenchmarkPipelineInMemory(b *testing.B) {
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
	for _, v := range pipelineVariants {
		b.Run(v, func(b *testing.B) {
			s := newBenchServer(nil)
			sg, cg, ctx := guardsFor(b, v, s)
			if sg != nil {
				s.AddReceivingMiddleware(sg.ServerMiddleware())
			}
			cs := connectInMemory(b, s, cg)
			measure(b, func() error { _, err := cs.CallTool(ctx, params); return err })
		})
	}
}

// BenchmarkPipelineMTLS is the same call over Streamable HTTP with mutual
// TLS on loopback (connections kept alive, stateless server): unguarded
// mTLS, each control alone, and the full pipeline. Every variant runs over
// the same mutually authenticated, pinned connection; the controls are the
// guards' middleware on top.
func BenchmarkPipelineMTLS(b *testing.B) {
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
	d := devPKI(b)
	for _, v := range pipelineVariants {
		b.Run(v, func(b *testing.B) {
			s := newBenchServer(nil)
			transportOpts := func(own tls.Certificate, peer string) []mcpguard.Option {
				return []mcpguard.Option{mcpguard.WithCertificate(own), mcpguard.WithTrustedCAs(d.CA.Pool()), mcpguard.WithPeerPins(peer)}
			}
			// The TLS configurations come from guards that do nothing else.
			tsg := mustGuard(b, transportOpts(d.Server.TLS, mcpguard.SPKIPin(d.Client.Cert))...)
			tcg := mustGuard(b, transportOpts(d.Client.TLS, mcpguard.SPKIPin(d.Server.Cert))...)
			sg, cg, ctx := guardsFor(b, v, s)
			if sg != nil {
				s.AddReceivingMiddleware(sg.ServerMiddleware())
			}
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
			srv := httptestTLS(b, h, tsg.ServerTLSConfig())
			c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
			if cg != nil {
				c.AddSendingMiddleware(cg.ClientMiddleware())
			}
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv, HTTPClient: tcg.HTTPClient(), MaxRetries: -1}, nil)
			require.NoError(b, err)
			defer cs.Close()
			measure(b, func() error { _, err := cs.CallTool(ctx, params); return err })
		})
	}
}

// BenchmarkProxyShape compares the same controls in-process (a guarded
// client calling a guarded server) with the proxy shape (an agent calling
// examples/gateway, which calls the guarded server): the extra hop costs a
// second HTTP round trip, TLS records and a second MCP decode/encode.
func BenchmarkProxyShape(b *testing.B) {
	dir := b.TempDir()
	_, err := demo.WriteDev(dir)
	require.NoError(b, err)
	root := filepath.Join(dir, "docs")
	require.NoError(b, os.MkdirAll(root, 0o755))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 2)
	go func() {
		_ = demo.RunServer(ctx, demo.ServerConfig{Addr: "127.0.0.1:0", Dir: dir, Root: root, Resource: testAudience,
			RequireTokens: true, Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	server := <-ready
	go func() {
		_ = demo.RunGateway(ctx, demo.GatewayConfig{Addr: "127.0.0.1:0", Dir: dir, Upstream: server, Resource: testAudience,
			Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	gateway := <-ready
	dev, err := demo.LoadDev(dir)
	require.NoError(b, err)
	iss, err := demo.Issuer(dir)
	require.NoError(b, err)
	session, err := iss.SessionToken(mcpguard.Subject{User: "bench@acme-corp.com", Tenant: "acme"}, 0)
	require.NoError(b, err)
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}

	b.Run("in-process", func(b *testing.B) {
		cg := mustGuard(b, append(dev.ClientTransport(), mcpguard.WithTokenExchange(iss, testAudience), mcpguard.WithTokenInHeaderOnly(),
			mcpguard.WithAuditLog(mcpguard.NewAuditLog(mcpguard.WithRetainedRecords(1024))))...)
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
		c.AddSendingMiddleware(cg.ClientMiddleware())
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: server, HTTPClient: cg.HTTPClient(), MaxRetries: -1}, nil)
		require.NoError(b, err)
		defer cs.Close()
		cctx := mcpguard.WithIdentity(ctx, mcpguard.Identity{User: "bench@acme-corp.com", Tenant: "acme", SessionToken: session})
		measure(b, func() error { _, err := cs.CallTool(cctx, params); return err })
	})
	b.Run("via-gateway", func(b *testing.B) {
		hc := &http.Client{Transport: demo.Bearer(session, &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: dev.CAs, Certificates: []tls.Certificate{dev.Client}}})}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: gateway, HTTPClient: hc, MaxRetries: -1}, nil)
		require.NoError(b, err)
		defer cs.Close()
		measure(b, func() error { _, err := cs.CallTool(ctx, params); return err })
	})
}

// httptestTLS serves h behind cfg on loopback and returns the https URL.
func httptestTLS(b *testing.B, h http.Handler, cfg *tls.Config) string {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Start()
	b.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String()
}

// BenchmarkPipelineParallel runs the in-memory call from 32 goroutines at
// once, where group commit shares each fsync of the durable audit log among
// the calls in flight: the cost per call as a busy host sees it.
func BenchmarkPipelineParallel(b *testing.B) {
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
	for _, v := range []string{"unguarded", "durable-audit", "full"} {
		b.Run(v, func(b *testing.B) {
			s := newBenchServer(nil)
			sg, cg, ctx := guardsFor(b, v, s)
			if sg != nil {
				s.AddReceivingMiddleware(sg.ServerMiddleware())
			}
			cs := connectInMemory(b, s, cg)
			b.ReportAllocs()
			b.SetParallelism(16) // 2 cores × 16 = 32 calls in flight
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := cs.CallTool(ctx, params); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkConcurrencySweep spreads b.N calls over 1 to 256 sessions, each
// its own Streamable HTTP session on loopback, unguarded and with the full
// pipeline (durable audit included): ns/op is wall time per call, so it
// falls while the machine has idle capacity and the guard's fsyncs are
// shared by more calls in flight.
func BenchmarkConcurrencySweep(b *testing.B) {
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
	for _, v := range []string{"unguarded", "full", "full-sync-10ms"} {
		for _, n := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("%s/sessions=%d", v, n), func(b *testing.B) {
				s := newBenchServer(nil)
				sg, cg, ctx := guardsFor(b, v, s)
				if sg != nil {
					s.AddReceivingMiddleware(sg.ServerMiddleware())
				}
				sessions := make([]*mcp.ClientSession, n)
				for i := range n {
					sessions[i] = connectHTTP(b, s, cg, true)
				}
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if _, err := sessions[i].CallTool(ctx, params); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}
