// Package mcpguard puts enterprise security controls around the Model Context
// Protocol in-process: mutual TLS with certificate pinning, per-call token
// exchange (RFC 8693), a tool catalog with argument policy, response
// inspection, and a tamper-evident per-user audit chain.
//
// Everything hangs off a [*Guard] built by [New]. The guard plugs into the
// official Go SDK as middleware:
//
//	g, err := mcpguard.New(mcpguard.WithPolicy(policy))
//	client.AddSendingMiddleware(g.ClientMiddleware())   // agent host side
//	server.AddReceivingMiddleware(g.ServerMiddleware()) // tool server side
//
// Every stage fails closed: when a policy, issuer, catalog, classifier or the
// audit sink returns an error, the call is refused with a typed [*Error].
package mcpguard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard/internal/auditlog"
	"github.com/mcpguard/mcpguard/internal/boundcache"
	"github.com/mcpguard/mcpguard/internal/sessionbind"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Identity is who a call is made for. Hosts attach it to the context of each
// MCP call with [WithIdentity]; on the server side the guard derives it from
// the verified per-call token instead.
type Identity struct {
	// User is the human user: the subject (sub) of the session token.
	User string
	// Tenant is the organisation the user acts within, if any.
	Tenant string
	// Session identifies the user's session: the session token's sid or jti,
	// or an id the host assigns. It is the guard's own notion of a session and
	// does not depend on the transport's Mcp-Session-Id.
	Session string
	// Roles are the user's roles, for policy decisions.
	Roles []string
	// SessionToken is the long-lived token the host holds for the user. It is
	// only used to obtain per-call tokens; the guard never logs it and never
	// sends it to an MCP server.
	SessionToken string
}

type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id. Pass the returned context to
// the go-sdk client calls (CallTool, ListTools, …) made on behalf of that user.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity attached with [WithIdentity], and whether
// there was one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Side says which end of an MCP connection a guard stage runs on.
type Side string

const (
	// SideClient is the agent host, which calls tools.
	SideClient Side = "client"
	// SideServer is the MCP server, which executes tools.
	SideServer Side = "server"
)

// Call describes one guarded MCP request as policy and classifiers see it.
// The guard builds it; extensions must treat it as read-only.
type Call struct {
	// Side is where the guard evaluating this call runs.
	Side Side
	// Method is the MCP method, e.g. "tools/call" or "resources/read".
	Method string
	// User, Tenant, Session and Roles identify the caller (see [Identity]).
	User    string
	Tenant  string
	Session string
	Roles   []string
	// TransportSession is the transport's Mcp-Session-Id, when the negotiated
	// protocol has one. Recorded, never relied on.
	TransportSession string
	// Server is the name of the MCP server the call goes to.
	Server string
	// Tool is the tool name for tools/call; the URI for resources/read; the
	// prompt name for prompts/get.
	Tool string
	// RawArguments is the JSON object of arguments exactly as sent.
	RawArguments json.RawMessage
	// Arguments is RawArguments decoded (numbers as json.Number).
	Arguments map[string]any
	// RequestID links every audit record of this call on both sides.
	RequestID string
	// Peer is the verified TLS peer, when the connection used mutual TLS.
	Peer *Peer
	// TokenID is the jti of the per-call token, once one is known.
	TokenID string

	rawSent []byte // the arguments exactly as forwarded
}

// Guard holds a validated configuration and produces middleware, TLS
// configurations and HTTP wrappers that enforce it. A Guard is safe for
// concurrent use and immutable after [New].
type Guard struct {
	cfg config

	sessions      *sessionbind.Table                // transport session → client certificate pin
	guardSessions *sessionbind.Table                // (pin, user session) pairs already linked in the audit log
	verified      boundcache.Cache[[32]byte, *Peer] // sha256(leaf) → peer whose chain verified

	httpOnce   sync.Once
	httpClient *http.Client
}

