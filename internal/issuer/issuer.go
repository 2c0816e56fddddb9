// Package issuer is the engine of mcpguard's embedded security token
// service: it mints session tokens, exchanges them (RFC 8693) for per-call
// tokens bound to one tool call, and serves the token endpoint, the JWKS
// and RFC 8414 metadata over HTTP.
package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpguard/mcpguard/internal/boundcache"
	"github.com/mcpguard/mcpguard/internal/jwtx"
	"github.com/mcpguard/mcpguard/internal/keyring"
	"github.com/mcpguard/mcpguard/internal/sts"
)

// Subject is whose session token was presented.
type Subject struct {
	User, Tenant, Session string
	Roles                 []string
	TokenID               string
	Expiry                time.Time
}

// ValidateFunc validates a subject token of a type.
type ValidateFunc func(ctx context.Context, token, tokenType string) (*Subject, error)

// Request is an exchange request in engine terms.
type Request struct {
	SubjectToken, SubjectTokenType string
	Audience                       string
	Scopes                         []string
	TTL                            time.Duration
	Actor                          string
	Tool, ArgsHash, RequestID      string
	CertThumbprint                 string
}

// Issued is a minted per-call token.
type Issued struct {
	Token   string
	ID      string
	Scopes  []string
	Expiry  time.Time
	Subject *Subject
}

// Issuer is the engine.
type Issuer struct {
	URL        string
	Ring       *keyring.Ring
	Now        func() time.Time
	MaxTTL     time.Duration
	Validate   ValidateFunc // nil: own session tokens
	Clients    map[string]string
	Audiences  []string // allowed audiences; empty: any absolute URI
	SessionTTL time.Duration

	validated boundcache.Cache[[32]byte, *Subject] // sha256(session token) → subject; DefaultMax entries
}

