package mcpguard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/mcpguard/mcpguard/internal/canonjson"
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
