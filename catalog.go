package mcpguard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcpguard/mcpguard/internal/canonjson"
	"github.com/mcpguard/mcpguard/internal/toolcat"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Decision is a policy's verdict on a [Call]. The zero Decision denies, so a
// policy that forgets to decide fails closed.
type Decision struct {
	// Allowed is true only when the call may proceed.
	Allowed bool
	// Reason says why a call was denied. It reaches the caller and the audit
	// log, so it must not contain secrets.
	Reason string
	// Scopes are extra scopes to put in the per-call token, beyond the tool
	// scope the guard always adds.
	Scopes []string
}

// Allow returns a decision that lets a call proceed, with optional extra
// scopes for its per-call token.
func Allow(scopes ...string) Decision { return Decision{Allowed: true, Scopes: scopes} }

// Deny returns a decision that refuses a call for reason.
func Deny(reason string) Decision { return Decision{Reason: reason} }

// Policy decides whether a call may proceed. It runs after the catalog check
// and before any token is minted. An error from Decide refuses the call with
// [CodeUnavailable]; a denying decision refuses it with [CodeDenied].
type Policy interface {
	Decide(ctx context.Context, call *Call) (Decision, error)
}

// PolicyFunc adapts a function to [Policy].
type PolicyFunc func(ctx context.Context, call *Call) (Decision, error)

// Decide calls f.
func (f PolicyFunc) Decide(ctx context.Context, call *Call) (Decision, error) { return f(ctx, call) }

// admit runs the catalog and policy stages and records the decision.
func (g *Guard) admit(ctx context.Context, call *Call) (Decision, error) {
	var (
		dec Decision
		err error
	)
	if g.cfg.catalog != nil {
		err = g.cfg.catalog.admitCall(ctx, call)
	}
	if rules := g.cfg.argRules[call.Tool]; err == nil && rules != nil && call.Method == methodCallTool {
		if arg, v := rules.Check(call.Arguments, call.RawArguments); v != nil {
			err = errorf(CodeInvalidArgument, "arguments", nil, "argument %q breaks rule %s: %s", arg, v.Rule, v.Reason)
		}
	}
	if err == nil {
		dec, err = g.decide(ctx, call)
	}
	rec := g.record(KindDecision, call)
	rec.Outcome, rec.Scopes = "allow", dec.Scopes
	if err != nil {
		rec.Outcome = "deny"
		var ge *Error
		if errors.As(err, &ge) {
			rec.Code, rec.Stage, rec.Reason = ge.Code.String(), ge.Stage, ge.Message
		}
	}
	if aerr := g.audit(ctx, rec); aerr != nil {
		return dec, aerr
	}
	return dec, err
}

