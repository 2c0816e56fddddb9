// Command client is an agent host with the client guard (policy, token
// exchange, inspection, audit) calling the demo server over mutual TLS.
//
//	go run ./examples/client --dir ./dev --url https://127.0.0.1:8443/mcp --user alice --tenant acme
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/demo"
)

func main() {
	dir := flag.String("dir", "./dev", "dev PKI folder (examples/devpki)")
	url := flag.String("url", "https://127.0.0.1:8443/mcp", "server endpoint")
	user := flag.String("user", "alice", "the user")
	tenant := flag.String("tenant", "acme", "the user's tenant")
	resource := flag.String("resource", "https://files.mcpguard.test/mcp", "the server's resource URI (token audience)")
	root := flag.String("root", "/srv/docs", "the root read_file may read (argument policy)")
	flag.Parse()
	if err := run(context.Background(), *dir, *url, *user, *tenant, *resource, *root); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, url, user, tenant, resource, root string) error {
	dev, err := demo.LoadDev(dir)
	if err != nil {
		return err
	}
	iss, err := demo.Issuer(dir)
	if err != nil {
		return err
	}
	g, err := mcpguard.New(append(dev.ClientTransport(), mcpguard.WithTokenExchange(iss, resource),
		mcpguard.WithAgentID("demo-client"), mcpguard.WithTokenInHeaderOnly(), demo.Rules(root), demo.TenantOwnership())...)
	if err != nil {
		return err
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "demo-client", Version: "v1"}, nil)
	c.AddSendingMiddleware(g.ClientMiddleware())
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: g.HTTPClient(), MaxRetries: -1}, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	session, err := iss.SessionToken(mcpguard.Subject{User: user, Tenant: tenant}, 0)
	if err != nil {
		return err
	}
	ctx = mcpguard.WithIdentity(ctx, mcpguard.Identity{User: user, Tenant: tenant, SessionToken: session})
	for _, call := range []struct {
		tool string
		args map[string]any
	}{
		{"echo", map[string]any{"text": "hello"}},
		{"customer_lookup", map[string]any{"query": "*"}},
		{"fetch_page", map[string]any{"url": "https://docs.example.org/setup"}},
		{"read_file", map[string]any{"path": root + "/../../etc/passwd"}},
		{"fetch_page", map[string]any{"url": "https://169.254.169.254/latest/meta-data/"}},
	} {
		fmt.Printf("▶ %s %v\n", call.tool, call.args)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: call.tool, Arguments: call.args})
		var ge *mcpguard.Error
		switch {
		case errors.As(err, &ge):
			fmt.Printf("  ✗ %s (%s): %s\n", ge.Code, ge.Stage, ge.Message)
			continue
		case err != nil:
			return err
		}
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				fmt.Printf("  ✓ %s\n", t.Text)
			}
		}
		if f := res.Meta[mcpguard.MetaFindingsKey]; f != nil {
			fmt.Printf("  ⚑ %v\n", f)
		}
	}
	return nil
}
