package mcpguard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

// echoArgs is the input of the test "echo" tool.
type echoArgs struct {
	Text string `json:"text"`
}

// newTestServer returns a go-sdk server with an "echo" tool that counts its
// executions, guarded by sg when sg is not nil.
func newTestServer(sg *mcpguard.Guard, executed *atomic.Int64) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "v1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echoes text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			if executed != nil {
				executed.Add(1)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	if sg != nil {
		s.AddReceivingMiddleware(sg.ServerMiddleware())
	}
	return s
}

// connectInMemory connects a client (guarded by cg when not nil) to s over
// in-memory transports.
func connectInMemory(t testing.TB, s *mcp.Server, cg *mcpguard.Guard) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ss.Close() })
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
	if cg != nil {
		c.AddSendingMiddleware(cg.ClientMiddleware())
	}
	cs, err := c.Connect(ctx, ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// connectHTTP serves s over Streamable HTTP on a loopback httptest server and
// connects a client (guarded by cg when not nil).
func connectHTTP(t testing.TB, s *mcp.Server, cg *mcpguard.Guard, stateless bool, protocol ...string) *mcp.ClientSession {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1"}, nil)
	if cg != nil {
		c.AddSendingMiddleware(cg.ClientMiddleware())
	}
	var opts *mcp.ClientSessionOptions
	if len(protocol) > 0 {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol[0]}
	}
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func mustGuard(t testing.TB, opts ...mcpguard.Option) *mcpguard.Guard {
	t.Helper()
	g, err := mcpguard.New(opts...)
	require.NoError(t, err)
	return g
}

func alice(ctx context.Context) context.Context {
	return mcpguard.WithIdentity(ctx, mcpguard.Identity{User: "alice", Tenant: "acme", Session: "sess-1"})
}

// denyText refuses echo calls whose text is "forbidden".
var denyText = mcpguard.PolicyFunc(func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
	if c.Arguments["text"] == "forbidden" {
		return mcpguard.Deny("text \"forbidden\" is not allowed"), nil
	}
	return mcpguard.Allow(), nil
})

func callEcho(ctx context.Context, cs *mcp.ClientSession, text string) (*mcp.CallToolResult, error) {
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
}

func textOf(t testing.TB, res *mcp.CallToolResult) string {
	t.Helper()
	require.Len(t, res.Content, 1)
	tc, ok := res.Content[0].(*mcp.TextContent)
	require.True(t, ok, "content is %T", res.Content[0])
	return tc.Text
}

func requireGuardError(t testing.TB, err error, code mcpguard.Code) *mcpguard.Error {
	t.Helper()
	var ge *mcpguard.Error
	require.True(t, errors.As(err, &ge), "error %v (%T) is not a *mcpguard.Error", err, err)
	require.Equal(t, code, ge.Code, "error: %v", err)
	return ge
}

type transportCase struct {
	name    string
	connect func(t testing.TB, s *mcp.Server, cg *mcpguard.Guard) *mcp.ClientSession
}

var transports = []transportCase{
	{"in-memory", connectInMemory},
	{"streamable-http", func(t testing.TB, s *mcp.Server, cg *mcpguard.Guard) *mcp.ClientSession {
		return connectHTTP(t, s, cg, false)
	}},
	{"streamable-http-stateless", func(t testing.TB, s *mcp.Server, cg *mcpguard.Guard) *mcp.ClientSession {
		return connectHTTP(t, s, cg, true)
	}},
	{"streamable-http-2025-11-25", func(t testing.TB, s *mcp.Server, cg *mcpguard.Guard) *mcp.ClientSession {
		return connectHTTP(t, s, cg, false, "2025-11-25")
	}},
}