// argsHash is the hex SHA-256 of canonical arguments ("" for none).
func argsHash(canonical json.RawMessage) string {
	if len(canonical) == 0 {
		return ""
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// argsHashB64 is the base64url SHA-256 of canonical arguments, the form
// bound into per-call tokens.
func argsHashB64(canonical json.RawMessage) string {
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// maxArgumentBytes bounds the encoded arguments of one call.
const maxArgumentBytes = 1 << 20

// decodeArguments canonicalizes (RFC 8785) and decodes a JSON object of
// arguments. Absent or null arguments are the empty object.
func decodeArguments(raw []byte) (json.RawMessage, map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if len(raw) > maxArgumentBytes {
		return nil, nil, errorf(CodeInvalidArgument, "request", nil,
			"arguments are %d bytes, over the %d-byte limit", len(raw), maxArgumentBytes)
	}
	canon, err := canonjson.Transform(raw)
	if err != nil {
		return nil, nil, errorf(CodeInvalidArgument, "request", err, "arguments are not valid I-JSON")
	}
	if canon[0] != '{' {
		return nil, nil, errorf(CodeInvalidArgument, "request", nil, "arguments must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil {
		return nil, nil, errorf(CodeInvalidArgument, "request", err, "decoding arguments")
	}
	return canon, args, nil
}

// clientListTools forwards tools/list and checks the result against the
// catalog, when one is configured.
func (g *Guard) clientListTools(ctx context.Context, next mcp.MethodHandler, call *Call, req mcp.Request) (mcp.Result, error) {
	res, err := next(ctx, methodListTools, req)
	if err != nil || g.cfg.catalog == nil {
		return res, fromWireError(err)
	}
	return g.filterList(ctx, call, res)
}

// serverListTools keeps tools the catalog does not hold from being
// advertised by a guarded server.
func (g *Guard) serverListTools(ctx context.Context, next mcp.MethodHandler, call *Call, req mcp.Request) (mcp.Result, error) {
	res, err := next(ctx, methodListTools, req)
	if err != nil || g.cfg.catalog == nil {
		return res, err
	}
	return g.filterList(ctx, call, res)
}

func (g *Guard) filterList(ctx context.Context, call *Call, res mcp.Result) (mcp.Result, error) {
	list, ok := res.(*mcp.ListToolsResult)
	if !ok {
		return nil, errorf(CodeInternal, "catalog", nil, "unexpected tools/list result %T", res)
	}
	out, err := g.cfg.catalog.filterTools(ctx, call, list)
	if err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	return out, nil
}

// setArguments canonicalizes and decodes the arguments of a call. It takes
// (bytes, error) so it can wrap json.Marshal directly.
func (c *Call) setArguments(raw []byte, err error) error {
	if err != nil {
		return errorf(CodeInvalidArgument, "request", err, "arguments cannot be encoded as JSON")
	}
	canon, args, err := decodeArguments(raw)
	if err != nil {
		return err
	}
	c.rawSent = raw
	c.RawArguments, c.Arguments = canon, args
	return nil
}

func orEmptyObject(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

// Catalog is the known-good tool set: per server, the reviewed definition of
// each tool (name, title, description, input and output schema,
// annotations) and its digest over RFC 8785 canonical JSON. Load it from a
// reviewed file ([LoadCatalog]), build it in code ([Catalog.Add]) or record
// it from a trusted server ([SnapshotCatalog]). A Catalog is safe for
// concurrent use and may be shared by the guards of all a host's servers.
type Catalog struct {
	mu      sync.RWMutex
	servers map[string]map[string]*pinnedTool
}

type pinnedTool struct {
	def    toolcat.Def
	digest string
	schema *jsonschema.Resolved // nil: no input schema to check
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{servers: map[string]map[string]*pinnedTool{}} }

func defOf(t *mcp.Tool) (toolcat.Def, error) {
	d := toolcat.Def{Name: t.Name, Title: t.Title, Description: t.Description}
	var err error
	raw := func(v any) json.RawMessage {
		if v == nil || err != nil {
			return nil
		}
		var b []byte
		if b, err = json.Marshal(v); err == nil && string(b) == "null" {
			return nil
		}
		return b
	}
	d.InputSchema, d.OutputSchema = raw(t.InputSchema), raw(t.OutputSchema)
	if t.Annotations != nil {
		d.Annotations = raw(t.Annotations)
	}
	return d, err
}

func pin(d toolcat.Def) (*pinnedTool, error) {
	digest, err := d.Digest()
	if err != nil {
		return nil, fmt.Errorf("tool %q: %w", d.Name, err)
	}
	p := &pinnedTool{def: d, digest: digest}
	if len(d.InputSchema) > 0 {
		var s jsonschema.Schema
		if err := json.Unmarshal(d.InputSchema, &s); err != nil {
			return nil, fmt.Errorf("tool %q: input schema: %w", d.Name, err)
		}
		if p.schema, err = s.Resolve(nil); err != nil {
			return nil, fmt.Errorf("tool %q: input schema: %w", d.Name, err)
		}
	}
	return p, nil
}

// Add pins tools as the known-good definitions of server.
func (c *Catalog) Add(server string, tools ...*mcp.Tool) error {
	for _, t := range tools {
		d, err := defOf(t)
		if err != nil {
			return fmt.Errorf("mcpguard: catalog: tool %q: %w", t.Name, err)
		}
		if err := c.addDef(server, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *Catalog) addDef(server string, d toolcat.Def) error {
	if server == "" || d.Name == "" {
		return errors.New("mcpguard: catalog: server and tool name are required")
	}
	p, err := pin(d)
	if err != nil {
		return fmt.Errorf("mcpguard: catalog: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.servers[server] == nil {
		c.servers[server] = map[string]*pinnedTool{}
	}
	c.servers[server][d.Name] = p
	return nil
}

func (c *Catalog) lookup(server, name string) *pinnedTool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.servers[server][name]
}

// owner returns another server whose pinned set holds name, if any.
func (c *Catalog) owner(name, except string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range slices.Sorted(maps.Keys(c.servers)) {
		if _, ok := c.servers[s][name]; ok && s != except {
			return s
		}
	}
	return ""
}

func (c *Catalog) names(except string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for s, tools := range c.servers {
		if s != except {
			out = slices.AppendSeq(out, maps.Keys(tools))
		}
	}
	return out
}

// catalogFile is the reviewed JSON form.
type catalogFile struct {
	Version int                       `json:"version"`
	Servers map[string][]catalogEntry `json:"servers"`
}

type catalogEntry struct {
	toolcat.Def
	Digest string `json:"digest"`
}

// MarshalJSON writes the catalog in its reviewed file form: servers and
// tools sorted, each with its digest.
func (c *Catalog) MarshalJSON() ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f := catalogFile{Version: 1, Servers: map[string][]catalogEntry{}}
	for s, tools := range c.servers {
		for _, n := range slices.Sorted(maps.Keys(tools)) {
			f.Servers[s] = append(f.Servers[s], catalogEntry{Def: tools[n].def, Digest: tools[n].digest})
		}
	}
	return json.MarshalIndent(f, "", "  ")
}

// ParseCatalog reads a catalog file. An entry whose digest does not match
// its definition (edited by hand without re-pinning) is an error.
func ParseCatalog(data []byte) (*Catalog, error) {
	var f catalogFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("mcpguard: catalog: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("mcpguard: catalog: unsupported version %d", f.Version)
	}
	c := NewCatalog()
	for server, entries := range f.Servers {
		for _, e := range entries {
			if err := c.addDef(server, e.Def); err != nil {
				return nil, err
			}
			if got := c.lookup(server, e.Name).digest; e.Digest != got {
				return nil, fmt.Errorf("mcpguard: catalog: %s/%s: digest %s does not match the definition (%s); re-pin it",
					server, e.Name, e.Digest, got)
			}
		}
	}
	return c, nil
}

// LoadCatalog reads a catalog file from path.
func LoadCatalog(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mcpguard: catalog: %w", err)
	}
	return ParseCatalog(data)
}

// Save writes the catalog to path.
func (c *Catalog) Save(path string) error {
	b, err := c.MarshalJSON()
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// SnapshotCatalog records every tool a trusted server lists (all pages) as
// the known-good set of server: record mode, whose file teams review.
func SnapshotCatalog(ctx context.Context, cs *mcp.ClientSession, server string) (*Catalog, error) {
	c := NewCatalog()
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("mcpguard: snapshot: %w", err)
		}
		if err := c.Add(server, t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// PinServerTools checks, at startup, that the tools registered on s are
// exactly the catalog's set for server: a tool added by a dependency, or a
// definition changed since review, is an error naming it. Call it before
// serving.
func PinServerTools(ctx context.Context, s *mcp.Server, c *Catalog, server string) error {
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		return err
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcpguard-pin", Version: "v1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	seen := map[string]bool{}
	var problems []string
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return err
		}
		seen[t.Name] = true
		if msg := c.check(server, t); msg != "" {
			problems = append(problems, msg)
		}
	}
	c.mu.RLock()
	for name := range c.servers[server] {
		if !seen[name] {
			problems = append(problems, fmt.Sprintf("tool %q is pinned but not registered", name))
		}
	}
	c.mu.RUnlock()
	if len(problems) > 0 {
		slices.Sort(problems)
		return errorf(CodeTampered, "catalog", nil, "server %q does not match its catalog: %s", server, strings.Join(problems, "; "))
	}
	return nil
}

// check compares an offered tool with the catalog; "" means it matches.
func (c *Catalog) check(server string, t *mcp.Tool) string {
	p := c.lookup(server, t.Name)
	if p == nil {
		if o := c.owner(t.Name, server); o != "" {
			return fmt.Sprintf("tool %q shadows the tool of server %q", t.Name, o)
		}
		return fmt.Sprintf("tool %q is not in the catalog", t.Name)
	}
	d, err := defOf(t)
	if err != nil {
		return fmt.Sprintf("tool %q cannot be encoded: %v", t.Name, err)
	}
	digest, err := d.Digest()
	if err != nil {
		return fmt.Sprintf("tool %q cannot be digested: %v", t.Name, err)
	}
	if digest != p.digest {
		return toolcat.Describe(t.Name, p.digest, digest, toolcat.Classify(&p.def, &d, c.names(server)))
	}
	return ""
}

// catalogGuard is the catalog stage of one guard.
type catalogGuard struct {
	g         *Guard
	c         *Catalog
	failLists bool
	accepted  map[string]bool
	// refused remembers tools whose offered definition was refused, per
	// server, so calls to them are refused too ("rug pull" after listing).
	refused sync.Map // server+"\x00"+name → *Error
}

// filterTools validates a tools/list page: unknown, shadowing, changed or
// poisoned tools are removed (or the list fails, see
// [WithUnknownToolsFailList]) and each is audited.
func (cg *catalogGuard) filterTools(ctx context.Context, call *Call, res *mcp.ListToolsResult) (*mcp.ListToolsResult, error) {
	out := *res
	out.Tools = make([]*mcp.Tool, 0, len(res.Tools))
	var dropped []string
	for _, t := range res.Tools {
		if t == nil {
			continue
		}
		reason, code := cg.judge(ctx, call, t)
		key := call.Server + "\x00" + t.Name
		if reason == "" {
			cg.refused.Delete(key)
			out.Tools = append(out.Tools, t)
			continue
		}
		cg.refused.Store(key, errorf(code, "catalog", nil, "%s", reason))
		dropped = append(dropped, reason)
		rec := cg.g.record(KindCatalog, call)
		rec.Tool, rec.Outcome, rec.Code, rec.Stage, rec.Reason = t.Name, "refused", code.String(), "catalog", reason
		if err := cg.g.audit(ctx, rec); err != nil {
			return nil, err
		}
	}
	if len(dropped) > 0 && cg.failLists {
		return nil, errorf(CodeTampered, "catalog", nil, "tools/list refused: %s", strings.Join(dropped, "; "))
	}
	return &out, nil
}

// judge returns why t must not reach the model, or "".
func (cg *catalogGuard) judge(ctx context.Context, call *Call, t *mcp.Tool) (string, Code) {
	p := cg.c.lookup(call.Server, t.Name)
	if p == nil {
		return cg.c.check(call.Server, t), CodeDenied
	}
	if msg := cg.c.check(call.Server, t); msg != "" {
		d, _ := defOf(t)
		classes := toolcat.Classify(&p.def, &d, cg.c.names(call.Server))
		if !cg.acceptable(classes) {
			return msg, CodeTampered
		}
		// Accepted, but never silently.
		rec := cg.g.record(KindCatalog, call)
		rec.Tool, rec.Outcome, rec.Stage, rec.Reason = t.Name, "accepted-change", "catalog", msg
		if err := cg.g.audit(ctx, rec); err != nil {
			return "audit unavailable", CodeUnavailable
		}
	}
	// A pinned description can still be poisoned: the reviewers missed it.
	for where, text := range toolTexts(t) {
		v, err := cg.g.inspectText(ctx, &Content{Kind: ContentToolDescription, Where: where, Text: text, Call: call})
		if err != nil {
			return fmt.Sprintf("tool %q description could not be inspected", t.Name), CodeUnavailable
		}
		for _, f := range v.findings {
			if f.Kind == "injection" || f.Action == ActionBlock {
				return fmt.Sprintf("tool %q %s carries %s (%s)", t.Name, where, f.Kind, f.Rule), CodeTampered
			}
		}
	}
	return "", 0
}

func (cg *catalogGuard) acceptable(classes []string) bool {
	for _, c := range classes {
		if !cg.accepted[c] {
			return false
		}
	}
	return len(classes) > 0
}

// toolTexts are the texts of a tool a model reads: its description and its
// parameters' descriptions.
func toolTexts(t *mcp.Tool) map[string]string {
	out := map[string]string{"description": t.Description}
	b, err := json.Marshal(t.InputSchema)
	if err != nil {
		return out
	}
	var s struct {
		Properties map[string]struct {
			Description string `json:"description"`
		} `json:"properties"`
	}
	if json.Unmarshal(b, &s) == nil {
		for k, p := range s.Properties {
			if p.Description != "" {
				out["parameter "+k+" description"] = p.Description
			}
		}
	}
	return out
}

// admitCall refuses calls to tools the catalog does not hold for the
// server, to tools whose offered definition was refused, and arguments that
// do not validate against the pinned input schema.
func (cg *catalogGuard) admitCall(_ context.Context, call *Call) error {
	if call.Method != methodCallTool {
		return nil
	}
	if r, ok := cg.refused.Load(call.Server + "\x00" + call.Tool); ok {
		e := *r.(*Error) // a copy: the caller stamps its request id on it
		return &e
	}
	p := cg.c.lookup(call.Server, call.Tool)
	if p == nil {
		if o := cg.c.owner(call.Tool, call.Server); o != "" {
			return errorf(CodeDenied, "catalog", nil, "tool %q of server %q shadows the tool of server %q", call.Tool, call.Server, o)
		}
		return errorf(CodeDenied, "catalog", nil, "tool %q is not in the catalog of server %q", call.Tool, call.Server)
	}
	if p.schema != nil {
		var instance any
		if err := json.Unmarshal(call.RawArguments, &instance); err != nil {
			return errorf(CodeInvalidArgument, "catalog", err, "arguments cannot be decoded")
		}
		if err := p.schema.Validate(instance); err != nil {
			return errorf(CodeInvalidArgument, "catalog", nil, "arguments do not match the pinned input schema of %q: %v", call.Tool, err)
		}
	}
	return nil
}

// ArgumentRules are declarative limits on one tool's arguments, checked
// after the catalog and before policy and token exchange, on the side whose
// guard has them (use both: the client refuses before sending, the server
// before executing). Arguments are named at the top level of the arguments
// object.
type ArgumentRules struct {
	// Tool the rules apply to.
	Tool string
	// Paths confines path arguments to roots, after cleaning; ".." segments,
	// NUL, backslashes and percent-encoded separators are refused.
	Paths map[string]PathRule
	// URLs limits URL arguments to schemes and hosts; userinfo, numeric and
	// internal hosts (loopback, private, link-local such as
	// 169.254.169.254) are refused.
	URLs map[string]URLRule
	// Numbers bounds numeric arguments.
	Numbers map[string]NumberRule
	// Strings bounds string arguments.
	Strings map[string]StringRule
	// Enums lists the allowed values of enumerated arguments.
	Enums map[string][]string
	// ForbiddenKeys may not appear anywhere in the arguments (any depth).
	ForbiddenKeys []string
	// MaxBytes bounds the canonical arguments (0: the guard's 1 MiB limit).
	MaxBytes int
}

// PathRule confines a path argument (see [ArgumentRules.Paths]).
type PathRule struct {
	Roots []string
	// AllowRelative resolves relative paths against the first root; without
	// it they are refused.
	AllowRelative bool
	// ResolveSymlinks follows symlinks of existing paths and checks the
	// target too: useful on the server, where the files are.
	ResolveSymlinks bool
}

// URLRule limits a URL argument (see [ArgumentRules.URLs]).
type URLRule struct {
	// Schemes allowed; default https only.
	Schemes []string
	// Hosts allowed: exact names, or ".example.com" for its subdomains.
	// Empty allows any public host.
	Hosts []string
	// AllowInternal allows internal addresses and names.
	AllowInternal bool
}

// NumberRule bounds a numeric argument: Min ≤ value ≤ Max.
type NumberRule struct {
	Min, Max float64
	Integer  bool
}

// StringRule bounds a string argument.
type StringRule struct {
	// MaxLen in characters (0: unbounded).
	MaxLen int
	// Pattern the whole value must match (RE2 syntax).
	Pattern string
}
