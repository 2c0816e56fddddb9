package interop

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/demo"
)

const resourceURI = "https://files.mcpguard.test/mcp"

// nodeDir installs the pinned Node packages of ./node (npm ci, into a cache
// folder keyed by the lock file) and returns the folder with the scripts.
// Without node and npm it skips, saying so.
func nodeDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: skipping the interop tests against the TypeScript MCP SDK", tool)
		}
	}
	lock, err := os.ReadFile("node/package-lock.json")
	require.NoError(t, err)
	sum := sha256.Sum256(lock)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "mcpguard-interop", hex.EncodeToString(sum[:8]))
	for _, f := range []string{"package.json", "package-lock.json", "client.mjs", "probe.mjs"} {
		b, err := os.ReadFile(filepath.Join("node", f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".mcpguard-ok")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm ci: %s", out)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "node_modules", ".mcpguard-ok"), nil, 0o644))
	}
	return dir
}

type tsReport struct {
	Protocol *string                   `json:"protocol"`
	Tools    []string                  `json:"tools"`
	Calls    map[string]map[string]any `json:"calls"`
}

// runTSClient runs client.mjs against url with the dev client certificate.
func runTSClient(t *testing.T, node, pkiDir, url, token string, calls [][2]any) tsReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"client.mjs", url, filepath.Join(pkiDir, demo.Files.CA), filepath.Join(pkiDir, demo.Files.Client),
		filepath.Join(pkiDir, demo.Files.ClientKey)}
	if token != "" {
		args = append(args, token)
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = node
	cj, _ := json.Marshal(calls)
	cmd.Env = append(os.Environ(), "CALLS="+string(cj))
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "client.mjs: %s", stderr)
	var rep tsReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}

func startServer(t *testing.T, requireTokens bool) (url, pkiDir string) {
	t.Helper()
	pkiDir = t.TempDir()
	_, err := demo.WriteDev(pkiDir)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan string, 1)
	go func() {
		_ = demo.RunServer(ctx, demo.ServerConfig{Addr: "127.0.0.1:0", Dir: pkiDir, Root: pkiDir, Resource: resourceURI,
			RequireTokens: requireTokens, Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	return <-ready, pkiDir
}

func startGateway(t *testing.T, pkiDir string, c demo.GatewayConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	c.Addr, c.Dir, c.Out, c.Ready = "127.0.0.1:0", pkiDir, io.Discard, func(u string) { ready <- u }
	go func() { errc <- demo.RunGateway(ctx, c) }()
	select {
	case u := <-ready:
		return u
	case err := <-errc:
		t.Fatalf("gateway: %v", err)
	}
	return ""
}

var tsCalls = [][2]any{
	{"echo", map[string]any{"text": "hello from TypeScript"}},
	{"customer_lookup", map[string]any{"query": "*"}},
	{"fetch_page", map[string]any{"url": "https://docs.example.org/"}},
	{"read_file", map[string]any{"path": "/etc/passwd"}},
}

func checkTSReport(t *testing.T, rep tsReport) {
	t.Helper()
	require.Equal(t, []string{"customer_lookup", "echo", "fetch_page", "read_file"}, rep.Tools)
	require.Equal(t, "hello from TypeScript", rep.Calls[`echo:{"text":"hello from TypeScript"}`]["text"])
	lookup := rep.Calls[`customer_lookup:{"query":"*"}`]
	require.NotContains(t, lookup["text"], "eve@globex-inc.com")
	require.NotContains(t, lookup["text"], "4539 1488 0343 6467")
	require.Contains(t, lookup["text"], "[REDACTED:payment-card]")
	require.NotNil(t, lookup["findings"], "the TS client sees the findings in _meta")
	page := rep.Calls[`fetch_page:{"url":"https://docs.example.org/"}`]
	require.NotContains(t, page["text"], "\u202e")
	refused := rep.Calls[`read_file:{"path":"/etc/passwd"}`]["error"].(map[string]any)
	require.EqualValues(t, mcpguard.CodeInvalidArgument.JSONRPC(), refused["code"], "the typed refusal reaches the TS client: %v", refused)
	require.Contains(t, refused["message"], "mcpguard: invalid_argument")
}

// The official TypeScript SDK, with a client certificate, against the
// guarded example server and through the example gateway.
func TestTypeScriptClient(t *testing.T) {
	node := nodeDir(t)
	t.Run("server", func(t *testing.T) {
		url, pkiDir := startServer(t, false)
		checkTSReport(t, runTSClient(t, node, pkiDir, url, "", tsCalls))
	})
	t.Run("gateway", func(t *testing.T) {
		upstream, pkiDir := startServer(t, true)
		gw := startGateway(t, pkiDir, demo.GatewayConfig{Upstream: upstream, Resource: resourceURI})
		iss, err := demo.Issuer(pkiDir)
		require.NoError(t, err)
		session, err := iss.SessionToken(mcpguard.Subject{User: "alice@acme-corp.com", Tenant: "acme"}, 0)
		require.NoError(t, err)
		checkTSReport(t, runTSClient(t, node, pkiDir, gw, session, tsCalls))
	})
}

// Without the client certificate the TLS handshake itself fails: a raw
// node:tls probe sees the alert.
func TestTypeScriptSideHandshakeRejection(t *testing.T) {
	node := nodeDir(t)
	url, pkiDir := startServer(t, false)
	host, port, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/mcp"))
	require.NoError(t, err)
	probe := func(withCert bool) map[string]any {
		args := []string{"probe.mjs", host, port, filepath.Join(pkiDir, demo.Files.CA)}
		if withCert {
			args = append(args, filepath.Join(pkiDir, demo.Files.Client), filepath.Join(pkiDir, demo.Files.ClientKey))
		}
		cmd := exec.Command("node", args...)
		cmd.Dir = node
		out, err := cmd.Output()
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, json.Unmarshal(out, &v), "%s", out)
		return v
	}
	require.Equal(t, true, probe(true)["ok"])
	refused := probe(false)
	require.Equal(t, false, refused["ok"])
	require.Regexp(t, `(?i)alert|certificate`, refused["message"], "refused by a TLS alert: %v", refused)
}

// The reference server-everything over stdio, behind the gateway, knowing
// nothing of mcpguard: its tools list through the guard and its calls pass
// the pipeline.
func TestServerEverythingBehindGateway(t *testing.T) {
	node := nodeDir(t)
	pkiDir := t.TempDir()
	_, err := demo.WriteDev(pkiDir)
	require.NoError(t, err)
	cmd := "node " + filepath.Join(node, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js") + " stdio"
	gw := startGateway(t, pkiDir, demo.GatewayConfig{UpstreamCommand: cmd})
	dev, err := demo.LoadDev(pkiDir)
	require.NoError(t, err)
	iss, err := demo.Issuer(pkiDir)
	require.NoError(t, err)
	session, err := iss.SessionToken(mcpguard.Subject{User: "alice", Tenant: "acme"}, 0)
	require.NoError(t, err)
	hc := &http.Client{Transport: demo.Bearer(session, &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: dev.CAs, Certificates: []tls.Certificate{dev.Client}}})}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: gw, HTTPClient: hc, MaxRetries: -1}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	require.Contains(t, names, "echo")
	out, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo",
		Arguments: map[string]any{"message": "key AKIA4HK2WQ7ZNR5TXPLM"}})
	require.NoError(t, err)
	text := out.Content[0].(*mcp.TextContent).Text
	require.Contains(t, text, "[REDACTED:aws-access-key]", "inspected on the way back: %s", text)
}
