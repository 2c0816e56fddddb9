package mcpguard_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/internal/pki"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

// fullPipeline returns a guarded server and client with every control on:
// mTLS with pinning, catalog, argument rules, policy, token exchange and
// verification, inspection, and one durable audit file.
func fullPipeline(t testing.TB, auditPath string) (url string, cg *mcpguard.Guard, ctx context.Context, log *mcpguard.AuditLog, executed *atomic.Int64) {
	t.Helper()
	d := devPKI(t)
	log, err := mcpguard.OpenAuditLog(auditPath, mcpguard.WithRetainedRecords(1024))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	executed = &atomic.Int64{}
	s := toolServer("files", nil, executed)
	catalog := snapshot(t, s, "files")
	rules := mcpguard.WithArgumentRules(mcpguard.ArgumentRules{Tool: "read_file",
		Paths: map[string]mcpguard.PathRule{"path": {Roots: []string{"/srv/docs"}}}})
	ts := newTokenSetup(t,
		[]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCertificate(d.Server.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert)), mcpguard.WithCatalog(catalog), rules, mcpguard.WithPolicy(denyText)},
		[]mcpguard.Option{mcpguard.WithAuditLog(log), mcpguard.WithCertificate(d.Client.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Server.Cert)), mcpguard.WithCatalog(catalog), rules, mcpguard.WithPolicy(denyText),
			mcpguard.WithTokenInHeaderOnly()})
	s.AddReceivingMiddleware(ts.server.ServerMiddleware())
	return serveMTLS(t, ts.server, s, true), ts.client, ts.ctx, log, executed
}

// TestLoadFullPipeline runs many concurrent clients through the full
// pipeline over loopback mTLS: no call fails, no audit record is lost, the
// log verifies, and goroutines and heap return to where they were. The
// default size suits -race in CI; MCPGUARD_LOAD=full runs 256 × 1000.
func TestLoadFullPipeline(t *testing.T) {
	clients, calls := 16, 25
	switch os.Getenv("MCPGUARD_LOAD") {
	case "full":
		clients, calls = 256, 1000
	case "medium":
		clients, calls = 64, 100
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	url, cg, ctx, log, executed := fullPipeline(t, path)
	runtime.GC()
	goroutinesBefore := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	var failed atomic.Int64
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := connectMTLS(ctx, url, cg, "")
			if err != nil {
				failed.Add(int64(calls))
				return
			}
			defer cs.Close()
			for i := range calls {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_file",
					Arguments: map[string]any{"path": fmt.Sprintf("/srv/docs/%d/%d.md", c, i)}})
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	require.EqualValues(t, clients*calls, executed.Load())
	require.NoError(t, log.Close())

	// Every call left its five records: client decision, exchange,
	// inspection; server decision, execution.
	rep, err := mcpguard.VerifyAuditFile(path, "", nil)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	recs, _, err := mcpguard.ReadAuditFile(path)
	require.NoError(t, err)
	perKind := map[mcpguard.RecordKind]int{}
	for _, r := range recs {
		perKind[r.Kind]++
	}
	require.Equal(t, 2*clients*calls, perKind[mcpguard.KindDecision])
	require.Equal(t, clients*calls, perKind[mcpguard.KindExchange])
	require.Equal(t, clients*calls, perKind[mcpguard.KindExecution])
	require.Equal(t, clients*calls, perKind[mcpguard.KindInspection])

	// The guard's HTTP client pools connections; released, nothing stays.
	cg.HTTPClient().CloseIdleConnections()
	require.Eventually(t, func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= goroutinesBefore+8
	}, 10*time.Second, 100*time.Millisecond, "goroutines: before %d, now %d", goroutinesBefore, runtime.NumGoroutine())
	// What stays by design: 32 bytes per record for Merkle proofs, and each
	// token id in the replay cache until its token expires. Anything beyond
	// that, plus slack, is a leak.
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	allowed := uint64(32<<20 + len(recs)*48 + clients*calls*256)
	require.Less(t, after.HeapAlloc, before.HeapAlloc+allowed, "heap grew by %d bytes for %d records", int64(after.HeapAlloc)-int64(before.HeapAlloc), len(recs))
	t.Logf("%d calls, %d records %v, heap %+d bytes, goroutines %d → %d", clients*calls, len(recs), perKind,
		int64(after.HeapAlloc)-int64(before.HeapAlloc), goroutinesBefore, runtime.NumGoroutine())
}

// rawCall posts one JSON-RPC request body to a Streamable HTTP endpoint and
// returns the response body.
func rawCall(t *testing.T, client *http.Client, url, sessionID string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}

