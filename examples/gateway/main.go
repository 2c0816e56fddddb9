// Command gateway is the inline-gateway shape: an MCP server for agents
// (mutual TLS and session tokens) whose guard forwards each call to an
// upstream MCP server with a short-lived exchanged token, inspects responses
// and keeps the audit chain. The upstream may know nothing of mcpguard.
//
//	go run ./examples/gateway --dir ./dev --upstream https://127.0.0.1:8443/mcp --addr 127.0.0.1:9443
//	go run ./examples/gateway --dir ./dev --upstream-command "npx -y @modelcontextprotocol/server-everything stdio"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpguard/mcpguard/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "listen address")
	dir := flag.String("dir", "./dev", "dev PKI folder (examples/devpki)")
	upstream := flag.String("upstream", "", "guarded upstream endpoint (mutual TLS + per-call tokens)")
	command := flag.String("upstream-command", "", "stdio upstream command line")
	resource := flag.String("resource", "https://files.mcpguard.test/mcp", "the upstream's resource URI (token audience)")
	audit := flag.String("audit", "", "audit log file (default: in memory)")
	auditSync := flag.Duration("audit-sync", 0, "acknowledge audit records once written and fsync within this interval (0: fsync before acknowledging)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.RunGateway(ctx, demo.GatewayConfig{Addr: *addr, Dir: *dir, Upstream: *upstream, UpstreamCommand: *command,
		Resource: *resource, AuditPath: *audit, AuditSync: *auditSync, Out: os.Stdout}); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	fmt.Println("gateway: stopped; audit log flushed")
}
