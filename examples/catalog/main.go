// Command catalog records and checks tool catalogs.
//
//	catalog snapshot --name NAME (--url URL | --command "CMD ARGS…") [--ca CA.pem --cert C.pem --key K.pem] [--out FILE]
//	catalog check    --catalog FILE --name NAME (--url URL | --command "CMD ARGS…") [TLS flags]
//
// snapshot lists every tool a trusted server offers (all pages) and writes
// the catalog file for review. check compares a server's tools with a
// reviewed catalog and exits 1 on any difference, with what changed.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 || (args[0] != "snapshot" && args[0] != "check") {
		fmt.Fprintln(stderr, "usage: catalog snapshot|check --name NAME (--url URL | --command CMD) [--catalog FILE] [--out FILE] [--ca --cert --key]")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "server name in the catalog")
	url := fs.String("url", "", "Streamable HTTP endpoint")
	command := fs.String("command", "", "stdio server command line")
	out := fs.String("out", "", "snapshot: file to write (default stdout)")
	catalogFile := fs.String("catalog", "", "check: the reviewed catalog file")
	ca := fs.String("ca", "", "CA certificate (PEM) for https")
	cert := fs.String("cert", "", "client certificate (PEM) for mutual TLS")
	key := fs.String("key", "", "client key (PEM) for mutual TLS")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *name == "" || (*url == "") == (*command == "") {
		fmt.Fprintln(stderr, "catalog: need --name and exactly one of --url or --command")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	transport, err := transportFor(*url, *command, *ca, *cert, *key)
	if err != nil {
		fmt.Fprintln(stderr, "catalog:", err)
		return 2
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcpguard-catalog", Version: "v1"}, nil).Connect(ctx, transport, nil)
	if err != nil {
		fmt.Fprintln(stderr, "catalog: connecting:", err)
		return 2
	}
	defer cs.Close()
	if args[0] == "snapshot" {
		c, err := mcpguard.SnapshotCatalog(ctx, cs, *name)
		if err != nil {
			fmt.Fprintln(stderr, "catalog:", err)
			return 2
		}
		b, _ := c.MarshalJSON()
		if *out == "" {
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		if err := c.Save(*out); err != nil {
			fmt.Fprintln(stderr, "catalog:", err)
			return 2
		}
		fmt.Fprintf(stdout, "wrote %s: review it, commit it, load it with mcpguard.LoadCatalog\n", *out)
		return 0
	}
	reviewed, err := mcpguard.LoadCatalog(*catalogFile)
	if err != nil {
		fmt.Fprintln(stderr, "catalog:", err)
		return 2
	}
	g, err := mcpguard.New(mcpguard.WithCatalog(reviewed), mcpguard.WithServerName(*name), mcpguard.WithoutDefaultRules())
	if err != nil {
		fmt.Fprintln(stderr, "catalog:", err)
		return 2
	}
	// Run the server's list through a guard and report what it refused.
	checker := mcp.NewClient(&mcp.Implementation{Name: "mcpguard-catalog", Version: "v1"}, nil)
	checker.AddSendingMiddleware(g.ClientMiddleware())
	transport2, _ := transportFor(*url, *command, *ca, *cert, *key)
	cs2, err := checker.Connect(ctx, transport2, nil)
	if err != nil {
		fmt.Fprintln(stderr, "catalog: connecting:", err)
		return 2
	}
	defer cs2.Close()
	n := 0
	for _, err := range cs2.Tools(ctx, nil) {
		if err != nil {
			fmt.Fprintln(stderr, "catalog:", err)
			return 2
		}
		n++
	}
	refused := g.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindCatalog})
	for _, r := range refused {
		fmt.Fprintf(stdout, "%s: %s\n", r.Outcome, r.Reason)
	}
	if len(refused) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "OK: %d tools match the catalog\n", n)
	return 0
}

func transportFor(url, command, ca, cert, key string) (mcp.Transport, error) {
	if command != "" {
		f := strings.Fields(command)
		return &mcp.CommandTransport{Command: exec.Command(f[0], f[1:]...)}, nil
	}
	hc := http.DefaultClient
	if ca != "" || cert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("no certificate in --ca")
			}
		}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	return &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil
}
