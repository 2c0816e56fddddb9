package mcpguard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpguard/mcpguard/internal/boundcache"
	"github.com/mcpguard/mcpguard/internal/issuer"
	"github.com/mcpguard/mcpguard/internal/jwks"
	"github.com/mcpguard/mcpguard/internal/jwtx"
	"github.com/mcpguard/mcpguard/internal/keyring"
	"github.com/mcpguard/mcpguard/internal/replay"
	"github.com/mcpguard/mcpguard/internal/sts"
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
	// TTL is the longest lifetime the token may have.
	TTL time.Duration
	// Actor identifies the agent host acting for the user (the "act" claim).
	Actor string
	// Tool, ArgsHash and RequestID bind the token to one call: the tool
	// name, the base64url SHA-256 of the RFC 8785 canonical arguments, and
	// the guard's request id.
	Tool, ArgsHash, RequestID string
	// CertThumbprint is the x5t#S256 of the client certificate the token is
	// bound to (RFC 8705), when mutual TLS is on.
	CertThumbprint string
	// Call is the admitted call the token is for.
	Call *Call
}

// TokenExchanger trades a session token for a short-lived per-call token.
// [*Issuer] does it in-process; [*RemoteExchanger] asks an enterprise STS.
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

// ToolScope is the scope that grants calling one tool.
func ToolScope(tool string) string { return "tools:call:" + tool }

// exchangeStage is the client half of token exchange.
type exchangeStage struct {
	ex       TokenExchanger
	audience string
	ttl      time.Duration
	timeout  time.Duration
	actor    string
	// subjectIDs caches the jti of session tokens for the exchange
	// records: a host presents the same session token on every call.
	subjectIDs boundcache.Cache[string, string]
}

// newExchangeStage returns the client half with its defaults: 60 s tokens,
// 5 s per exchange.
func newExchangeStage() *exchangeStage {
	return &exchangeStage{ttl: 60 * time.Second, timeout: 5 * time.Second, subjectIDs: boundcache.Cache[string, string]{Max: 1024}}
}

// subjectID names a session token in the audit without holding it.
func (st *exchangeStage) subjectID(token string) string {
	if id, ok := st.subjectIDs.Load(token); ok {
		return id
	}
	id := jwtx.UnverifiedID(token)
	st.subjectIDs.Store(token, id)
	return id
}

