package mcpguard_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard"
)

// A guarded tool server: the server guard refuses calls outside policy before
// the tool handler runs, and a client sees the refusal as a typed error.
func ExampleGuard_ServerMiddleware() {
	ctx := context.Background()
	g, err := mcpguard.New(
		mcpguard.WithServerName("greeter"),
		mcpguard.WithPolicy(mcpguard.PolicyFunc(func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
			if c.Arguments["name"] == "root" {
				return mcpguard.Deny("greeting root is not allowed"), nil
			}
			return mcpguard.Allow(), nil
		})),
	)
	if err != nil {
		panic(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "v1"}, nil)
	type args struct {
		Name string `json:"name"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "greet"}, func(_ context.Context, _ *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello " + in.Name}}}, nil, nil
	})
	server.AddReceivingMiddleware(g.ServerMiddleware())

	st, ct := mcp.NewInMemoryTransports()
	ss, _ := server.Connect(ctx, st, nil)
	defer ss.Close()
	cs, _ := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "v1"}, nil).Connect(ctx, ct, nil)
	defer cs.Close()

	res, _ := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "ada"}})
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "root"}})
	fmt.Println(err)
	// Output:
	// hello ada
	// calling "tools/call": mcpguard: denied: greeting root is not allowed
}

// A guarded agent host: policy runs before anything is sent, responses are
// inspected before the model reads them, and every step is audited.
func ExampleGuard_ClientMiddleware() {
	ctx := context.Background()
	g, err := mcpguard.New(mcpguard.WithPolicy(mcpguard.PolicyFunc(
		func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
			if c.Tool == "delete_repo" {
				return mcpguard.Deny("destructive tools need approval"), nil
			}
			return mcpguard.Allow(), nil
		})))
	if err != nil {
		panic(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "v1"}, nil)
	client.AddSendingMiddleware(g.ClientMiddleware())

	server := mcp.NewServer(&mcp.Implementation{Name: "git", Version: "v1"}, nil)
	for _, name := range []string{"show_config", "delete_repo"} {
		server.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
					Text: "token = ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789",
				}}}, nil
			})
	}
	st, ct := mcp.NewInMemoryTransports()
	ss, _ := server.Connect(ctx, st, nil)
	defer ss.Close()
	cs, _ := client.Connect(ctx, ct, nil)
	defer cs.Close()

	ctx = mcpguard.WithIdentity(ctx, mcpguard.Identity{User: "alice", Session: "s1"})
	res, _ := cs.CallTool(ctx, &mcp.CallToolParams{Name: "show_config"})
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_repo"})
	var ge *mcpguard.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.Code, ge.Stage, ge.Message)
	}
	for _, r := range g.AuditLog().Query(mcpguard.AuditQuery{User: "alice"}) {
		fmt.Println(r.Seq, r.Kind, r.Tool, r.Outcome)
	}
	// Output:
	// token = [REDACTED:github-token]
	// denied policy destructive tools need approval
	// 0 decision show_config allow
	// 1 inspection show_config modified
	// 2 decision delete_repo deny
}
