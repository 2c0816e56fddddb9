package mcpguard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard/internal/detect"
	"github.com/mcpguard/mcpguard/internal/mcpwalk"
	"github.com/mcpguard/mcpguard/internal/redact"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ContentKind says where in an MCP message a piece of text was found.
type ContentKind string

// The content kinds the inspector hands to classifiers.
const (
	ContentText            ContentKind = "text"             // a text content block
	ContentStructured      ContentKind = "structured"       // a string inside structuredContent
	ContentResource        ContentKind = "resource"         // an embedded or read resource's text
	ContentResourceLink    ContentKind = "resource_link"    // a resource link's URI or description
	ContentPrompt          ContentKind = "prompt"           // a prompts/get message or description
	ContentToolDescription ContentKind = "tool_description" // a tool or parameter description
	ContentError           ContentKind = "error"            // an error message from the server
)

// Content is one piece of text a model could read, as classifiers see it.
type Content struct {
	// Kind says what part of the message Text came from.
	Kind ContentKind
	// Where locates Text in the message, e.g. "content[0]" or
	// "structuredContent/user/email".
	Where string
	// Text is the text to classify. Finding spans are byte offsets into it.
	Text string
	// Call is the call whose response this is.
	Call *Call
}

// Finding is something a classifier found in a [Content].
type Finding struct {
	// Kind is the class of finding: "secret", "pii", "injection",
	// "invisible", "cross-tenant", or a classifier's own.
	Kind string
	// Rule names the rule that matched, e.g. "aws-access-key". It appears in
	// redaction placeholders and in the audit log.
	Rule string
	// Start and End are the byte offsets of the matched span in Content.Text.
	// They must lie on UTF-8 character boundaries.
	Start, End int
	// Confidence is between 0 and 1.
	Confidence float64
}

// Classifier looks for findings in text a model is about to read. An error
// from Classify withholds the response (fail closed).
type Classifier interface {
	Classify(ctx context.Context, in *Content) ([]Finding, error)
}

// ClassifierFunc adapts a function to [Classifier].
type ClassifierFunc func(ctx context.Context, in *Content) ([]Finding, error)

// Classify calls f.
func (f ClassifierFunc) Classify(ctx context.Context, in *Content) ([]Finding, error) {
	return f(ctx, in)
}

// Action is what the inspector does with a finding.
type Action string

// The inspection actions, weakest first. When findings overlap, the
// strongest action wins.
const (
	// ActionAllow ignores the finding (it is still audited).
	ActionAllow Action = "allow"
	// ActionFlag keeps the text, marks the result's _meta and audits it.
	ActionFlag Action = "flag"
	// ActionStrip removes the span.
	ActionStrip Action = "strip"
	// ActionRedact replaces the span with a placeholder "[REDACTED:<rule>]".
	ActionRedact Action = "redact"
	// ActionBlock withholds the whole response; the caller gets a
	// [CodeBlocked] error instead.
	ActionBlock Action = "block"
)

func (a Action) op() redact.Op {
	switch a {
	case ActionStrip:
		return redact.Strip
	case ActionRedact:
		return redact.Replace
	case ActionBlock:
		return redact.Block
	}
	return redact.Keep
}

func (a Action) valid() bool {
	switch a {
	case ActionAllow, ActionFlag, ActionStrip, ActionRedact, ActionBlock:
		return true
	}
	return false
}

// MetaFindingsKey is the _meta key under which the inspector lists what it
// found and did in a result the model receives.
const MetaFindingsKey = "dev.mcpguard/findings"

type inspectConfig struct {
	classifiers []Classifier
	actions     map[string]Action // by rule, then by kind
	auditKey    []byte
	binary      Action
	noDefaults  bool
	maxBytes    int
	truncate    bool
	spotlight   bool
}

func defaultInspectConfig() inspectConfig {
	return inspectConfig{
		actions: map[string]Action{
			"secret":       ActionRedact,
			"pii":          ActionRedact,
			"invisible":    ActionStrip,
			"injection":    ActionFlag,
			"cross-tenant": ActionRedact,
		},
		binary:   ActionAllow,
		maxBytes: 10 << 20,
	}
}