// Errors of Exchange, mapped to RFC 8693 error codes by the handler.
var (
	ErrInvalidGrant  = errors.New("invalid_grant")
	ErrInvalidTarget = errors.New("invalid_target")
	ErrInvalidScope  = errors.New("invalid_scope")
	ErrInvalidReq    = errors.New("invalid_request")
)

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SessionToken mints a session token for s, valid for ttl (the issuer's
// default when 0), audience the issuer itself.
func (i *Issuer) SessionToken(s Subject, ttl time.Duration) (string, error) {
	if s.User == "" {
		return "", errors.New("session token needs a user")
	}
	if ttl <= 0 {
		ttl = i.SessionTTL
	}
	now := i.Now()
	sid := s.Session
	if sid == "" {
		sid = newID()
	}
	c := &jwtx.Claims{Issuer: i.URL, Subject: s.User, Audience: jwtx.Audience{i.URL}, IssuedAt: now.Unix(),
		NotBefore: now.Unix(), Expiry: now.Add(ttl).Unix(), ID: newID(), SessionID: sid, Tenant: s.Tenant, Roles: s.Roles}
	k := i.Ring.Current()
	b, err := jwtx.Sign(c, jwtx.TypeSessionToken, k.Kid, k.Alg, k.Signer)
	return string(b), err
}

// ValidateSession checks the issuer's own session tokens.
func (i *Issuer) ValidateSession(ctx context.Context, token string) (*Subject, error) {
	return i.validateOwn(ctx, token, "")
}

// validateOwn accepts the issuer's own, unexpired session tokens. A
// verified token is remembered (by its SHA-256) until it expires, so a
// session's later exchanges skip the signature check.
func (i *Issuer) validateOwn(_ context.Context, token, _ string) (*Subject, error) {
	key := sha256.Sum256([]byte(token))
	if s, ok := i.validated.Load(key); ok {
		if i.Now().Before(s.Expiry) {
			return s, nil
		}
		i.validated.Delete(key)
	}
	s, err := i.verifyOwn(token)
	if err != nil {
		return nil, err
	}
	i.validated.Store(key, s)
	return s, nil
}

func (i *Issuer) verifyOwn(token string) (*Subject, error) {
	h, c, err := jwtx.Verify([]byte(token), i.Ring.Keys())
	if err != nil {
		return nil, err
	}
	now := i.Now()
	switch {
	case h.Typ != jwtx.TypeSessionToken:
		return nil, fmt.Errorf("token type %q is not a session token", h.Typ)
	case c.Issuer != i.URL || !c.Audience.Contains(i.URL):
		return nil, errors.New("session token of another issuer")
	case now.After(time.Unix(c.Expiry, 0)):
		return nil, errors.New("session token expired")
	case c.NotBefore != 0 && now.Before(time.Unix(c.NotBefore, 0)):
		return nil, errors.New("session token not yet valid")
	}
	return &Subject{User: c.Subject, Tenant: c.Tenant, Session: c.SessionID, Roles: c.Roles, TokenID: c.ID,
		Expiry: time.Unix(c.Expiry, 0)}, nil
}

// Exchange validates the subject token and mints a bound per-call token.
func (i *Issuer) Exchange(ctx context.Context, r *Request) (*Issued, error) {
	validate := i.Validate
	if validate == nil {
		validate = i.validateOwn
	}
	sub, err := validate(ctx, r.SubjectToken, r.SubjectTokenType)
	if err != nil {
		return nil, fmt.Errorf("%w: subject token: %v", ErrInvalidGrant, err)
	}
	if r.Audience == "" {
		return nil, fmt.Errorf("%w: an audience (resource) is required", ErrInvalidTarget)
	}
	if len(i.Audiences) > 0 && !slices.Contains(i.Audiences, r.Audience) {
		return nil, fmt.Errorf("%w: audience %q is not served by this issuer", ErrInvalidTarget, r.Audience)
	}
	if len(r.Scopes) == 0 {
		return nil, fmt.Errorf("%w: no scope requested", ErrInvalidScope)
	}
	for _, s := range r.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			return nil, fmt.Errorf("%w: malformed scope", ErrInvalidScope)
		}
	}
	if r.Tool != "" && !slices.Contains(r.Scopes, "tools:call:"+r.Tool) {
		return nil, fmt.Errorf("%w: scope does not cover the bound tool", ErrInvalidScope)
	}
	ttl := r.TTL
	if ttl <= 0 || ttl > i.MaxTTL {
		ttl = i.MaxTTL
	}
	now := i.Now()
	exp := now.Add(ttl)
	if !sub.Expiry.IsZero() && exp.After(sub.Expiry) {
		exp = sub.Expiry // never outlive the session
	}
	c := &jwtx.Claims{Issuer: i.URL, Subject: sub.User, Audience: jwtx.Audience{r.Audience}, IssuedAt: now.Unix(),
		NotBefore: now.Unix(), Expiry: exp.Unix(), ID: newID(), Scope: strings.Join(r.Scopes, " "),
		SessionID: sub.Session, Tenant: sub.Tenant, Roles: sub.Roles,
		Tool: r.Tool, ArgsHash: r.ArgsHash, RequestID: r.RequestID}
	if r.Actor != "" {
		c.Actor = &jwtx.Actor{Subject: r.Actor}
	}
	if r.CertThumbprint != "" {
		c.Confirmation = &jwtx.Confirmation{X5tS256: r.CertThumbprint}
	}
	k := i.Ring.Current()
	b, err := jwtx.Sign(c, jwtx.TypeAccessToken, k.Kid, k.Alg, k.Signer)
	if err != nil {
		return nil, err
	}
	return &Issued{Token: string(b), ID: c.ID, Scopes: r.Scopes, Expiry: exp, Subject: sub}, nil
}

// binding is the RFC 9396 authorization_details entry that binds a token
// requested over HTTP to one tool call.
type binding struct {
	Type      string `json:"type"`
	Tool      string `json:"tool"`
	ArgsHash  string `json:"args_sha256"`
	RequestID string `json:"request_id,omitempty"`
}

// BindingType is the authorization_details type of a tool-call binding.
const BindingType = "mcp_tool_call"

// AuthorizationDetails encodes a call binding for a token request.
func AuthorizationDetails(tool, argsHash, requestID string) json.RawMessage {
	b, _ := json.Marshal([]binding{{Type: BindingType, Tool: tool, ArgsHash: argsHash, RequestID: requestID}})
	return b
}