func TestClientPolicyDenyIsTypedAndNothingIsSent(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			var executed atomic.Int64
			cg := mustGuard(t, mcpguard.WithPolicy(denyText))
			cs := tc.connect(t, newTestServer(nil, &executed), cg)
			ctx := alice(context.Background())

			_, err := callEcho(ctx, cs, "forbidden")
			ge := requireGuardError(t, err, mcpguard.CodeDenied)
			require.Equal(t, "policy", ge.Stage)
			require.False(t, ge.Remote)
			require.NotEmpty(t, ge.RequestID)
			require.Contains(t, ge.Error(), `text "forbidden" is not allowed`)
			require.Zero(t, executed.Load(), "a denied call must not reach the server")

			res, err := callEcho(ctx, cs, "hello")
			require.NoError(t, err)
			require.Equal(t, "hello", textOf(t, res))
			require.EqualValues(t, 1, executed.Load())

			deny := cg.AuditLog().Query(mcpguard.AuditQuery{RequestID: ge.RequestID})
			require.Len(t, deny, 1)
			require.Equal(t, "deny", deny[0].Outcome)
			require.Equal(t, "alice", deny[0].User)
			require.Equal(t, "echo", deny[0].Tool)
			require.NoError(t, cg.AuditLog().Verify())
		})
	}
}

func TestServerPolicyDenyReachesClientAsTypedError(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			var executed atomic.Int64
			sg := mustGuard(t, mcpguard.WithPolicy(denyText))
			for _, cg := range []*mcpguard.Guard{nil, mustGuard(t)} {
				cs := tc.connect(t, newTestServer(sg, &executed), cg)
				_, err := callEcho(context.Background(), cs, "forbidden")
				require.Error(t, err)
				require.Zero(t, executed.Load())
				if cg == nil {
					// An unguarded client sees the stable JSON-RPC code.
					require.Contains(t, err.Error(), "mcpguard: denied")
					continue
				}
				ge := requireGuardError(t, err, mcpguard.CodeDenied)
				require.True(t, ge.Remote)
				require.Equal(t, "policy", ge.Stage)
				// Both sides recorded the same request id.
				require.Len(t, sg.AuditLog().Trace(ge.RequestID), 1)
				require.Len(t, cg.AuditLog().Trace(ge.RequestID), 2) // client allow + error
			}
		})
	}
}

func TestAllowedResultPassesUnchanged(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			plain, err := callEcho(ctx, tc.connect(t, newTestServer(nil, nil), nil), "plain text ✓ שלום ‏ok 👩‍💻 سلام")
			require.NoError(t, err)
			sg, cg := mustGuard(t), mustGuard(t)
			guarded, err := callEcho(ctx, tc.connect(t, newTestServer(sg, nil), cg), "plain text ✓ שלום ‏ok 👩‍💻 سلام")
			require.NoError(t, err)
			require.Equal(t, plain, guarded)
		})
	}
}

func TestPolicyErrorFailsClosed(t *testing.T) {
	broken := mcpguard.PolicyFunc(func(context.Context, *mcpguard.Call) (mcpguard.Decision, error) {
		return mcpguard.Decision{}, errors.New("policy engine unreachable")
	})
	forgetful := mcpguard.PolicyFunc(func(context.Context, *mcpguard.Call) (mcpguard.Decision, error) {
		return mcpguard.Decision{}, nil // zero decision: deny
	})
	for _, tc := range []struct {
		name string
		p    mcpguard.Policy
		code mcpguard.Code
	}{
		{"error", broken, mcpguard.CodeUnavailable},
		{"zero-decision", forgetful, mcpguard.CodeDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, side := range []string{"client", "server"} {
				var executed atomic.Int64
				var sg, cg *mcpguard.Guard
				if side == "client" {
					cg = mustGuard(t, mcpguard.WithPolicy(tc.p))
				} else {
					sg, cg = mustGuard(t, mcpguard.WithPolicy(tc.p)), mustGuard(t)
				}
				cs := connectInMemory(t, newTestServer(sg, &executed), cg)
				_, err := callEcho(context.Background(), cs, "x")
				ge := requireGuardError(t, err, tc.code)
				require.NotContains(t, ge.Message, "unreachable", "causes stay local")
				require.Zero(t, executed.Load())
			}
		})
	}
}