func (c *inspectConfig) finish() error {
	if !c.noDefaults {
		_, ip := c.actions["ip-address"]
		c.classifiers = append([]Classifier{builtinClassifier{d: detect.New(detect.Options{IPAddresses: ip})}}, c.classifiers...)
	}
	if c.auditKey == nil {
		// A per-process key still hides values from the log; set
		// WithAuditKey to correlate HMACs across restarts and replicas.
		c.auditKey = make([]byte, 32)
		_, _ = rand.Read(c.auditKey)
	}
	return nil
}

func (c *inspectConfig) actionFor(f *Finding) Action {
	if a, ok := c.actions[f.Rule]; ok {
		return a
	}
	if a, ok := c.actions[f.Kind]; ok {
		return a
	}
	return ActionFlag
}

// WithClassifier adds a classifier to response inspection. It accumulates;
// the built-in rules run first unless [WithoutDefaultRules] is given.
func WithClassifier(c Classifier) Option {
	return optionFunc(func(cfg *config) error {
		if c == nil {
			return optionError("WithClassifier", "classifier is nil")
		}
		cfg.inspect.classifiers = append(cfg.inspect.classifiers, c)
		return nil
	})
}

// WithAction sets what the inspector does with findings of a kind ("secret",
// "pii", "injection", "invisible", …) or of one rule ("aws-access-key"). A
// rule's action takes precedence over its kind's.
func WithAction(kindOrRule string, a Action) Option {
	return optionFunc(func(cfg *config) error {
		if kindOrRule == "" {
			return optionError("WithAction", "kind or rule is empty")
		}
		if !a.valid() {
			return optionError("WithAction", "unknown action %q", a)
		}
		cfg.inspect.actions[kindOrRule] = a
		return nil
	})
}

// WithoutDefaultRules turns off the built-in detectors; only classifiers
// added with [WithClassifier] run.
func WithoutDefaultRules() Option {
	return optionFunc(func(cfg *config) error {
		cfg.inspect.noDefaults = true
		return nil
	})
}

// WithAuditKey sets the per-deployment key (at least 32 bytes) under which
// flagged spans are recorded as HMAC-SHA-256 in the audit log. Without it a
// random key is generated per guard.
func WithAuditKey(key []byte) Option {
	return optionFunc(func(cfg *config) error {
		if len(key) < 32 {
			return optionError("WithAuditKey", "key must be at least 32 bytes, got %d", len(key))
		}
		cfg.inspect.auditKey = slices.Clone(key)
		return nil
	})
}

// WithBinaryContent sets what happens to binary content (images, audio,
// blobs), which the inspector cannot read: [ActionAllow] (the default) passes
// it, [ActionBlock] withholds the response.
func WithBinaryContent(a Action) Option {
	return optionFunc(func(cfg *config) error {
		if a != ActionAllow && a != ActionBlock {
			return optionError("WithBinaryContent", "action must be allow or block, got %q", a)
		}
		cfg.inspect.binary = a
		return nil
	})
}

// builtinClassifier runs the default detectors of internal/detect.
type builtinClassifier struct{ d *detect.Detector }

func (b builtinClassifier) Classify(_ context.Context, in *Content) ([]Finding, error) {
	ms := b.d.Scan(in.Text)
	if len(ms) == 0 {
		return nil, nil
	}
	out := make([]Finding, len(ms))
	for i, m := range ms {
		out[i] = Finding{Kind: m.Kind, Rule: m.Rule, Start: m.Start, End: m.End, Confidence: m.Confidence}
	}
	return out, nil
}

// textVerdict is the outcome of inspecting one piece of text.
type textVerdict struct {
	redact.Result
	findings []AuditFinding
}

// inspectText runs every classifier over in and applies the actions.
func (g *Guard) inspectText(ctx context.Context, in *Content) (textVerdict, error) {
	v := textVerdict{Result: redact.Result{Text: in.Text}}
	var spans []redact.Span
	for _, c := range g.cfg.inspect.classifiers {
		fs, err := c.Classify(ctx, in)
		if err != nil {
			return v, errorf(CodeUnavailable, "inspect", err, "classifier failed on %s", in.Where)
		}
		for i := range fs {
			f := &fs[i]
			if f.Start < 0 || f.End > len(in.Text) || f.Start > f.End ||
				!boundary(in.Text, f.Start) || !boundary(in.Text, f.End) {
				return v, errorf(CodeInternal, "inspect", nil,
					"classifier returned an invalid span [%d,%d) for %s", f.Start, f.End, in.Where)
			}
			a := g.cfg.inspect.actionFor(f)
			v.findings = append(v.findings, AuditFinding{
				Kind: f.Kind, Rule: f.Rule, Action: a, Where: in.Where,
				HMAC: g.spanHMAC(in.Text[f.Start:f.End]),
			})
			spans = append(spans, redact.Span{Start: f.Start, End: f.End, Op: a.op(), Placeholder: "[REDACTED:" + f.Rule + "]"})
		}
	}
	v.Result = redact.Apply(in.Text, spans)
	return v, nil
}