// TestBadInputKeepsServing throws malformed requests at a guarded server
// over HTTP: each gets a clear error, none panics, and a good call still
// works afterwards.
func TestBadInputKeepsServing(t *testing.T) {
	var executed atomic.Int64
	sg := mustGuard(t, mcpguard.WithPolicy(denyText))
	s := toolServer("files", sg, &executed)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := newHTTPServer(t, h)
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	for _, tc := range []struct {
		name, body string
	}{
		{"not-json", `{"jsonrpc":"2.0","id":1,"method":"tools/call",`},
		{"params-null", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`},
		{"arguments-string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":"x"}}`},
		{"arguments-array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":[1,2]}}`},
		{"duplicate-keys", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a","path":"/b"}}}`},
		{"invalid-utf8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"\xff\xfe\"}}}"},
		{"deeply-nested", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":` + deep + `}}`},
		{"oversize", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"` + strings.Repeat("a", 3<<20) + `"}}}`},
		{"resources-read-bad", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":5}}`},
		{"prompts-get-bad", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":{"x":1}}}`},
		{"tools-list-bad", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":7}}`},
		{"unknown-method", `{"jsonrpc":"2.0","id":1,"method":"tools/explode","params":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, http.DefaultClient, srv, "", []byte(tc.body))
			require.True(t, status >= 400 || strings.Contains(body, `"error"`), "status %d body %.300s", status, body)
			require.Zero(t, executed.Load())
		})
	}
	cs := connectHTTP(t, s, nil, true)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "/srv/docs/ok"}})
	require.NoError(t, err)
	require.Equal(t, "contents of /srv/docs/ok", textOf(t, res))
	require.NoError(t, sg.AuditLog().Verify())
}

// TestFaults: the client gives up mid-call, the upstream dies mid-call, and
// certificates rotate while calls are in flight — each ends in a clear
// error (or success), audited, without leaking goroutines.
func TestFaults(t *testing.T) {
	t.Run("client-cancels-mid-call", func(t *testing.T) {
		release := make(chan struct{})
		s := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "v1"}, nil)
		s.AddTool(&mcp.Tool{Name: "slow", InputSchema: map[string]any{"type": "object"}},
			func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				select {
				case <-ctx.Done():
				case <-release:
				}
				return &mcp.CallToolResult{}, nil
			})
		sg, cg := mustGuard(t), mustGuard(t)
		s.AddReceivingMiddleware(sg.ServerMiddleware())
		cs := connectHTTP(t, s, cg, false)
		before := runtime.NumGoroutine()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		close(release)
		insp := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindInspection})
		require.Len(t, insp, 1)
		require.Equal(t, "error", insp[0].Outcome, "the give-up is audited")
		require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 50*time.Millisecond)
	})

	t.Run("upstream-dies-mid-call", func(t *testing.T) {
		started, quit := make(chan struct{}), make(chan struct{})
		s := mcp.NewServer(&mcp.Implementation{Name: "dying", Version: "v1"}, nil)
		s.AddTool(&mcp.Tool{Name: "hang", InputSchema: map[string]any{"type": "object"}},
			func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				close(started)
				// The session outlives its killed connections, so the
				// handler's context need not end; quit lets the server
				// shut down once the test has seen the failure.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-quit:
					return nil, errors.New("test over")
				}
			})
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
		srv := newRawServer(t, h)
		cg := mustGuard(t)
		c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "v1"}, nil)
		c.AddSendingMiddleware(cg.ClientMiddleware())
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL, MaxRetries: -1}, nil)
		require.NoError(t, err)
		defer cs.Close()
		defer close(quit) // before cs.Close, whose DELETE waits for the handler
		go func() {
			<-started
			srv.Listener.Close()
			srv.CloseClientConnections()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "hang"})
		require.Error(t, err)
		insp := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindInspection})
		require.Len(t, insp, 1)
		require.Equal(t, "error", insp[0].Outcome)
	})

	t.Run("pins-rotate-while-calls-in-flight", func(t *testing.T) {
		d := devPKI(t)
		pins, err := mcpguard.NewPinSet(mcpguard.SPKIPin(d.Client.Cert))
		require.NoError(t, err)
		sg := serverGuard(t, d, mcpguard.WithPeerPinSet(pins))
		url := serveMTLS(t, sg, newTestServer(sg, nil), true)
		var wg sync.WaitGroup
		var ok, refused atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cs, err := connectMTLS(context.Background(), url, clientGuard(t, d), "")
				if err != nil {
					refused.Add(1)
					return
				}
				defer cs.Close()
				for range 20 {
					if _, err := callEcho(context.Background(), cs, "x"); err != nil {
						refused.Add(1)
						return
					}
					ok.Add(1)
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		next, err := d.CA.Issue(pkiLeafClient("rotated"))
		require.NoError(t, err)
		require.NoError(t, pins.Set(mcpguard.SPKIPin(next.Cert))) // the old client key is now out
		wg.Wait()
		// Calls either completed before the rotation or were refused after
		// it; none hung or panicked, and the new key works.
		require.Positive(t, ok.Load()+refused.Load())
		cs, err := connectMTLS(context.Background(), url, clientGuard(t, d, mcpguard.WithCertificate(next.TLS)), "")
		require.NoError(t, err)
		defer cs.Close()
		_, err = callEcho(context.Background(), cs, "after rotation")
		require.NoError(t, err)
		require.NoError(t, sg.AuditLog().Verify())
	})
}

func newRawServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newHTTPServer(t testing.TB, h http.Handler) string { return newRawServer(t, h).URL }

func pkiLeafClient(cn string) pki.LeafOptions { return pki.LeafOptions{CommonName: cn, Client: true} }
