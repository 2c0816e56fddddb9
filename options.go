package mcpguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mcpguard/mcpguard/internal/certreload"
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
	transport  transportConfig

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
		clock:     time.Now,
		inspect:   defaultInspectConfig(),
		transport: transportConfig{minVersion: tls.VersionTLS13, failLimit: 20},
	}
}

// finish fills what depends on other options and validates the result.
func (c *config) finish() error {
	if c.audit == nil {
		c.audit = NewAuditLog()
	}
	if err := c.transport.finish(); err != nil {
		return err
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

// WithCertificate sets the guard's own certificate: the server certificate
// on the server side, the client certificate on the client side. Setting it
// turns mutual TLS on; [WithTrustedCAs] is then required.
func WithCertificate(cert tls.Certificate) Option {
	return optionFunc(func(c *config) error {
		if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
			return optionError("WithCertificate", "certificate or private key is missing")
		}
		if cert.Leaf == nil {
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return optionError("WithCertificate", "parsing leaf: %v", err)
			}
			cert.Leaf = leaf
		}
		c.transport.cert, c.transport.reloader = &cert, nil
		return nil
	})
}

// WithCertificateFiles is [WithCertificate] from PEM files. The files are
// re-read when they change, so rotated certificates take effect on the next
// handshake without a restart; during a half-finished rotation the previous
// pair keeps being used.
func WithCertificateFiles(certFile, keyFile string) Option {
	return optionFunc(func(c *config) error {
		r, err := certreload.New(certFile, keyFile)
		if err != nil {
			return optionError("WithCertificateFiles", "%v", err)
		}
		c.transport.reloader, c.transport.cert = r, nil
		return nil
	})
}

// WithTrustedCAs sets the roots that peer certificates must chain to.
func WithTrustedCAs(pool *x509.CertPool) Option {
	return optionFunc(func(c *config) error {
		if pool == nil {
			return optionError("WithTrustedCAs", "pool is nil")
		}
		c.transport.roots = pool
		return nil
	})
}

// WithPeerPins accepts only peers whose leaf public key has one of the given
// SHA-256 SPKI pins (see [SPKIPin], [ParsePin]). Give old and new pins
// together during a rotation. For rotation without a restart use
// [WithPeerPinSet].
func WithPeerPins(pins ...string) Option {
	return optionFunc(func(c *config) error {
		s, err := NewPinSet(pins...)
		if err != nil {
			return optionError("WithPeerPins", "%v", err)
		}
		c.transport.pins = s
		return nil
	})
}

// WithPeerPinSet is [WithPeerPins] with a set the caller can update at run
// time.
func WithPeerPinSet(s *PinSet) Option {
	return optionFunc(func(c *config) error {
		if s == nil || s.pins.Load() == nil {
			return optionError("WithPeerPinSet", "pin set is nil or empty")
		}
		c.transport.pins = s
		return nil
	})
}

// WithPeerAuthorizer adds a check on the verified peer, e.g.
// [AuthorizeURIs] for SPIFFE IDs.
func WithPeerAuthorizer(a Authorizer) Option {
	return optionFunc(func(c *config) error {
		if a == nil {
			return optionError("WithPeerAuthorizer", "authorizer is nil")
		}
		c.transport.authorizer = a
		return nil
	})
}

// WithMinTLSVersion sets the lowest TLS version accepted (default TLS 1.3;
// TLS 1.2 is the lowest allowed).
func WithMinTLSVersion(v uint16) Option {
	return optionFunc(func(c *config) error {
		if v != tls.VersionTLS12 && v != tls.VersionTLS13 {
			return optionError("WithMinTLSVersion", "version must be tls.VersionTLS12 or tls.VersionTLS13")
		}
		c.transport.minVersion = v
		return nil
	})
}

// WithHandshakeFailureAuditLimit bounds how many refused handshakes per
// second are recorded one by one (default 20); further refusals are counted
// and the count is carried by the next record, so a flood cannot grow the
// log without bound.
func WithHandshakeFailureAuditLimit(perSecond int) Option {
	return optionFunc(func(c *config) error {
		if perSecond < 1 {
			return optionError("WithHandshakeFailureAuditLimit", "limit must be at least 1")
		}
		c.transport.failLimit = perSecond
		return nil
	})
}