func boundary(s string, i int) bool { return i == len(s) || utf8.RuneStart(s[i]) }

func (g *Guard) spanHMAC(span string) string {
	m := hmac.New(sha256.New, g.cfg.inspect.auditKey)
	m.Write([]byte(span))
	return hex.EncodeToString(m.Sum(nil))
}

// inspection collects the verdicts of one response.
type inspection struct {
	findings []AuditFinding
	changed  bool
	blocked  bool
	reason   string
	seen     int // bytes of text inspected so far
}

func (in *inspection) outcome() string {
	switch {
	case in.blocked:
		return "blocked"
	case in.changed:
		return "modified"
	case len(in.findings) > 0:
		return "flagged"
	}
	return "clean"
}

// text inspects one string and returns what the model should see.
func (in *inspection) text(ctx context.Context, g *Guard, call *Call, kind ContentKind, where, s string) (string, error) {
	if s == "" {
		return s, nil
	}
	if limit := g.cfg.inspect.maxBytes; in.seen+len(s) > limit {
		if !g.cfg.inspect.truncate {
			in.blocked = true
			in.reason = fmt.Sprintf("response withheld: larger than the %d-byte limit", limit)
			return "", nil
		}
		// Keep what fits, cut at a character boundary, and say so.
		keep := max(limit-in.seen, 0)
		for keep > 0 && !utf8.RuneStart(s[keep]) {
			keep--
		}
		s = s[:keep] + "[TRUNCATED]"
		in.changed = true
		in.findings = append(in.findings, AuditFinding{Kind: "size", Rule: "max-response-bytes", Action: ActionStrip, Where: where})
	}
	in.seen += len(s)
	v, err := g.inspectText(ctx, &Content{Kind: kind, Where: where, Text: s, Call: call})
	if err != nil {
		return s, err
	}
	in.findings = append(in.findings, v.findings...)
	if v.Blocked && !in.blocked {
		in.blocked = true
		in.reason = fmt.Sprintf("response withheld: %s", blockRule(v.findings))
	}
	in.changed = in.changed || v.Changed
	return v.Text, nil
}

// binary applies the binary-content policy to a non-text block.
func (in *inspection) binary(g *Guard, where string) {
	if g.cfg.inspect.binary == ActionBlock && !in.blocked {
		in.blocked = true
		in.reason = "response withheld: binary content at " + where + " cannot be inspected"
	}
}

func blockRule(fs []AuditFinding) string {
	for _, f := range fs {
		if f.Action == ActionBlock {
			return f.Kind + " (" + f.Rule + ") at " + f.Where
		}
	}
	return "blocked finding"
}

// metaFindings is the _meta form of the findings: no spans, no hashes. It
// uses generic JSON types so a host sees the same shape whether the result
// was inspected locally or by the server's guard.
func (in *inspection) metaFindings() []any {
	out := make([]any, 0, len(in.findings))
	for _, f := range in.findings {
		out = append(out, map[string]any{"kind": f.Kind, "rule": f.Rule, "action": string(f.Action), "where": f.Where})
	}
	return out
}

// visitor adapts an inspection to mcpwalk.
type visitor struct {
	ctx  context.Context
	g    *Guard
	call *Call
	in   *inspection
}

func (v visitor) Text(kind, where, s string) (string, error) {
	return v.in.text(v.ctx, v.g, v.call, ContentKind(kind), where, s)
}

func (v visitor) Binary(where string) { v.in.binary(v.g, where) }

// walkError turns a walk failure into the refusal the caller sees.
func walkError(err error) error {
	var ge *Error
	if err == nil || errors.As(err, &ge) {
		return err
	}
	return errorf(CodeUnavailable, "inspect", err, "response cannot be inspected")
}

