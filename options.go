package mcpguard

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpguard/mcpguard/internal/argrules"
	"github.com/mcpguard/mcpguard/internal/certreload"
	"github.com/mcpguard/mcpguard/internal/jwtx"
	"github.com/mcpguard/mcpguard/internal/keyring"
	"github.com/mcpguard/mcpguard/internal/replay"
	"github.com/mcpguard/mcpguard/internal/sts"
	"github.com/mcpguard/mcpguard/internal/toolcat"
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
	catalog         catalogStage
	catalogSet      *Catalog
	catalogFail     bool
	acceptedChanges map[string]bool
	argRules        map[string]*argrules.Set

	exchange *exchangeStage // client side; nil: no token exchange
	verifier *TokenVerifier // server side; nil: no token check
	// tokenHeaderOnly keeps the per-call token out of _meta, for hosts whose
	// transports all carry it in the Authorization header.
	tokenHeaderOnly bool
	// commitBeforeReturn makes audit records durable only before the guard
	// returns, not also before it acts.
	commitBeforeReturn bool
}

// catalogStage is the tool catalog: it admits or refuses calls and filters
// tool lists.
type catalogStage interface {
	admitCall(ctx context.Context, call *Call) error
	filterTools(ctx context.Context, call *Call, res *mcp.ListToolsResult) (*mcp.ListToolsResult, error)
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
		// The default log keeps the newest records for queries; the chain
		// and the Merkle tree still cover everything.
		c.audit = NewAuditLog(WithRetainedRecords(defaultRetained))
	}
	if c.exchange != nil && c.exchange.ex == nil {
		return optionError("WithTokenExchange", "WithTokenTTL, WithTokenExchangeTimeout and WithAgentID need WithTokenExchange")
	}
	if c.catalogSet == nil && (c.catalogFail || c.acceptedChanges != nil) {
		return optionError("WithCatalog", "WithUnknownToolsFailList and WithAcceptedToolChanges need WithCatalog")
	}
	if err := c.transport.finish(); err != nil {
		return err
	}
	return c.inspect.finish()
}

// defaultRetained is how many records the guard's default in-memory log
// keeps for queries.
const defaultRetained = 10_000

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

// WithTokenExchange turns on per-call token exchange on the client side: for
// every tools/call that catalog and policy allowed, the session token of the
// call's [Identity] is exchanged with ex for a token with audience audience
// (the MCP server's resource URI, RFC 8707), scope tools:call:<tool>, bound
// to the arguments, the request id and (with mutual TLS) the client
// certificate. Without a session token the call is refused.
func WithTokenExchange(ex TokenExchanger, audience string) Option {
	return optionFunc(func(c *config) error {
		if ex == nil {
			return optionError("WithTokenExchange", "exchanger is nil")
		}
		if u, err := url.Parse(audience); err != nil || !u.IsAbs() || u.Fragment != "" {
			return optionError("WithTokenExchange", "audience %q must be an absolute URI without a fragment", audience)
		}
		if c.exchange == nil {
			c.exchange = newExchangeStage()
		}
		c.exchange.ex, c.exchange.audience = ex, audience
		return nil
	})
}

// WithTokenTTL sets the longest lifetime requested for per-call tokens
// (default 60 s, at most 10 min).
func WithTokenTTL(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 || d > 10*time.Minute {
			return optionError("WithTokenTTL", "ttl must be between 0 and 10m")
		}
		if c.exchange == nil {
			c.exchange = newExchangeStage()
		}
		c.exchange.ttl = d
		return nil
	})
}

// WithTokenExchangeTimeout bounds each exchange (default 5 s); when it
// passes, the call is refused with [CodeUnavailable] and nothing is sent.
func WithTokenExchangeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return optionError("WithTokenExchangeTimeout", "timeout must be positive")
		}
		if c.exchange == nil {
			c.exchange = newExchangeStage()
		}
		c.exchange.timeout = d
		return nil
	})
}

