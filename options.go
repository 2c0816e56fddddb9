package mcpguard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An Option configures a [Guard]. Options are applied in order by [New]; a
// later option of the same kind replaces an earlier one unless its
// documentation says it accumulates.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is the guard's validated configuration.
type config struct {
	policies   []Policy
	audit      *AuditLog
	clock      func() time.Time
	serverName string
	inspect    inspectConfig

	// Stages that later controls fill in; nil means the control is off.
	catalog catalogStage
	minter  tokenMinter
	checker tokenChecker
	// tokenHeaderOnly keeps the per-call token out of _meta, for hosts whose
	// transports all carry it in the Authorization header.
	tokenHeaderOnly bool
}

// catalogStage is the tool catalog: it admits or refuses calls and filters
// tool lists.
type catalogStage interface {
	admitCall(ctx context.Context, call *Call) error
	filterTools(ctx context.Context, call *Call, res *mcp.ListToolsResult) (*mcp.ListToolsResult, error)
}

// tokenMinter is the client half of token exchange: it obtains the per-call
// token for an admitted call.
type tokenMinter interface {
	mint(ctx context.Context, call *Call, d Decision) (*Token, error)
}

// tokenChecker is the server half of token exchange: it verifies the token
// presented with a call and fills the call's identity from it.
type tokenChecker interface {
	check(ctx context.Context, call *Call, req mcp.Request, meta mcp.Meta) error
}

func defaultConfig() config {
	return config{
		clock:   time.Now,
		inspect: defaultInspectConfig(),
	}
}

// finish fills what depends on other options and validates the result.
func (c *config) finish() error {
	if c.audit == nil {
		c.audit = NewAuditLog()
	}
	return c.inspect.finish()
}

func optionError(option, format string, args ...any) error {
	return fmt.Errorf("mcpguard: %s: %s", option, fmt.Sprintf(format, args...))
}

// WithPolicy adds a policy that every tools/call, resources/read and
// prompts/get must pass, on the side the middleware runs. It accumulates:
// with several policies, all must allow; the first refusal wins.
func WithPolicy(p Policy) Option {
	return optionFunc(func(c *config) error {
		if p == nil {
			return optionError("WithPolicy", "policy is nil")
		}
		c.policies = append(c.policies, p)
		return nil
	})
}

// WithAuditLog sets the log the guard writes its records to. Without it the
// guard keeps an in-memory log, available from [Guard.AuditLog].
func WithAuditLog(log *AuditLog) Option {
	return optionFunc(func(c *config) error {
		if log == nil {
			return optionError("WithAuditLog", "log is nil")
		}
		c.audit = log
		return nil
	})
}

// WithServerName names the MCP server this guard protects (server side) or
// talks to (client side). It appears in [Call.Server] and in audit records.
// Without it the client side uses the name the server announced at
// initialization.
func WithServerName(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return optionError("WithServerName", "name is empty")
		}
		c.serverName = name
		return nil
	})
}

// WithClock sets the guard's time source. Tests use it to pin time; in
// production leave the default, time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		if now == nil {
			return optionError("WithClock", "clock is nil")
		}
		c.clock = now
		return nil
	})
}

// errNilOption is returned by New for a nil Option.
var errNilOption = errors.New("mcpguard: New: nil Option")