// inspectToolResult inspects every part of a tools/call result a model can
// read and returns the result the model should see; the input is not
// modified. Results with findings carry them in _meta.
func (g *Guard) inspectToolResult(ctx context.Context, call *Call, res *mcp.CallToolResult) (*mcp.CallToolResult, *inspection, error) {
	in := &inspection{}
	if res == nil {
		return res, in, nil
	}
	out, err := mcpwalk.ToolResult(visitor{ctx, g, call, in}, res)
	if err != nil || len(in.findings) == 0 {
		return out, in, walkError(err)
	}
	cp := *out
	cp.Meta = withFindings(res.Meta, in)
	return &cp, in, nil
}

// inspectReadResult inspects a resources/read result.
func (g *Guard) inspectReadResult(ctx context.Context, call *Call, res *mcp.ReadResourceResult) (*mcp.ReadResourceResult, *inspection, error) {
	in := &inspection{}
	if res == nil {
		return res, in, nil
	}
	out, err := mcpwalk.ReadResult(visitor{ctx, g, call, in}, res)
	if err != nil || len(in.findings) == 0 {
		return out, in, walkError(err)
	}
	cp := *out
	cp.Meta = withFindings(res.Meta, in)
	return &cp, in, nil
}

// inspectPromptResult inspects a prompts/get result.
func (g *Guard) inspectPromptResult(ctx context.Context, call *Call, res *mcp.GetPromptResult) (*mcp.GetPromptResult, *inspection, error) {
	in := &inspection{}
	if res == nil {
		return res, in, nil
	}
	out, err := mcpwalk.PromptResult(visitor{ctx, g, call, in}, res)
	if err != nil || len(in.findings) == 0 {
		return out, in, walkError(err)
	}
	cp := *out
	cp.Meta = withFindings(res.Meta, in)
	return &cp, in, nil
}

// withFindings returns a copy of m listing the inspection's findings after
// those an earlier guard (the server's, a gateway's) already listed there.
func withFindings(m mcp.Meta, in *inspection) mcp.Meta {
	earlier, _ := m[MetaFindingsKey].([]any)
	all := slices.Clone(earlier)
	for _, f := range in.metaFindings() {
		// The same finding reported by both guards is listed once.
		if !slices.ContainsFunc(earlier, func(e any) bool { return reflect.DeepEqual(e, f) }) {
			all = append(all, f)
		}
	}
	return withMetaValue(m, MetaFindingsKey, all)
}

// withMetaValue returns a copy of m with key set to v.
func withMetaValue(m mcp.Meta, key string, v any) mcp.Meta {
	out := make(mcp.Meta, len(m)+1)
	maps.Copy(out, m)
	out[key] = v
	return out
}

// inspectAndRecord inspects a result, records the inspection and returns
// what the caller may see.
func (g *Guard) inspectAndRecord(ctx context.Context, call *Call, res mcp.Result) (mcp.Result, error) {
	var (
		out mcp.Result
		in  *inspection
		err error
	)
	switch r := res.(type) {
	case *mcp.CallToolResult:
		out, in, err = g.inspectToolResult(ctx, call, r)
	case *mcp.ReadResourceResult:
		out, in, err = g.inspectReadResult(ctx, call, r)
	case *mcp.GetPromptResult:
		out, in, err = g.inspectPromptResult(ctx, call, r)
	default:
		err = errorf(CodeInternal, "inspect", nil, "unexpected result %T for %s", res, call.Method)
	}
	kind := KindInspection
	if call.Side == SideServer {
		kind = KindExecution
	}
	rec := g.record(kind, call)
	if in != nil {
		rec.Findings = in.findings
		rec.Outcome = in.outcome()
	}
	if tr, ok := res.(*mcp.CallToolResult); ok && tr.IsError && rec.Outcome == "clean" {
		rec.Outcome = "tool-error"
	}
	if err == nil && in.blocked {
		err = errorf(CodeBlocked, "inspect", nil, "%s", in.reason)
	}
	if err != nil {
		var ge *Error
		if errors.As(err, &ge) {
			rec.Outcome, rec.Code, rec.Stage, rec.Reason = "blocked", ge.Code.String(), ge.Stage, ge.Message
		}
	}
	if aerr := g.audit(ctx, rec); aerr != nil {
		return nil, withRequestID(aerr, call.RequestID)
	}
	if err != nil {
		return nil, withRequestID(err, call.RequestID)
	}
	if tr, ok := out.(*mcp.CallToolResult); ok && g.cfg.inspect.spotlight && call.Side == SideClient {
		out = spotlight(tr, call.Server, call.Tool)
	}
	return out, nil
}

