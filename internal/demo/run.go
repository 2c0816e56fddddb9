package demo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard"
)

// ServerConfig configures RunServer.
type ServerConfig struct {
	Addr, Dir, Root, AuditPath string
	// AuditSync is the audit file's sync interval (0: fsync per commit).
	AuditSync time.Duration
	// Resource is the server's resource URI, the audience of its tokens.
	Resource string
	// RequireTokens accepts tools/call only with per-call tokens.
	RequireTokens bool
	Out           io.Writer
	// Ready is called with the endpoint URL once the server listens.
	Ready func(url string)
}

func openAudit(path string, sync time.Duration) (*mcpguard.AuditLog, error) {
	if path == "" {
		return mcpguard.NewAuditLog(mcpguard.WithRetainedRecords(10_000)), nil
	}
	return mcpguard.OpenAuditLog(path, mcpguard.WithSyncInterval(sync))
}

// serveTLS serves h on addr with cfg until ctx ends, then shuts down.
func serveTLS(ctx context.Context, addr string, cfg *tls.Config, h http.Handler, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, cfg)) }()
	ready("https://" + ln.Addr().String() + "/mcp")
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// RunServer runs the guarded demo server until ctx ends, then flushes and
// closes the audit log.
func RunServer(ctx context.Context, c ServerConfig) error {
	dev, err := LoadDev(c.Dir)
	if err != nil {
		return err
	}
	audit, err := openAudit(c.AuditPath, c.AuditSync)
	if err != nil {
		return err
	}
	defer audit.Close()
	opts := append(dev.ServerTransport(), mcpguard.WithServerName("files"), mcpguard.WithAuditLog(audit),
		Rules(c.Root), TenantOwnership())
	if c.RequireTokens {
		iss, err := Issuer(c.Dir)
		if err != nil {
			return err
		}
		v, err := mcpguard.NewTokenVerifier(iss.URL(), c.Resource, iss)
		if err != nil {
			return err
		}
		opts = append(opts, mcpguard.WithTokenVerifier(v))
	}
	g, err := mcpguard.New(opts...)
	if err != nil {
		return err
	}
	s := Server(c.Root)
	s.AddReceivingMiddleware(g.ServerMiddleware())
	mux := http.NewServeMux()
	mux.Handle("/mcp", g.HTTPHandler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)))
	return serveTLS(ctx, c.Addr, g.ServerTLSConfig(), mux, func(url string) {
		fmt.Fprintf(c.Out, "mcpguard demo server listening on %s (mutual TLS; per-call tokens required: %v)\n", url, c.RequireTokens)
		if c.Ready != nil {
			c.Ready(url)
		}
	})
}

// GatewayConfig configures RunGateway.
type GatewayConfig struct {
	Addr, Dir, AuditPath string
	// AuditSync is the audit file's sync interval (0: fsync per commit).
	AuditSync time.Duration
	// Upstream is a guarded server's endpoint (mutual TLS and per-call
	// tokens); UpstreamCommand a stdio server that knows nothing of
	// mcpguard. One of them.
	Upstream, UpstreamCommand string
	// Resource is the upstream's resource URI (token audience).
	Resource string
	Out      io.Writer
	Ready    func(url string)
}

// RunGateway runs the inline gateway until ctx ends: an MCP server for
// agents (mutual TLS and session tokens) whose tools are the upstream's,
// each call forwarded with a per-call token (to a guarded upstream),
// checked, inspected and audited.
func RunGateway(ctx context.Context, c GatewayConfig) error {
	dev, err := LoadDev(c.Dir)
	if err != nil {
		return err
	}
	iss, err := Issuer(c.Dir)
	if err != nil {
		return err
	}
	audit, err := openAudit(c.AuditPath, c.AuditSync)
	if err != nil {
		return err
	}
	defer audit.Close()

	// Upstream side: a client guard.
	upOpts := []mcpguard.Option{mcpguard.WithAuditLog(audit)}
	var transport mcp.Transport
	switch {
	case c.Upstream != "":
		upOpts = append(append(upOpts, dev.ClientTransport()...), mcpguard.WithTokenExchange(iss, c.Resource),
			mcpguard.WithAgentID("mcpguard-gateway"), mcpguard.WithTokenInHeaderOnly())
	case c.UpstreamCommand != "":
		f := strings.Fields(c.UpstreamCommand)
		transport = &mcp.CommandTransport{Command: exec.CommandContext(ctx, f[0], f[1:]...)}
	default:
		return errors.New("gateway: an upstream URL or command is required")
	}
	up, err := mcpguard.New(upOpts...)
	if err != nil {
		return err
	}
	if transport == nil {
		transport = &mcp.StreamableClientTransport{Endpoint: c.Upstream, HTTPClient: up.HTTPClient(), MaxRetries: -1}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpguard-gateway", Version: "v1"}, nil)
	client.AddSendingMiddleware(up.ClientMiddleware())
	ucs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return fmt.Errorf("gateway: connecting upstream: %w", err)
	}
	defer ucs.Close()

	// Agent side: a server guard, with the upstream's tools.
	down, err := mcpguard.New(append(dev.ServerTransport(), mcpguard.WithServerName("gateway"), mcpguard.WithAuditLog(audit),
		TenantOwnership())...)
	if err != nil {
		return err
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpguard-gateway", Version: "v1"}, nil)
	n := 0
	for t, err := range ucs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("gateway: listing upstream tools: %w", err)
		}
		if t.InputSchema == nil {
			t.InputSchema = map[string]any{"type": "object"}
		}
		name := t.Name
		s.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args := req.Params.Arguments
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			return ucs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		})
		n++
	}
	s.AddReceivingMiddleware(down.ServerMiddleware())
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", down.HTTPHandler(sessionAuth(iss, h)))
	return serveTLS(ctx, c.Addr, down.ServerTLSConfig(), mux, func(url string) {
		fmt.Fprintf(c.Out, "mcpguard gateway listening on %s (mutual TLS + session tokens), %d upstream tools\n", url, n)
		if c.Ready != nil {
			c.Ready(url)
		}
	})
}

// sessionAuth accepts requests bearing a session token of the dev token
// service and attaches the user's identity (with the token, for exchange).
func sessionAuth(iss *mcpguard.Issuer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var sub *mcpguard.Subject
		var err error
		if ok {
			sub, err = iss.VerifySessionToken(r.Context(), tok)
		}
		if !ok || err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpguard-gateway"`)
			http.Error(w, "mcpguard: unauthenticated: a valid session token is required", http.StatusUnauthorized)
			return
		}
		ctx := mcpguard.WithIdentity(r.Context(), mcpguard.Identity{User: sub.User, Tenant: sub.Tenant, Session: sub.Session,
			Roles: sub.Roles, SessionToken: tok})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Bearer returns a RoundTripper that sends token as a bearer token on every
// request, as an agent presenting its session token to the gateway does.
func Bearer(token string, base http.RoundTripper) http.RoundTripper {
	return bearer{token: token, base: base}
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}