// WithAgentID names the agent host; the embedded issuer puts it in the
// per-call token's "act" claim.
func WithAgentID(id string) Option {
	return optionFunc(func(c *config) error {
		if id == "" {
			return optionError("WithAgentID", "id is empty")
		}
		if c.exchange == nil {
			c.exchange = newExchangeStage()
		}
		c.exchange.actor = id
		return nil
	})
}

// WithTokenInHeaderOnly keeps the per-call token out of the request's _meta:
// for hosts whose servers are all reached through [Guard.HTTPClient], which
// sends it in the Authorization header. In-memory and stdio transports need
// _meta.
func WithTokenInHeaderOnly() Option {
	return optionFunc(func(c *config) error {
		c.tokenHeaderOnly = true
		return nil
	})
}

// WithTokenVerifier makes the server side accept tools/call only with a
// per-call token that v verifies and that matches the call: tool, canonical
// arguments, request id, client certificate (when mutual TLS is on), used
// once. The token's subject, tenant and session become the call's identity.
// A session token presented directly is refused.
func WithTokenVerifier(v *TokenVerifier) Option {
	return optionFunc(func(c *config) error {
		if v == nil {
			return optionError("WithTokenVerifier", "verifier is nil")
		}
		c.verifier = v
		return nil
	})
}

// issuerConfig collects [IssuerOption]s.
type issuerConfig struct {
	alg        string
	key        crypto.Signer
	maxTTL     time.Duration
	sessionTTL time.Duration
	clock      func() time.Time
	subjects   SubjectValidator
	clients    map[string]string
	audiences  []string
	keep       int
}

// IssuerOption configures [NewIssuer].
type IssuerOption func(*issuerConfig) error

// WithSigningAlgorithm generates the issuer's key for alg: "ES256" (the
// default), "EdDSA" (fastest to sign and verify) or "RS256".
func WithSigningAlgorithm(alg string) IssuerOption {
	return func(c *issuerConfig) error {
		if _, err := keyring.Generate(alg); err != nil {
			return fmt.Errorf("mcpguard: WithSigningAlgorithm: %w", err)
		}
		c.alg = alg
		return nil
	}
}

// WithSigningKey uses key (ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 bits)
// instead of generating one.
func WithSigningKey(key crypto.Signer) IssuerOption {
	return func(c *issuerConfig) error {
		if key == nil {
			return errors.New("mcpguard: WithSigningKey: key is nil")
		}
		if _, err := jwtx.AlgorithmFor(key.Public()); err != nil {
			return fmt.Errorf("mcpguard: WithSigningKey: %w", err)
		}
		c.key = key
		return nil
	}
}

// WithMaxTokenTTL caps the lifetime of per-call tokens (default 5 min).
func WithMaxTokenTTL(d time.Duration) IssuerOption {
	return func(c *issuerConfig) error {
		if d <= 0 {
			return errors.New("mcpguard: WithMaxTokenTTL: ttl must be positive")
		}
		c.maxTTL = d
		return nil
	}
}

// WithSessionTTL sets the default lifetime of session tokens (default 8 h).
func WithSessionTTL(d time.Duration) IssuerOption {
	return func(c *issuerConfig) error {
		if d <= 0 {
			return errors.New("mcpguard: WithSessionTTL: ttl must be positive")
		}
		c.sessionTTL = d
		return nil
	}
}

// WithIssuerClock sets the issuer's time source, for tests.
func WithIssuerClock(now func() time.Time) IssuerOption {
	return func(c *issuerConfig) error {
		if now == nil {
			return errors.New("mcpguard: WithIssuerClock: clock is nil")
		}
		c.clock = now
		return nil
	}
}

// WithSubjectValidator makes the issuer accept subject tokens that v
// validates (e.g. the enterprise IdP's), instead of its own session tokens.
func WithSubjectValidator(v SubjectValidator) IssuerOption {
	return func(c *issuerConfig) error {
		if v == nil {
			return errors.New("mcpguard: WithSubjectValidator: validator is nil")
		}
		c.subjects = v
		return nil
	}
}