// New builds a guard: defaults, then opts in order, then validation. A bad
// configuration returns an error that names the offending option.
func New(opts ...Option) (*Guard, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errNilOption
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, sessions: sessionbind.New(maxBoundSessions, boundSessionIdle),
		guardSessions: sessionbind.New(maxBoundSessions, boundSessionIdle)}
	g.verified.Max = maxVerifiedCache
	if cfg.catalogSet != nil {
		g.cfg.catalog = &catalogGuard{g: g, c: cfg.catalogSet, failLists: cfg.catalogFail, accepted: cfg.acceptedChanges}
	}
	return g, nil
}

// Bounds of the session binding table (see [Guard.HTTPHandler]).
const (
	maxBoundSessions = 1 << 16
	boundSessionIdle = time.Hour
)

// AuditLog returns the log the guard writes to: the one given with
// [WithAuditLog], or the in-memory log the guard created by default.
func (g *Guard) AuditLog() *AuditLog { return g.cfg.audit }

// newRequestID returns 128 random bits, hex encoded.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

func (g *Guard) now() time.Time { return g.cfg.clock() }

// decide runs every configured policy; all must allow. A policy error or an
// unset (zero) decision denies.
func (g *Guard) decide(ctx context.Context, call *Call) (Decision, error) {
	final := Allow()
	for _, p := range g.cfg.policies {
		d, err := p.Decide(ctx, call)
		if err != nil {
			return Decision{}, errorf(CodeUnavailable, "policy", err, "policy evaluation failed")
		}
		if !d.Allowed {
			reason := d.Reason
			if reason == "" {
				reason = "denied by policy"
			}
			return d, errorf(CodeDenied, "policy", nil, "%s", reason)
		}
		final.Scopes = append(final.Scopes, d.Scopes...)
	}
	slices.Sort(final.Scopes)
	final.Scopes = slices.Compact(final.Scopes)
	return final, nil
}

// Code classifies why the guard refused a call. Codes are stable: they map to
// fixed JSON-RPC error codes (see [Code.JSONRPC]) that clients can rely on.
type Code int

// The refusal codes. The zero Code is not valid; a refusal always has one of
// these.
const (
	// CodeDenied: policy refused the call.
	CodeDenied Code = iota + 1
	// CodeUnauthenticated: the caller or its token could not be authenticated.
	CodeUnauthenticated
	// CodeInvalidArgument: the request is malformed or outside argument policy.
	CodeInvalidArgument
	// CodeTampered: something was changed in transit or since it was pinned:
	// a tool definition, an argument bound to a token, an audit record.
	CodeTampered
	// CodeUnavailable: a dependency of the guard (issuer, policy engine,
	// classifier, audit sink) failed, so the guard refused rather than act
	// unchecked.
	CodeUnavailable
	// CodeInternal: a bug or an unexpected state inside the guard.
	CodeInternal
	// CodeBlocked: response inspection withheld the result from the model.
	CodeBlocked
)

var codeNames = [...]string{
	CodeDenied:          "denied",
	CodeUnauthenticated: "unauthenticated",
	CodeInvalidArgument: "invalid_argument",
	CodeTampered:        "tampered",
	CodeUnavailable:     "unavailable",
	CodeInternal:        "internal",
	CodeBlocked:         "blocked",
}

// String returns the code's stable name, e.g. "invalid_argument".
func (c Code) String() string {
	if c > 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// jsonrpcBase is the start of the guard's JSON-RPC error code block. It lies
// outside the range JSON-RPC reserves (-32768..-32000) and away from the codes
// the MCP specification and the go-sdk use.
const jsonrpcBase = -31700

// JSONRPC returns the JSON-RPC error code the guard uses on the wire for c:
// -31701 denied, -31702 unauthenticated, -31703 invalid_argument,
// -31704 tampered, -31705 unavailable, -31706 internal, -31707 blocked.
func (c Code) JSONRPC() int64 { return int64(jsonrpcBase - int(c)) }

// codeFromJSONRPC is the inverse of [Code.JSONRPC].
func codeFromJSONRPC(n int64) (Code, bool) {
	c := Code(jsonrpcBase - int(n))
	return c, c > 0 && int(c) < len(codeNames)
}

// Error is a refusal by the guard. Find it with errors.As, on either side of
// the connection: the client middleware turns the server guard's JSON-RPC
// error back into an *Error.
//
// Messages say what was refused and why, never the secret value involved.
type Error struct {
	// Code classifies the refusal.
	Code Code
	// Stage is the control that refused: "policy", "catalog", "exchange",
	// "token", "inspect", "audit", "transport", "request".
	Stage string
	// Message is safe to show to users and models.
	Message string
	// RequestID is the id of the refused call, for finding its audit records.
	RequestID string
	// Remote is true when the peer's guard refused (the error arrived as a
	// JSON-RPC error) rather than this process's.
	Remote bool
	cause  error
}

func errorf(code Code, stage string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Stage: stage, Message: fmt.Sprintf(format, args...), cause: cause}
}

