package demo

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

// Start runs the demo server and a gateway in front of it and returns the
// gateway URL, the server URL and the PKI folder.
func Start(t testing.TB) (gateway, server, dir string) {
	t.Helper()
	dir = t.TempDir()
	_, err := WriteDev(dir)
	require.NoError(t, err)
	root := filepath.Join(dir, "docs")
	require.NoError(t, os.MkdirAll(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "guide.md"), []byte("# Guide\nUse the API key sk_live_51HqLyjWDarjtT1zdp7dcXkQ9a carefully.\n"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan string, 2)
	go func() {
		_ = RunServer(ctx, ServerConfig{Addr: "127.0.0.1:0", Dir: dir, Root: root, Resource: "https://files.mcpguard.test/mcp",
			AuditPath: filepath.Join(dir, "server-audit.log"), AuditSync: 5 * time.Millisecond,
			RequireTokens: true, Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	server = <-ready
	go func() {
		_ = RunGateway(ctx, GatewayConfig{Addr: "127.0.0.1:0", Dir: dir, Upstream: server, Resource: "https://files.mcpguard.test/mcp",
			AuditPath: filepath.Join(dir, "gateway-audit.log"), Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	return <-ready, server, dir
}

func TestGatewayEndToEnd(t *testing.T) {
	gw, _, dir := Start(t)
	dev, err := LoadDev(dir)
	require.NoError(t, err)
	iss, err := Issuer(dir)
	require.NoError(t, err)
	session, err := iss.SessionToken(mcpguard.Subject{User: "alice@acme-corp.com", Tenant: "acme"}, 0)
	require.NoError(t, err)
	hc := &http.Client{Transport: Bearer(session, &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: dev.CAs, Certificates: []tls.Certificate{dev.Client}}})}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: gw, HTTPClient: hc, MaxRetries: -1}, nil)
	require.NoError(t, err)
	defer cs.Close()

	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 4)

	call := func(tool string, args map[string]any) (string, error) {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			return "", err
		}
		return res.Content[0].(*mcp.TextContent).Text, nil
	}
	out, err := call("echo", map[string]any{"text": "hi"})
	require.NoError(t, err)
	require.Equal(t, "hi", out)

	out, err = call("customer_lookup", map[string]any{"query": "*"})
	require.NoError(t, err)
	require.NotContains(t, out, "eve@globex-inc.com")
	require.NotContains(t, out, "4539 1488 0343 6467")
	require.Contains(t, out, "[REDACTED:")

	out, err = call("fetch_page", map[string]any{"url": "https://docs.example.org/"})
	require.NoError(t, err)
	require.NotContains(t, out, "\u202E")

	_, err = call("read_file", map[string]any{"path": "/etc/passwd"})
	require.ErrorContains(t, err, "mcpguard: invalid_argument")

	// Both audit files hold every record written so far, whole and chained:
	// the server's (written before acknowledging, fsynced within 5 ms) and
	// the gateway's (fsynced before acknowledging).
	for _, name := range []string{"server-audit.log", "gateway-audit.log"} {
		rep, err := mcpguard.VerifyAuditFile(filepath.Join(dir, name), "", nil)
		require.NoError(t, err, name)
		require.Nil(t, rep.Problem, name)
		require.Greater(t, rep.Records, uint64(4), name)
	}

	// Without a session token the gateway refuses; without the client
	// certificate the handshake fails.
	_, err = mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: gw, MaxRetries: -1, HTTPClient: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: dev.CAs, Certificates: []tls.Certificate{dev.Client}}}}}, nil)
	require.Error(t, err)
	_, err = mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: gw, MaxRetries: -1, HTTPClient: &http.Client{Transport: bearer{session,
			&http.Transport{TLSClientConfig: &tls.Config{RootCAs: dev.CAs}}}}}, nil)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), err.Error())
}