// WithIssuerClient requires HTTP clients of the token endpoint to
// authenticate (client_secret_basic or client_secret_post); the client id
// becomes the "act" of the tokens it obtains. It accumulates.
func WithIssuerClient(id, secret string) IssuerOption {
	return func(c *issuerConfig) error {
		if id == "" || len(secret) < 16 {
			return errors.New("mcpguard: WithIssuerClient: id is empty or secret shorter than 16 bytes")
		}
		if c.clients == nil {
			c.clients = map[string]string{}
		}
		c.clients[id] = secret
		return nil
	}
}

// WithAudiences limits the resources the issuer mints tokens for.
func WithAudiences(audiences ...string) IssuerOption {
	return func(c *issuerConfig) error {
		if len(audiences) == 0 {
			return errors.New("mcpguard: WithAudiences: no audience")
		}
		c.audiences = audiences
		return nil
	}
}

// RemoteExchangerOption configures [NewRemoteExchanger].
type RemoteExchangerOption func(*RemoteExchanger) error

// WithClientSecretBasic authenticates to the STS with client_secret_basic.
func WithClientSecretBasic(id, secret string) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if id == "" || secret == "" {
			return errors.New("mcpguard: WithClientSecretBasic: id and secret are required")
		}
		r.c.Auth = sts.BasicAuth{ID: id, Secret: secret}
		return nil
	}
}

// WithPrivateKeyJWT authenticates to the STS with private_key_jwt (RFC 7523):
// a short-lived assertion signed with key, carrying kid.
func WithPrivateKeyJWT(id string, key crypto.Signer, kid string) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if id == "" || key == nil {
			return errors.New("mcpguard: WithPrivateKeyJWT: id and key are required")
		}
		alg, err := jwtx.AlgorithmFor(key.Public())
		if err != nil {
			return fmt.Errorf("mcpguard: WithPrivateKeyJWT: %w", err)
		}
		r.c.Auth = sts.PrivateKeyJWT{ID: id, Assert: func(aud string) (string, error) {
			now := r.now()
			c := &jwtx.Claims{Issuer: id, Subject: id, Audience: jwtx.Audience{aud}, IssuedAt: now.Unix(),
				Expiry: now.Add(time.Minute).Unix(), ID: newRequestID()}
			b, err := jwtx.Sign(c, "JWT", kid, alg, key)
			return string(b), err
		}}
		return nil
	}
}

// WithExchangeHTTPClient sets the HTTP client used to reach the STS (for
// mutual TLS to the STS, proxies, tracing).
func WithExchangeHTTPClient(hc *http.Client) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if hc == nil {
			return errors.New("mcpguard: WithExchangeHTTPClient: client is nil")
		}
		r.c.HTTP = hc
		return nil
	}
}

// WithExchangeRetries sets how often a 5xx answer or network error is
// retried (default 2) and the first backoff (default 100 ms, doubling).
func WithExchangeRetries(n int, backoff time.Duration) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if n < 0 || n > 10 || backoff < 0 {
			return errors.New("mcpguard: WithExchangeRetries: retries must be 0..10 and backoff non-negative")
		}
		r.c.Retries, r.c.Backoff = n, backoff
		return nil
	}
}

// WithExchangeTimeout bounds one exchange including retries (default 5 s).
func WithExchangeTimeout(d time.Duration) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if d <= 0 {
			return errors.New("mcpguard: WithExchangeTimeout: timeout must be positive")
		}
		r.timeout = d
		return nil
	}
}

// WithSubjectTokenType sets the subject_token_type sent (default
// urn:ietf:params:oauth:token-type:access_token).
func WithSubjectTokenType(t string) RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		if !strings.HasPrefix(t, "urn:") {
			return errors.New("mcpguard: WithSubjectTokenType: not a token type URN")
		}
		r.tokenType = t
		return nil
	}
}