// Error implements error.
func (e *Error) Error() string {
	s := "mcpguard: " + e.Code.String()
	if e.Stage != "" {
		s += " (" + e.Stage + ")"
	}
	s += ": " + e.Message
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// errorData is the JSON-RPC error's data member.
type errorData struct {
	Code      string `json:"code"`
	Stage     string `json:"stage,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// wireMessage is what peers see. It leaves out the cause: causes may hold
// details of internal systems that only the local log should carry.
func (e *Error) wireMessage() string {
	return "mcpguard: " + e.Code.String() + ": " + e.Message
}

// toWireError turns a guard refusal into the JSON-RPC error the peer sees.
func toWireError(err error) error {
	var ge *Error
	if err == nil || !errors.As(err, &ge) {
		return err
	}
	data, _ := json.Marshal(errorData{Code: ge.Code.String(), Stage: ge.Stage, RequestID: ge.RequestID})
	return &jsonrpc.Error{Code: ge.Code.JSONRPC(), Message: ge.wireMessage(), Data: data}
}

// fromWireError turns a guarded server's JSON-RPC refusal back into *Error.
func fromWireError(err error) error {
	var we *jsonrpc.Error
	if err == nil || !errors.As(err, &we) {
		return err
	}
	code, ok := codeFromJSONRPC(we.Code)
	if !ok {
		return err
	}
	var d errorData
	if json.Unmarshal(we.Data, &d) != nil || d.Code != code.String() {
		return err // our code range, but not our shape: leave it alone
	}
	msg := strings.TrimPrefix(we.Message, "mcpguard: "+code.String()+": ")
	return &Error{Code: code, Stage: d.Stage, Message: msg, RequestID: d.RequestID, Remote: true, cause: err}
}

// withRequestID stamps the call's request id on a guard error.
func withRequestID(err error, id string) error {
	var ge *Error
	if errors.As(err, &ge) && ge.RequestID == "" {
		ge.RequestID = id
	}
	return err
}

// The _meta keys the guard reads and writes on requests. The server guard
// removes them before the tool handler runs.
const (
	// MetaRequestIDKey carries the request id that links the client's and the
	// server's audit records of one call.
	MetaRequestIDKey = "dev.mcpguard/requestId"
	// MetaTokenKey carries the per-call token on transports without HTTP
	// headers (in-memory, stdio).
	MetaTokenKey = "dev.mcpguard/token"
)

const (
	methodCallTool     = "tools/call"
	methodListTools    = "tools/list"
	methodReadResource = "resources/read"
	methodGetPrompt    = "prompts/get"
)

// ClientMiddleware returns the agent-host side of the guard, for
// mcp.Client.AddSendingMiddleware. For tools/call it runs catalog check,
// policy, token exchange, the call itself, and response inspection, auditing
// each step; resources/read and prompts/get get policy and inspection;
// tools/list is checked against the catalog. Other methods pass unchanged.
//
// Refusals are returned as [*Error] (use errors.As). Refusals by a guarded
// server arrive as JSON-RPC errors and are turned back into *Error too.
func (g *Guard) ClientMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case methodCallTool, methodReadResource, methodGetPrompt, methodListTools:
				ctx = auditlog.WithBatch(ctx)
				res, err := g.clientHandle(ctx, next, method, req)
				if cerr := g.commitAudit(ctx); cerr != nil {
					return nil, cerr
				}
				return res, err
			}
			return next(ctx, method, req)
		}
	}
}

// ServerMiddleware returns the tool-server side of the guard, for
// mcp.Server.AddReceivingMiddleware. For tools/call it verifies the per-call
// token (when configured), runs catalog check and policy, strips the guard's
// _meta keys, runs the tool, inspects the result and records the execution.
// Refusals reach the client as JSON-RPC errors with the codes of
// [Code.JSONRPC].
func (g *Guard) ServerMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case methodCallTool, methodReadResource, methodGetPrompt, methodListTools:
				ctx = auditlog.WithBatch(ctx)
				res, err := g.serverHandle(ctx, next, method, req)
				if cerr := g.commitAudit(ctx); cerr != nil {
					return nil, toWireError(cerr)
				}
				return res, toWireError(err)
			}
			return next(ctx, method, req)
		}
	}
}

// baseCall fills the fields every call shares.
func (g *Guard) baseCall(side Side, method string, sess mcp.Session) *Call {
	c := &Call{Side: side, Method: method, Server: g.cfg.serverName}
	if sess != nil {
		c.TransportSession = sess.ID()
	}
	return c
}

func (c *Call) setIdentity(id Identity) {
	c.User, c.Tenant, c.Session, c.Roles = id.User, id.Tenant, id.Session, id.Roles
}

// withMeta returns a copy of m with extra keys set.
func withMeta(m mcp.Meta, kv ...string) mcp.Meta {
	out := make(mcp.Meta, len(m)+len(kv)/2)
	maps.Copy(out, m)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// withoutGuardMeta returns m without the guard's keys, or m itself when it
// has none.
func withoutGuardMeta(m mcp.Meta) mcp.Meta {
	if _, ok := m[MetaRequestIDKey]; !ok {
		if _, ok := m[MetaTokenKey]; !ok {
			return m
		}
	}
	out := maps.Clone(m)
	delete(out, MetaRequestIDKey)
	delete(out, MetaTokenKey)
	return out
}

func metaString(m mcp.Meta, key string) string {
	s, _ := m[key].(string)
	return s
}

// clientHandle runs the client pipeline for one guarded method.
func (g *Guard) clientHandle(ctx context.Context, next mcp.MethodHandler, method string, req mcp.Request) (mcp.Result, error) {
	cs, _ := req.GetSession().(*mcp.ClientSession)
	call := g.baseCall(SideClient, method, req.GetSession())
	if call.Server == "" && cs != nil {
		if ir := cs.InitializeResult(); ir != nil && ir.ServerInfo != nil {
			call.Server = ir.ServerInfo.Name
		}
	}
	id, _ := IdentityFrom(ctx)
	call.setIdentity(id)
	call.RequestID = newRequestID()

	if method == methodListTools {
		return g.clientListTools(ctx, next, call, req)
	}
	var err error
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParams:
		call.Tool = p.Name
		err = call.setArguments(json.Marshal(orEmptyObject(p.Arguments)))
	case *mcp.GetPromptParams:
		call.Tool = p.Name
		err = call.setArguments(json.Marshal(p.Arguments))
	case *mcp.ReadResourceParams:
		call.Tool = p.URI
	default:
		err = errorf(CodeInternal, "request", nil, "unexpected params %T for %s", p, method)
	}
	if err != nil {
		return nil, g.refuse(ctx, call, err)
	}
	dec, err := g.admit(ctx, call)
	if err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	meta := []string{MetaRequestIDKey, call.RequestID}
	if g.cfg.exchange != nil && method == methodCallTool {
		tok, err := g.mint(ctx, call, dec)
		if err != nil {
			return nil, withRequestID(err, call.RequestID)
		}
		call.TokenID = tok.ID
		ctx = withCallToken(ctx, tok)
		if !g.cfg.tokenHeaderOnly {
			meta = append(meta, MetaTokenKey, tok.Value)
		}
	}

	var send mcp.Request
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParams:
		p2 := *p
		p2.Arguments = json.RawMessage(call.rawSent)
		p2.Meta = withMeta(p.Meta, meta...)
		send = &mcp.ClientRequest[*mcp.CallToolParams]{Session: cs, Params: &p2}
	case *mcp.GetPromptParams:
		p2 := *p
		p2.Meta = withMeta(p.Meta, meta...)
		send = &mcp.ClientRequest[*mcp.GetPromptParams]{Session: cs, Params: &p2}
	case *mcp.ReadResourceParams:
		p2 := *p
		p2.Meta = withMeta(p.Meta, meta...)
		send = &mcp.ClientRequest[*mcp.ReadResourceParams]{Session: cs, Params: &p2}
	}
	if err := g.commitBeforeAct(ctx); err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	res, err := next(ctx, method, send)
	if err != nil {
		return nil, g.clientFailed(ctx, call, err)
	}
	return g.inspectAndRecord(ctx, call, res)
}

// serverHandle runs the server pipeline for one guarded method.
func (g *Guard) serverHandle(ctx context.Context, next mcp.MethodHandler, method string, req mcp.Request) (mcp.Result, error) {
	call := g.baseCall(SideServer, method, req.GetSession())
	if id, ok := IdentityFrom(ctx); ok && g.cfg.verifier == nil {
		// Without token verification the server's own code may say who the
		// connection belongs to; with it, only the token does.
		call.setIdentity(id)
	}
	if peer, ok := PeerFrom(ctx); ok {
		call.Peer = peer
	}
	if method == methodListTools {
		return g.serverListTools(ctx, next, call, req)
	}
	var meta mcp.Meta
	var err error
	switch r := req.(type) {
	case *mcp.CallToolRequest:
		meta, call.Tool = r.Params.Meta, r.Params.Name
		err = call.setArguments(r.Params.Arguments, nil)
	case *mcp.GetPromptRequest:
		meta, call.Tool = r.Params.Meta, r.Params.Name
		err = call.setArguments(json.Marshal(r.Params.Arguments))
	case *mcp.ReadResourceRequest:
		meta, call.Tool = r.Params.Meta, r.Params.URI
	default:
		err = errorf(CodeInternal, "request", nil, "unexpected request %T for %s", req, method)
	}
	call.RequestID = metaString(meta, MetaRequestIDKey)
	if !validRequestID(call.RequestID) {
		call.RequestID = newRequestID()
	}
	if err != nil {
		return nil, g.refuse(ctx, call, err)
	}
	if g.cfg.verifier != nil && method == methodCallTool {
		var header string
		if extra := req.GetExtra(); extra != nil && extra.Header != nil {
			header = strings.TrimPrefix(extra.Header.Get("Authorization"), "Bearer ")
		}
		if err := g.checkToken(ctx, call, header, metaString(meta, MetaTokenKey)); err != nil {
			return nil, g.refuse(ctx, call, err)
		}
	}
	if _, err := g.admit(ctx, call); err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	var fwd mcp.Request
	switch r := req.(type) {
	case *mcp.CallToolRequest:
		p := *r.Params
		p.Meta = withoutGuardMeta(p.Meta)
		fwd = &mcp.CallToolRequest{Session: r.Session, Params: &p, Extra: r.Extra}
	case *mcp.GetPromptRequest:
		p := *r.Params
		p.Meta = withoutGuardMeta(p.Meta)
		fwd = &mcp.GetPromptRequest{Session: r.Session, Params: &p, Extra: r.Extra}
	case *mcp.ReadResourceRequest:
		p := *r.Params
		p.Meta = withoutGuardMeta(p.Meta)
		fwd = &mcp.ReadResourceRequest{Session: r.Session, Params: &p, Extra: r.Extra}
	}
	if err := g.commitBeforeAct(ctx); err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	res, err := next(ctx, method, fwd)
	if err != nil {
		rec := g.record(KindExecution, call)
		rec.Outcome, rec.Reason = "error", "handler returned an error"
		if aerr := g.audit(ctx, rec); aerr != nil {
			return nil, withRequestID(aerr, call.RequestID)
		}
		return nil, err
	}
	return g.inspectAndRecord(ctx, call, res)
}

// validRequestID accepts what newRequestID produces and similar opaque ids;
// anything else from the wire is replaced rather than written to the log.
func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