// ServeHTTP serves POST {base}/token, GET {base}/jwks and
// GET /.well-known/oauth-authorization-server.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/token"):
		i.serveToken(w, r)
	case strings.HasSuffix(r.URL.Path, "/jwks") || strings.HasSuffix(r.URL.Path, "/jwks.json"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(i.Ring.JWKS())
	case strings.HasSuffix(r.URL.Path, "/.well-known/oauth-authorization-server"):
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": i.URL, "token_endpoint": i.URL + "/token", "jwks_uri": i.URL + "/jwks",
			"grant_types_supported":                 []string{sts.GrantTypeTokenExchange},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		})
	default:
		http.NotFound(w, r)
	}
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	req, perr := sts.ParseRequest(r)
	if perr != nil {
		sts.WriteError(w, perr)
		return
	}
	actor, ok := i.authenticateClient(req)
	if !ok {
		sts.WriteError(w, sts.Errorf("invalid_client", "client authentication failed"))
		return
	}
	switch req.SubjectTokenType {
	case sts.TokenTypeJWT, sts.TokenTypeAccessToken, sts.TokenTypeIDToken:
	default:
		sts.WriteError(w, sts.Errorf("invalid_request", "unsupported subject_token_type"))
		return
	}
	if req.RequestedTokenType != "" && req.RequestedTokenType != sts.TokenTypeAccessToken {
		sts.WriteError(w, sts.Errorf("invalid_request", "only access tokens are issued"))
		return
	}
	targets := append(append([]string(nil), req.Resource...), req.Audience...)
	slices.Sort(targets)
	targets = slices.Compact(targets) // the same URI as resource and audience is one target
	if len(targets) != 1 {
		sts.WriteError(w, sts.Errorf("invalid_target", "exactly one resource or audience is required"))
		return
	}
	er := &Request{SubjectToken: req.SubjectToken, SubjectTokenType: req.SubjectTokenType, Audience: targets[0],
		Scopes: req.Scope, TTL: i.MaxTTL, Actor: actor}
	if len(req.AuthorizationDetails) > 0 {
		var bs []binding
		if err := json.Unmarshal(req.AuthorizationDetails, &bs); err != nil || len(bs) != 1 || bs[0].Type != BindingType || bs[0].Tool == "" {
			sts.WriteError(w, sts.Errorf("invalid_request", "authorization_details must hold one %s entry", BindingType))
			return
		}
		er.Tool, er.ArgsHash, er.RequestID = bs[0].Tool, bs[0].ArgsHash, bs[0].RequestID
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// A client that authenticated with a certificate gets a token
		// bound to it (RFC 8705 §3).
		er.CertThumbprint = jwtx.CertThumbprint(r.TLS.PeerCertificates[0].Raw)
	}
	iss, err := i.Exchange(r.Context(), er)
	if err != nil {
		code := "server_error"
		for _, e := range []error{ErrInvalidGrant, ErrInvalidTarget, ErrInvalidScope, ErrInvalidReq} {
			if errors.Is(err, e) {
				code = e.Error()
			}
		}
		desc := "token exchange failed"
		if code != "server_error" {
			desc = strings.TrimPrefix(err.Error(), code+": ")
		}
		sts.WriteError(w, sts.Errorf(code, "%s", desc))
		return
	}
	sts.WriteResponse(w, &sts.Response{AccessToken: iss.Token, IssuedTokenType: sts.TokenTypeAccessToken,
		TokenType: "Bearer", ExpiresIn: int64(iss.Expiry.Sub(i.Now()).Round(time.Second) / time.Second),
		Scope: strings.Join(iss.Scopes, " ")})
}

// authenticateClient checks client credentials when clients are configured,
// and returns the authenticated client id (the actor).
func (i *Issuer) authenticateClient(req *sts.Request) (string, bool) {
	if len(i.Clients) == 0 {
		// Without client authentication nobody may name an actor.
		return "", true
	}
	secret, ok := i.Clients[req.ClientID]
	if !ok {
		// Compare anyway so an unknown id costs the same as a wrong secret.
		subtle.ConstantTimeCompare([]byte(req.ClientSecret), []byte(req.ClientSecret+"x"))
		return "", false
	}
	return req.ClientID, subtle.ConstantTimeCompare([]byte(req.ClientSecret), []byte(secret)) == 1
}