// TokenVerifierOption configures [NewTokenVerifier].
type TokenVerifierOption func(*TokenVerifier) error

// WithClockSkew sets the tolerance for exp, nbf and iat (default 30 s, at
// most 5 min).
func WithClockSkew(d time.Duration) TokenVerifierOption {
	return func(v *TokenVerifier) error {
		if d < 0 || d > 5*time.Minute {
			return errors.New("mcpguard: WithClockSkew: skew must be between 0 and 5m")
		}
		v.skew = d
		return nil
	}
}

// WithVerifierClock sets the verifier's time source, for tests.
func WithVerifierClock(now func() time.Time) TokenVerifierOption {
	return func(v *TokenVerifier) error {
		if now == nil {
			return errors.New("mcpguard: WithVerifierClock: clock is nil")
		}
		v.clock = now
		return nil
	}
}

// WithReplayCacheSize bounds the number of live token ids remembered
// (default 1,048,576). When it is full, new tokens are refused.
func WithReplayCacheSize(n int) TokenVerifierOption {
	return func(v *TokenVerifier) error {
		if n < 1 {
			return errors.New("mcpguard: WithReplayCacheSize: size must be positive")
		}
		v.replay = replay.New(n)
		return nil
	}
}

// WithoutCallBinding accepts tokens that are not bound to a tool and
// arguments, for STSs that cannot issue bound tokens. The tool scope is still
// required. This weakens the defense against argument tampering: prefer an
// STS that supports binding (the embedded [Issuer] does).
func WithoutCallBinding() TokenVerifierOption {
	return func(v *TokenVerifier) error {
		v.unbound = true
		return nil
	}
}

// WithAcceptedTokenTypes replaces the accepted JWS "typ" values of per-call
// tokens (default only "at+jwt", RFC 9068). Some STSs mark access tokens
// "JWT"; accepting that also accepts their other JWTs if audience and scope
// match, so pair it with an audience that only per-call tokens carry.
func WithAcceptedTokenTypes(types ...string) TokenVerifierOption {
	return func(v *TokenVerifier) error {
		if len(types) == 0 {
			return errors.New("mcpguard: WithAcceptedTokenTypes: no type")
		}
		v.types = types
		return nil
	}
}

// WithAudienceParameter also sends the resource URI as the RFC 8693
// "audience" parameter, for STSs that take the target there.
func WithAudienceParameter() RemoteExchangerOption {
	return func(r *RemoteExchanger) error {
		r.sendAudience = true
		return nil
	}
}

// WithCatalog checks tools against the known-good catalog c: on the client,
// every tools/list page (unknown, shadowing, changed and poisoned tools are
// removed and audited) and every tools/call (tools not pinned for the server
// and tools whose offered definition was refused are refused; arguments must
// match the pinned input schema); on the server, every tools/call.
func WithCatalog(c *Catalog) Option {
	return optionFunc(func(cfg *config) error {
		if c == nil {
			return optionError("WithCatalog", "catalog is nil")
		}
		cfg.catalogSet = c
		return nil
	})
}

// WithUnknownToolsFailList makes a tools/list with any unknown, shadowing
// or changed tool fail as a whole instead of losing those tools.
func WithUnknownToolsFailList() Option {
	return optionFunc(func(cfg *config) error {
		cfg.catalogFail = true
		return nil
	})
}

// WithAcceptedToolChanges accepts changed tool definitions whose every
// change is in one of the given classes ("rewording", "annotations",
// "output-schema", …; see the README). Accepted changes are still audited.
// "instruction", "new-parameter" and "changed-parameter" can be listed but
// defeat the purpose of pinning.
func WithAcceptedToolChanges(classes ...string) Option {
	return optionFunc(func(cfg *config) error {
		known := []string{toolcat.Rewording, toolcat.Instruction, toolcat.NewParameter, toolcat.RemovedParameter,
			toolcat.ChangedParameter, toolcat.RequiredChanged, toolcat.Annotations, toolcat.OutputSchema, toolcat.OtherSchema}
		for _, c := range classes {
			if !slices.Contains(known, c) {
				return optionError("WithAcceptedToolChanges", "unknown change class %q", c)
			}
			if cfg.acceptedChanges == nil {
				cfg.acceptedChanges = map[string]bool{}
			}
			cfg.acceptedChanges[c] = true
		}
		return nil
	})
}

