// Command devpki writes a development PKI (CA, server, client and rogue
// certificates) and a token-service key to a folder, and mints session
// tokens for named dev users.
//
//	go run ./examples/devpki init  --dir ./dev
//	go run ./examples/devpki token --dir ./dev --user alice --tenant acme
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/demo"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: devpki init|token --dir DIR [--user U --tenant T]")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./dev", "folder for the PKI files")
	user := fs.String("user", "alice", "token: the user")
	tenant := fs.String("tenant", "acme", "token: the user's tenant")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch args[0] {
	case "init":
		d, err := demo.WriteDev(*dir)
		if err != nil {
			fmt.Fprintln(stderr, "devpki:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s: ca.pem, server.pem (localhost, 127.0.0.1), client.pem (agent-host), rogue-*.pem, issuer-key.pem\n", *dir)
		fmt.Fprintf(stdout, "server pin: %s\nclient pin: %s\n", mcpguard.SPKIPin(d.Server.Cert), mcpguard.SPKIPin(d.Client.Cert))
	case "token":
		iss, err := demo.Issuer(*dir)
		if err != nil {
			fmt.Fprintln(stderr, "devpki:", err)
			return 1
		}
		tok, err := iss.SessionToken(mcpguard.Subject{User: *user, Tenant: *tenant}, 0)
		if err != nil {
			fmt.Fprintln(stderr, "devpki:", err)
			return 1
		}
		fmt.Fprintln(stdout, tok)
	default:
		fmt.Fprintln(stderr, "usage: devpki init|token --dir DIR [--user U --tenant T]")
		return 2
	}
	return 0
}
