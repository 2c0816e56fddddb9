package mcpguard

import (
	"context"
	"time"
)

// Token is a per-call access token obtained by exchange.
type Token struct {
	// Value is the encoded token (a JWT). Never logged.
	Value string
	// ID is the token's jti, recorded in the audit log instead of the token.
	ID string
	// Scopes are the scopes the token grants.
	Scopes []string
	// Expiry is when the token stops being valid.
	Expiry time.Time
}

// ExchangeRequest asks a [TokenExchanger] to trade a session token for a
// per-call token (RFC 8693).
type ExchangeRequest struct {
	// SubjectToken is the user's session token.
	SubjectToken string
	// Audience is the resource URI of the target MCP server (RFC 8707).
	Audience string
	// Scopes are the scopes to grant, e.g. "tools:call:search".
	Scopes []string
	// Call is the admitted call the token is for.
	Call *Call
	// TTL is the longest lifetime the token may have.
	TTL time.Duration
}

// TokenExchanger trades a session token for a short-lived per-call token.
type TokenExchanger interface {
	Exchange(ctx context.Context, req *ExchangeRequest) (*Token, error)
}

// TokenExchangerFunc adapts a function to [TokenExchanger].
type TokenExchangerFunc func(ctx context.Context, req *ExchangeRequest) (*Token, error)

// Exchange calls f.
func (f TokenExchangerFunc) Exchange(ctx context.Context, req *ExchangeRequest) (*Token, error) {
	return f(ctx, req)
}

type callTokenKey struct{}

// withCallToken returns ctx carrying the per-call token, for the guard's
// HTTP transport to put in the Authorization header of that call's request.
func withCallToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, callTokenKey{}, t)
}

func callTokenFrom(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(callTokenKey{}).(*Token)
	return t, ok && t != nil
}