// WithArgumentRules adds declarative argument rules (see [ArgumentRules]).
// It accumulates; rules for the same tool are merged.
func WithArgumentRules(rules ...ArgumentRules) Option {
	return optionFunc(func(cfg *config) error {
		for _, r := range rules {
			if r.Tool == "" {
				return optionError("WithArgumentRules", "rules without a tool name")
			}
			set, err := compileRules(&r)
			if err != nil {
				return optionError("WithArgumentRules", "tool %q: %v", r.Tool, err)
			}
			if cfg.argRules == nil {
				cfg.argRules = map[string]*argrules.Set{}
			}
			if prev, ok := cfg.argRules[r.Tool]; ok {
				for k, v := range set.Args {
					prev.Args[k] = append(prev.Args[k], v...)
				}
				prev.ForbiddenKeys = append(prev.ForbiddenKeys, set.ForbiddenKeys...)
				prev.MaxBytes = max(prev.MaxBytes, set.MaxBytes)
				continue
			}
			cfg.argRules[r.Tool] = set
		}
		return nil
	})
}

func compileRules(r *ArgumentRules) (*argrules.Set, error) {
	s := &argrules.Set{Args: map[string][]argrules.Checker{}, ForbiddenKeys: r.ForbiddenKeys, MaxBytes: r.MaxBytes}
	for arg, p := range r.Paths {
		if len(p.Roots) == 0 {
			return nil, fmt.Errorf("path rule for %q has no roots", arg)
		}
		for _, root := range p.Roots {
			if !strings.HasPrefix(root, "/") {
				return nil, fmt.Errorf("root %q is not absolute", root)
			}
		}
		s.Args[arg] = append(s.Args[arg], &argrules.Path{Roots: p.Roots, AllowRelative: p.AllowRelative, ResolveSymlinks: p.ResolveSymlinks})
	}
	for arg, u := range r.URLs {
		s.Args[arg] = append(s.Args[arg], &argrules.URL{Schemes: u.Schemes, Hosts: u.Hosts, AllowInternal: u.AllowInternal})
	}
	for arg, n := range r.Numbers {
		if n.Min > n.Max {
			return nil, fmt.Errorf("number rule for %q has min > max", arg)
		}
		lo, hi := n.Min, n.Max
		s.Args[arg] = append(s.Args[arg], &argrules.Number{Min: &lo, Max: &hi, Integer: n.Integer})
	}
	for arg, st := range r.Strings {
		c := &argrules.String{MaxLen: st.MaxLen}
		if st.Pattern != "" {
			re, err := regexp.Compile(st.Pattern)
			if err != nil {
				return nil, fmt.Errorf("pattern for %q: %v", arg, err)
			}
			c.Pattern = re
		}
		s.Args[arg] = append(s.Args[arg], c)
	}
	for arg, vals := range r.Enums {
		if len(vals) == 0 {
			return nil, fmt.Errorf("enum for %q is empty", arg)
		}
		s.Args[arg] = append(s.Args[arg], &argrules.Enum{Values: vals})
	}
	return s, nil
}

// WithAuditCommitBeforeReturn makes a request's audit records durable once,
// before the guard returns its result or refusal, instead of also before the
// guard acts (sends the call on the client, runs the tool on the server).
// Calls get faster with a durable log (one fsync per side instead of two),
// at a price: after a crash, a call that was sent or a tool that ran may lack
// its records if the process died before returning. The default — commit
// before acting — never acts unaudited.
func WithAuditCommitBeforeReturn() Option {
	return optionFunc(func(c *config) error {
		c.commitBeforeReturn = true
		return nil
	})
}