func TestAuditSinkFailureFailsClosed(t *testing.T) {
	var fail atomic.Bool
	log := mcpguard.NewAuditLog(mcpguard.WithAuditSink(mcpguard.AuditSinkFunc(func(context.Context, *mcpguard.Record) error {
		if fail.Load() {
			return errors.New("disk full")
		}
		return nil
	})))
	var executed atomic.Int64
	sg := mustGuard(t, mcpguard.WithAuditLog(log))
	cs := connectInMemory(t, newTestServer(sg, &executed), nil)
	_, err := callEcho(context.Background(), cs, "a")
	require.NoError(t, err)
	fail.Store(true)
	_, err = callEcho(context.Background(), cs, "b")
	require.ErrorContains(t, err, "mcpguard: unavailable")
	require.EqualValues(t, 1, executed.Load(), "no tool runs unaudited")
	require.NoError(t, log.Verify())
}

func TestMalformedArgumentsAreRefused(t *testing.T) {
	var executed atomic.Int64
	cg := mustGuard(t)
	cs := connectInMemory(t, newTestServer(mustGuard(t), &executed), cg)
	ctx := context.Background()
	for name, args := range map[string]any{
		"array":         []int{1, 2},
		"string":        "text",
		"duplicate-key": jsonRaw(`{"text":"a","text":"b"}`),
		"nan":           map[string]any{"text": func() {}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: args})
			requireGuardError(t, err, mcpguard.CodeInvalidArgument)
		})
	}
	require.Zero(t, executed.Load())
}

func TestConcurrentGuardedCalls(t *testing.T) {
	var executed atomic.Int64
	sg := mustGuard(t, mcpguard.WithPolicy(denyText))
	cg := mustGuard(t, mcpguard.WithPolicy(denyText))
	cs := connectInMemory(t, newTestServer(sg, &executed), cg)
	const n = 128
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: fmt.Sprintf("user-%d", i)})
			text := fmt.Sprintf("msg-%d", i)
			if i%4 == 0 {
				text = "forbidden"
			}
			res, err := callEcho(ctx, cs, text)
			switch {
			case text == "forbidden" && err == nil:
				errs <- fmt.Errorf("call %d: forbidden call allowed", i)
			case text != "forbidden" && err != nil:
				errs <- fmt.Errorf("call %d: %w", i, err)
			case err == nil && textOf(t, res) != text:
				errs <- fmt.Errorf("call %d: got %q", i, textOf(t, res))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.EqualValues(t, n-n/4, executed.Load())
	require.NoError(t, cg.AuditLog().Verify())
	require.NoError(t, sg.AuditLog().Verify())
	// client: decision + inspection per allowed call, decision per denied one.
	require.Equal(t, 2*(n-n/4)+n/4, cg.AuditLog().Len())
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]mcpguard.Option{
		"WithPolicy":        mcpguard.WithPolicy(nil),
		"WithAuditLog":      mcpguard.WithAuditLog(nil),
		"WithServerName":    mcpguard.WithServerName(""),
		"WithClock":         mcpguard.WithClock(nil),
		"WithClassifier":    mcpguard.WithClassifier(nil),
		"WithAction":        mcpguard.WithAction("secret", "shred"),
		"WithAuditKey":      mcpguard.WithAuditKey([]byte("short")),
		"WithBinaryContent": mcpguard.WithBinaryContent(mcpguard.ActionRedact),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mcpguard.New(opt)
			require.ErrorContains(t, err, name)
		})
	}
	_, err := mcpguard.New(nil)
	require.Error(t, err)
}

func TestErrorCodesAreStable(t *testing.T) {
	for code, want := range map[mcpguard.Code]struct {
		name string
		rpc  int64
	}{
		mcpguard.CodeDenied:          {"denied", -31701},
		mcpguard.CodeUnauthenticated: {"unauthenticated", -31702},
		mcpguard.CodeInvalidArgument: {"invalid_argument", -31703},
		mcpguard.CodeTampered:        {"tampered", -31704},
		mcpguard.CodeUnavailable:     {"unavailable", -31705},
		mcpguard.CodeInternal:        {"internal", -31706},
		mcpguard.CodeBlocked:         {"blocked", -31707},
	} {
		require.Equal(t, want.name, code.String())
		require.Equal(t, want.rpc, code.JSONRPC())
	}
}

func jsonRaw(s string) json.RawMessage { return json.RawMessage(s) }