// inspectError inspects the message of an error a server returned, which
// the host may show to the model, and returns it with findings redacted.
func (g *Guard) inspectError(ctx context.Context, call *Call, err error) (error, []AuditFinding) {
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		return err, nil
	}
	in := &inspection{}
	msg, ierr := in.text(ctx, g, call, ContentError, "error.message", we.Message)
	if ierr != nil || msg == we.Message {
		return err, in.findings
	}
	// The data member was not inspected, so it does not go on.
	return &jsonrpc.Error{Code: we.Code, Message: msg}, in.findings
}

// WithMaxResponseBytes bounds the text of one response the inspector reads
// (default 10 MiB). Larger responses are withheld ([CodeBlocked]), or with
// truncate cut to the limit and marked "[TRUNCATED]".
func WithMaxResponseBytes(n int, truncate bool) Option {
	return optionFunc(func(cfg *config) error {
		if n <= 0 {
			return optionError("WithMaxResponseBytes", "limit must be positive")
		}
		cfg.inspect.maxBytes, cfg.inspect.truncate = n, truncate
		return nil
	})
}

// WithSpotlighting wraps every text block a tool returns in delimiters that
// mark it as untrusted data, with a random boundary per response, for hosts
// whose system prompt tells the model never to follow instructions inside
// them (spotlighting).
func WithSpotlighting() Option {
	return optionFunc(func(cfg *config) error {
		cfg.inspect.spotlight = true
		return nil
	})
}

// spotlight wraps the text blocks of a client-side tool result.
func spotlight(res *mcp.CallToolResult, server, tool string) *mcp.CallToolResult {
	out := *res
	out.Content = slices.Clone(res.Content)
	id := newRequestID()[:12]
	for i, c := range out.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			out.Content[i] = &mcp.TextContent{Meta: t.Meta, Annotations: t.Annotations,
				Text: fmt.Sprintf("<<tool_output server=%q tool=%q id=%s untrusted>>\n%s\n<</tool_output id=%s>>", server, tool, id, t.Text, id)}
		}
	}
	return &out
}

// IdentifierMatch is an identifier found in text, for [CrossTenantClassifier].
type IdentifierMatch struct {
	ID         string
	Start, End int
}

// CrossTenantClassifier flags identifiers in responses that do not belong to
// the calling user or tenant: extract finds identifiers (emails, tenant or
// account ids; see [EmailIdentifiers]), owns says whether one belongs to the
// call's caller. Findings are of kind "cross-tenant", redacted by default.
// An error from owns withholds the response (fail closed).
func CrossTenantClassifier(extract func(text string) []IdentifierMatch, owns func(ctx context.Context, call *Call, id string) (bool, error)) Classifier {
	return ClassifierFunc(func(ctx context.Context, in *Content) ([]Finding, error) {
		var out []Finding
		for _, m := range extract(in.Text) {
			ok, err := owns(ctx, in.Call, m.ID)
			if err != nil {
				return nil, err
			}
			if !ok {
				out = append(out, Finding{Kind: "cross-tenant", Rule: "foreign-identifier", Start: m.Start, End: m.End, Confidence: 0.9})
			}
		}
		return out, nil
	})
}

var emailRe = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}`)

// EmailIdentifiers extracts email addresses, for [CrossTenantClassifier].
func EmailIdentifiers(text string) []IdentifierMatch {
	if !strings.Contains(text, "@") {
		return nil
	}
	var out []IdentifierMatch
	for _, loc := range emailRe.FindAllStringIndex(text, -1) {
		out = append(out, IdentifierMatch{ID: strings.ToLower(text[loc[0]:loc[1]]), Start: loc[0], End: loc[1]})
	}
	return out
}

// TenantEmailDomains returns an owns function for [CrossTenantClassifier]:
// an email belongs to the caller when it is the caller's own address or its
// domain is one of the caller's tenant's domains.
func TenantEmailDomains(domains map[string][]string) func(ctx context.Context, call *Call, id string) (bool, error) {
	return func(_ context.Context, call *Call, id string) (bool, error) {
		if strings.EqualFold(id, call.User) {
			return true, nil
		}
		_, domain, _ := strings.Cut(id, "@")
		for _, d := range domains[call.Tenant] {
			if strings.EqualFold(domain, d) {
				return true, nil
			}
		}
		return false, nil
	}
}