// mint obtains the per-call token for an admitted call and records the
// exchange. Without a session token, or when the exchanger fails, the call
// is refused and nothing is sent.
func (g *Guard) mint(ctx context.Context, call *Call, d Decision) (*Token, error) {
	st := g.cfg.exchange
	id, _ := IdentityFrom(ctx)
	rec := g.record(KindExchange, call)
	rec.TTL = st.ttl
	fail := func(err *Error) (*Token, error) {
		rec.Outcome, rec.Code, rec.Stage, rec.Reason = "error", err.Code.String(), err.Stage, err.Message
		if aerr := g.audit(ctx, rec); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if id.SessionToken == "" {
		return fail(errorf(CodeUnauthenticated, "exchange", nil, "no session token for this call (set Identity.SessionToken)"))
	}
	rec.SubjectTokenID = st.subjectID(id.SessionToken)
	req := &ExchangeRequest{
		SubjectToken: id.SessionToken, Audience: st.audience, TTL: st.ttl, Actor: st.actor,
		Scopes: append([]string{ToolScope(call.Tool)}, d.Scopes...),
		Tool:   call.Tool, ArgsHash: argsHashB64(call.RawArguments), RequestID: call.RequestID, Call: call,
	}
	if g.cfg.transport.on() {
		if leaf := g.ownLeaf(); leaf != nil {
			req.CertThumbprint = jwtx.CertThumbprint(leaf.Raw)
		}
	}
	rec.Scopes = req.Scopes
	xctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	tok, err := st.ex.Exchange(xctx, req)
	if err != nil {
		var ge *Error
		if errors.As(err, &ge) {
			return fail(ge)
		}
		code := CodeUnavailable
		var se *sts.Error
		if errors.As(err, &se) {
			code = CodeDenied
			if se.Code == "invalid_grant" || se.Code == "invalid_client" {
				code = CodeUnauthenticated
			}
		}
		return fail(errorf(code, "exchange", err, "token exchange failed"))
	}
	if tok == nil || tok.Value == "" {
		return fail(errorf(CodeUnavailable, "exchange", nil, "token exchanger returned no token"))
	}
	call.TokenID = tok.ID
	rec.TokenID, rec.Outcome = tok.ID, "issued"
	if !tok.Expiry.IsZero() {
		rec.TTL = tok.Expiry.Sub(g.now()).Round(time.Second)
	}
	if err := g.audit(ctx, rec); err != nil {
		return nil, err
	}
	return tok, nil
}

// Subject is who a session token speaks for, as a [SubjectValidator] found.
type Subject struct {
	User, Tenant, Session string
	Roles                 []string
	// TokenID identifies the session token in audit records.
	TokenID string
	Expiry  time.Time
}

// SubjectValidator checks a subject (session) token presented to the
// [Issuer] and says whose it is. The default accepts the issuer's own
// session tokens; enterprises plug in their IdP's validation.
type SubjectValidator interface {
	ValidateSubject(ctx context.Context, token, tokenType string) (*Subject, error)
}

// SubjectValidatorFunc adapts a function to [SubjectValidator].
type SubjectValidatorFunc func(ctx context.Context, token, tokenType string) (*Subject, error)

// ValidateSubject calls f.
func (f SubjectValidatorFunc) ValidateSubject(ctx context.Context, token, tokenType string) (*Subject, error) {
	return f(ctx, token, tokenType)
}

// JWKSource provides the public keys tokens are verified with. Its set
// should stay the same value until it changes, so verifiers can cache what
// they derive from it. refresh asks for a fresh copy because a token named
// an unknown key.
type JWKSource interface {
	JWKS(ctx context.Context, refresh bool) (jwk.Set, error)
}

// JWKSourceFunc adapts a function to [JWKSource].
type JWKSourceFunc func(ctx context.Context, refresh bool) (jwk.Set, error)

// JWKS calls f.
func (f JWKSourceFunc) JWKS(ctx context.Context, refresh bool) (jwk.Set, error) {
	return f(ctx, refresh)
}

// RemoteJWKS returns a source that fetches the key set at url with client
// (nil means a client with a 10 s timeout), caches it for an hour, and
// refreshes it when a token names an unknown key — at most once a second,
// shared by all concurrent requests, so tokens with made-up key ids cannot
// turn into a flood of fetches. A failed refresh keeps the cached set.
func RemoteJWKS(url string, client *http.Client) JWKSource {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	c := jwks.New(url, client, time.Second, time.Hour, time.Now)
	return JWKSourceFunc(c.Get)
}

// TokenClaims are the verified claims of a per-call token.
type TokenClaims struct {
	Issuer, Subject, Tenant, Session, TokenID string
	Audience, Scopes, Roles                   []string
	IssuedAt, Expiry                          time.Time
	// Actor is the agent host that acted for the subject.
	Actor string
	// Tool, ArgsHash and RequestID are the call the token is bound to.
	Tool, ArgsHash, RequestID string
	// CertThumbprint is the x5t#S256 the token is bound to, if any.
	CertThumbprint string
}

// TokenVerifier verifies per-call tokens on the server: signature against
// the issuer's keys (the key's algorithm only; never "none" or HMAC),
// issuer, audience, expiry with a small skew, and token type at+jwt. The
// guard's server middleware (see [WithTokenVerifier]) then checks the binding
// to the actual call and spends the token id once.
type TokenVerifier struct {
	issuer, audience string
	keys             JWKSource
	skew             time.Duration
	clock            func() time.Time
	replay           *replay.Cache
	unbound          bool
	types            []string

	cache atomic.Pointer[keyCache]
}

type keyCache struct {
	set  jwk.Set
	keys map[string]jwtx.Key
}

// NewTokenVerifier returns a verifier for tokens of issuer meant for
// audience (the server's resource URI).
func NewTokenVerifier(issuer, audience string, keys JWKSource, opts ...TokenVerifierOption) (*TokenVerifier, error) {
	if issuer == "" || audience == "" || keys == nil {
		return nil, errors.New("mcpguard: NewTokenVerifier: issuer, audience and keys are required")
	}
	v := &TokenVerifier{issuer: issuer, audience: audience, keys: keys, skew: 30 * time.Second,
		clock: time.Now, replay: replay.New(1 << 20), types: []string{jwtx.TypeAccessToken}}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// keysFor returns the verification keys, refreshing the source once when
// kid is unknown.
func (v *TokenVerifier) keysFor(ctx context.Context, kid string) (map[string]jwtx.Key, error) {
	load := func(refresh bool) (map[string]jwtx.Key, error) {
		set, err := v.keys.JWKS(ctx, refresh)
		if err != nil {
			return nil, err
		}
		if c := v.cache.Load(); c != nil && c.set == set {
			return c.keys, nil
		}
		c := &keyCache{set: set, keys: jwtx.KeysFromSet(set)}
		v.cache.Store(c)
		return c.keys, nil
	}
	keys, err := load(false)
	if err != nil {
		return nil, err
	}
	if _, ok := keys[kid]; !ok {
		return load(true)
	}
	return keys, nil
}

// Verify checks token and returns its claims. It does not spend the token
// id; the server middleware does that once the token matched the call.
func (v *TokenVerifier) Verify(ctx context.Context, token string) (*TokenClaims, error) {
	h, err := jwtx.ParseHeader([]byte(token))
	if err != nil {
		return nil, errorf(CodeUnauthenticated, "token", err, "per-call token rejected")
	}
	keys, err := v.keysFor(ctx, h.Kid)
	if err != nil {
		return nil, errorf(CodeUnavailable, "token", err, "issuer keys unavailable")
	}
	c, err := jwtx.VerifyParsed([]byte(token), h, keys)
	if err != nil {
		return nil, errorf(CodeUnauthenticated, "token", err, "per-call token rejected")
	}
	if !slices.ContainsFunc(v.types, func(t string) bool {
		return strings.EqualFold(h.Typ, t) || strings.EqualFold(h.Typ, "application/"+t)
	}) {
		return nil, errorf(CodeUnauthenticated, "token", nil, "token type %q is not a per-call access token (at+jwt)", h.Typ)
	}
	now := v.clock()
	switch {
	case c.Issuer != v.issuer:
		return nil, errorf(CodeUnauthenticated, "token", nil, "token issuer %q is not trusted", c.Issuer)
	case !c.Audience.Contains(v.audience):
		return nil, errorf(CodeUnauthenticated, "token", nil, "token is for another audience")
	case c.Expiry == 0 || now.After(time.Unix(c.Expiry, 0).Add(v.skew)):
		return nil, errorf(CodeUnauthenticated, "token", nil, "token expired")
	case c.NotBefore != 0 && now.Add(v.skew).Before(time.Unix(c.NotBefore, 0)):
		return nil, errorf(CodeUnauthenticated, "token", nil, "token not yet valid")
	case c.IssuedAt != 0 && now.Add(v.skew).Before(time.Unix(c.IssuedAt, 0)):
		return nil, errorf(CodeUnauthenticated, "token", nil, "token issued in the future")
	case c.ID == "" || c.Subject == "":
		return nil, errorf(CodeUnauthenticated, "token", nil, "token lacks jti or sub")
	}
	tc := &TokenClaims{Issuer: c.Issuer, Subject: c.Subject, Tenant: c.Tenant, Session: c.SessionID, TokenID: c.ID,
		Audience: c.Audience, Scopes: strings.Fields(c.Scope), Roles: c.Roles,
		IssuedAt: time.Unix(c.IssuedAt, 0), Expiry: time.Unix(c.Expiry, 0),
		Tool: c.Tool, ArgsHash: c.ArgsHash, RequestID: c.RequestID}
	if c.Actor != nil {
		tc.Actor = c.Actor.Subject
	}
	if c.Confirmation != nil {
		tc.CertThumbprint = c.Confirmation.X5tS256
	}
	return tc, nil
}

// BearerVerifier adapts the verifier to auth.RequireBearerToken, for
// handlers that want every request to carry a per-call token. The returned
// TokenInfo has UserID = sub, the scopes and expiry, and Extra["claims"] =
// *TokenClaims. Binding to the call is still checked by the server
// middleware.
func (v *TokenVerifier) BearerVerifier() auth.TokenVerifier {
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		c, err := v.Verify(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		return &auth.TokenInfo{UserID: c.Subject, Scopes: c.Scopes, Expiration: c.Expiry,
			Extra: map[string]any{"claims": c}}, nil
	}
}

// checkToken is the server half of token exchange: the token presented with
// a tools/call must verify, match the call exactly, and not have been used.
func (g *Guard) checkToken(ctx context.Context, call *Call, header, meta string) error {
	v := g.cfg.verifier
	token := strings.TrimSpace(header)
	switch {
	case header != "" && meta != "" && header != meta:
		return errorf(CodeTampered, "token", nil, "different tokens in the Authorization header and in _meta")
	case token == "":
		token = meta
	}
	if token == "" {
		return errorf(CodeUnauthenticated, "token", nil, "no per-call token; tool calls need a token exchanged for this call")
	}
	c, err := v.Verify(ctx, token)
	if err != nil {
		return err
	}
	call.User, call.Tenant, call.Session, call.Roles, call.TokenID = c.Subject, c.Tenant, c.Session, c.Roles, c.TokenID
	if !slices.Contains(c.Scopes, ToolScope(call.Tool)) {
		return errorf(CodeTampered, "token", nil, "token does not grant %s", ToolScope(call.Tool))
	}
	if !v.unbound || c.Tool != "" || c.ArgsHash != "" {
		if c.Tool != call.Tool {
			return errorf(CodeTampered, "token", nil, "token is bound to another tool")
		}
		if c.ArgsHash != argsHashB64(call.RawArguments) {
			return errorf(CodeTampered, "token", nil, "arguments differ from those the token was issued for")
		}
	}
	if c.RequestID != "" {
		call.RequestID = c.RequestID
	}
	if c.CertThumbprint != "" || g.cfg.transport.on() {
		if call.Peer == nil || c.CertThumbprint != jwtx.CertThumbprint(call.Peer.Certificate.Raw) {
			return errorf(CodeTampered, "token", nil, "token is not bound to the presented client certificate")
		}
	}
	if err := v.replay.Use(c.TokenID, c.Expiry.Add(v.skew), v.clock()); err != nil {
		code := CodeUnauthenticated
		if errors.Is(err, replay.ErrFull) {
			code = CodeUnavailable
		}
		return errorf(code, "token", err, "token id cannot be used")
	}
	return g.linkGuardSession(ctx, call)
}

// linkGuardSession records, once per certificate and user session, that the
// session's calls arrive over a connection with that client certificate:
// the connection → session link of stateless MCP, which has no transport
// session id.
func (g *Guard) linkGuardSession(ctx context.Context, call *Call) error {
	if call.Peer == nil || call.Session == "" {
		return nil
	}
	isNew, err := g.guardSessions.Bind(call.Peer.Pin+"\x00"+call.Session, call.Peer.Pin, g.now())
	if !isNew && err == nil {
		return nil
	}
	rec := g.record(KindConnection, call)
	rec.Outcome, rec.Tool, rec.ArgsHash, rec.TokenID = "session", "", "", ""
	rec.Conn = g.connInfo(SideServer, "", nil, call.Peer)
	return g.audit(ctx, rec)
}

// Issuer is the embedded security token service: the in-process default
// [TokenExchanger], so nothing external is needed. It mints session tokens
// for users, exchanges them (RFC 8693) for per-call tokens bound to one tool
// call, and serves, as an http.Handler, the token endpoint ({url}/token,
// form-encoded RFC 8693 with RFC 6749 error responses), the JWKS
// ({url}/jwks) and RFC 8414 metadata. It is safe for concurrent use.
type Issuer struct {
	eng *issuer.Issuer
}

// NewIssuer returns an issuer identified by url (the "iss" of its tokens)
// with a fresh ES256 key unless an option says otherwise.
func NewIssuer(url string, opts ...IssuerOption) (*Issuer, error) {
	if url == "" {
		return nil, errors.New("mcpguard: NewIssuer: url is required")
	}
	c := &issuerConfig{alg: "ES256", maxTTL: 5 * time.Minute, sessionTTL: 8 * time.Hour, clock: time.Now, keep: 2}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	key := c.key
	if key == nil {
		var err error
		if key, err = keyring.Generate(c.alg); err != nil {
			return nil, fmt.Errorf("mcpguard: NewIssuer: %w", err)
		}
	}
	s, err := keyring.NewSigner(key)
	if err != nil {
		return nil, fmt.Errorf("mcpguard: NewIssuer: signing key: %w", err)
	}
	ring, err := keyring.New(s, c.keep)
	if err != nil {
		return nil, fmt.Errorf("mcpguard: NewIssuer: %w", err)
	}
	eng := &issuer.Issuer{URL: strings.TrimRight(url, "/"), Ring: ring, Now: c.clock, MaxTTL: c.maxTTL,
		Clients: c.clients, Audiences: c.audiences, SessionTTL: c.sessionTTL}
	if c.subjects != nil {
		eng.Validate = func(ctx context.Context, token, typ string) (*issuer.Subject, error) {
			s, err := c.subjects.ValidateSubject(ctx, token, typ)
			if err != nil {
				return nil, err
			}
			return &issuer.Subject{User: s.User, Tenant: s.Tenant, Session: s.Session, Roles: s.Roles,
				TokenID: s.TokenID, Expiry: s.Expiry}, nil
		}
	}
	return &Issuer{eng: eng}, nil
}

// URL returns the issuer identifier.
func (i *Issuer) URL() string { return i.eng.URL }

// SessionToken mints a session token for a user: what a host obtains when
// the user signs in, and presents as [Identity.SessionToken]. A zero ttl
// means the issuer's default (8 h, see [WithSessionTTL]).
func (i *Issuer) SessionToken(s Subject, ttl time.Duration) (string, error) {
	return i.eng.SessionToken(issuer.Subject{User: s.User, Tenant: s.Tenant, Session: s.Session, Roles: s.Roles}, ttl)
}

// VerifySessionToken checks one of the issuer's own session tokens (a
// gateway accepting session tokens from agents uses it) and says whose it
// is. Per-call tokens and other issuers' tokens are refused.
func (i *Issuer) VerifySessionToken(ctx context.Context, token string) (*Subject, error) {
	s, err := i.eng.ValidateSession(ctx, token)
	if err != nil {
		return nil, errorf(CodeUnauthenticated, "session", err, "session token refused")
	}
	return &Subject{User: s.User, Tenant: s.Tenant, Session: s.Session, Roles: s.Roles, TokenID: s.TokenID, Expiry: s.Expiry}, nil
}

// Exchange implements [TokenExchanger] in-process, without HTTP. Refusals
// are *Error: unauthenticated for a bad subject token, invalid_argument for
// a bad audience or scope.
func (i *Issuer) Exchange(ctx context.Context, req *ExchangeRequest) (*Token, error) {
	iss, err := i.eng.Exchange(ctx, &issuer.Request{SubjectToken: req.SubjectToken, SubjectTokenType: sts.TokenTypeJWT,
		Audience: req.Audience, Scopes: req.Scopes, TTL: req.TTL, Actor: req.Actor,
		Tool: req.Tool, ArgsHash: req.ArgsHash, RequestID: req.RequestID, CertThumbprint: req.CertThumbprint})
	switch {
	case errors.Is(err, issuer.ErrInvalidGrant):
		return nil, errorf(CodeUnauthenticated, "exchange", err, "session token refused by the issuer")
	case err != nil && (errors.Is(err, issuer.ErrInvalidTarget) || errors.Is(err, issuer.ErrInvalidScope)):
		return nil, errorf(CodeInvalidArgument, "exchange", err, "token request refused by the issuer")
	case err != nil:
		return nil, errorf(CodeUnavailable, "exchange", err, "issuer failed")
	}
	return &Token{Value: iss.Token, ID: iss.ID, Scopes: iss.Scopes, Expiry: iss.Expiry}, nil
}

// JWKS implements [JWKSource] with the issuer's public keys.
func (i *Issuer) JWKS(context.Context, bool) (jwk.Set, error) { return i.eng.Ring.Set(), nil }

// RotateKey makes a new key (of the current algorithm) the signing key. The
// previous keys stay in the JWKS so outstanding tokens keep verifying.
func (i *Issuer) RotateKey() error {
	key, err := keyring.Generate(i.eng.Ring.Current().Alg)
	if err != nil {
		return err
	}
	s, err := keyring.NewSigner(key)
	if err != nil {
		return err
	}
	return i.eng.Ring.Rotate(s)
}

// ServeHTTP serves the token endpoint, the JWKS and the metadata.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.eng.ServeHTTP(w, r) }

// RemoteExchanger is an RFC 8693 client for an enterprise STS (Okta, Entra
// ID, Keycloak, ZITADEL, …). It sends the session token as subject_token,
// the server's resource URI as resource, the tool scope, and the call
// binding as an RFC 9396 authorization_details entry of type
// "mcp_tool_call" (STSs that cannot bind need [WithoutCallBinding] on the
// server). Only 5xx answers and network errors are retried.
type RemoteExchanger struct {
	c            sts.Client
	tokenType    string
	sendAudience bool
	timeout      time.Duration
	now          func() time.Time
}

// NewRemoteExchanger returns a client of the token endpoint at tokenURL.
func NewRemoteExchanger(tokenURL string, opts ...RemoteExchangerOption) (*RemoteExchanger, error) {
	if tokenURL == "" {
		return nil, errors.New("mcpguard: NewRemoteExchanger: token URL is required")
	}
	r := &RemoteExchanger{c: sts.Client{TokenURL: tokenURL, HTTP: &http.Client{}, Retries: 2, Backoff: 100 * time.Millisecond},
		tokenType: sts.TokenTypeAccessToken, timeout: 5 * time.Second, now: time.Now}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Exchange implements [TokenExchanger].
func (r *RemoteExchanger) Exchange(ctx context.Context, req *ExchangeRequest) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sr := &sts.Request{SubjectToken: req.SubjectToken, SubjectTokenType: r.tokenType, Scope: req.Scopes,
		RequestedTokenType: sts.TokenTypeAccessToken}
	if req.Audience != "" {
		sr.Resource = []string{req.Audience}
		if r.sendAudience {
			sr.Audience = []string{req.Audience}
		}
	}
	if req.Tool != "" {
		sr.AuthorizationDetails = issuer.AuthorizationDetails(req.Tool, req.ArgsHash, req.RequestID)
	}
	res, err := r.c.Exchange(ctx, sr)
	if err != nil {
		return nil, err
	}
	t := &Token{Value: res.AccessToken, ID: jwtx.UnverifiedID(res.AccessToken), Scopes: strings.Fields(res.Scope)}
	if len(t.Scopes) == 0 {
		t.Scopes = req.Scopes
	}
	if res.ExpiresIn > 0 {
		t.Expiry = r.now().Add(time.Duration(res.ExpiresIn) * time.Second)
	}
	return t, nil
}
