// Command server is a guarded MCP server over Streamable HTTP with mutual
// TLS and per-call token verification, exposing demo tools that exercise
// every control: echo, a file reader confined to a root, a customer lookup
// returning personal data of two tenants, and a web-page fetcher whose pages
// carry prompt injection.
//
//	go run ./examples/devpki init --dir ./dev
//	go run ./examples/server --dir ./dev --root ./docs --addr 127.0.0.1:8443 --audit server-audit.log
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mcpguard/mcpguard/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address")
	dir := flag.String("dir", "./dev", "dev PKI folder (examples/devpki)")
	root := flag.String("root", ".", "folder read_file may read")
	audit := flag.String("audit", "", "audit log file (default: in memory)")
	auditSync := flag.Duration("audit-sync", 0, "acknowledge audit records once written and fsync within this interval (0: fsync before acknowledging)")
	resource := flag.String("resource", "https://files.mcpguard.test/mcp", "this server's resource URI (token audience)")
	tokens := flag.Bool("require-tokens", true, "accept tools/call only with per-call tokens")
	flag.Parse()
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.RunServer(ctx, demo.ServerConfig{Addr: *addr, Dir: *dir, Root: absRoot, AuditPath: *audit, AuditSync: *auditSync,
		Resource: *resource, RequireTokens: *tokens, Out: os.Stdout}); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Println("server: stopped; audit log flushed")
}
