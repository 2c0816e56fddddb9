package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mcpguard/mcpguard"
)

const (
	clientID     = "agent-host"
	clientSecret = "agent-host-secret-0123456789"
	resource     = "https://files.test/mcp"
)

// sessions maps opaque session tokens of the "enterprise IdP" to users.
var sessions = map[string]string{"session-of-alice": "alice"}

type signingKey struct{ k *ecdsa.PrivateKey }

func (s signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (s signingKey) Key() any                                    { return s.k }
func (s signingKey) ID() string                                  { return "zitadel-k1" }

type publicKey struct{ k *ecdsa.PrivateKey }

func (p publicKey) ID() string                         { return "zitadel-k1" }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.PublicKey }

type client struct{}

func (client) GetID() string                        { return clientID }
func (client) RedirectURIs() []string               { return nil }
func (client) PostLogoutRedirectURIs() []string     { return nil }
func (client) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (client) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethodBasic }
func (client) ResponseTypes() []oidc.ResponseType   { return nil }
func (client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeTokenExchange} }
func (client) LoginURL(string) string               { return "" }
func (client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (client) IDTokenLifetime() time.Duration       { return time.Minute }
func (client) DevMode() bool                        { return false }
func (client) IsScopeAllowed(s string) bool         { return strings.HasPrefix(s, "tools:call:") }
func (client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (client) ClockSkew() time.Duration             { return 0 }
func (client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// storage is the smallest op.Storage that supports token exchange with JWT
// access tokens; the authorization-code flow is not used here.
type storage struct {
	key       *ecdsa.PrivateKey
	exchanges atomic.Int64
}

var errUnused = errors.New("not used in this test")

func (s *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errUnused
}
func (s *storage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errUnused
}
func (s *storage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errUnused
}
func (s *storage) SaveAuthCode(context.Context, string, string) error { return errUnused }
func (s *storage) DeleteAuthRequest(context.Context, string) error    { return errUnused }
func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	s.exchanges.Add(1)
	return "zt-" + time.Now().Format("150405.000000000"), time.Now().Add(time.Minute), nil
}
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnused
}
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errUnused
}
func (s *storage) TerminateSession(context.Context, string, string) error { return errUnused }
func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrServerError()
}
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", errUnused
}
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return signingKey{s.key}, nil }
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}
func (s *storage) KeySet(context.Context) ([]op.Key, error) { return []op.Key{publicKey{s.key}}, nil }
func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != clientID {
		return nil, errors.New("unknown client")
	}
	return client{}, nil
}
func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != clientID || secret != clientSecret {
		return errors.New("invalid client credentials")
	}
	return nil
}
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}
func (s *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return nil
}
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return nil
}
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnused
}
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnused
}
func (s *storage) Health(context.Context) error { return nil }

// TokenExchangeStorage.
func (s *storage) ValidateTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) error {
	if len(r.GetAudience()) != 1 || r.GetAudience()[0] != resource {
		return oidc.ErrInvalidTarget().WithDescription("unknown audience")
	}
	for _, sc := range r.GetScopes() {
		if !strings.HasPrefix(sc, "tools:call:") {
			return oidc.ErrInvalidScope()
		}
	}
	return nil
}
func (s *storage) CreateTokenExchangeRequest(context.Context, op.TokenExchangeRequest) error {
	return nil
}
func (s *storage) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) (map[string]any, error) {
	return map[string]any{"scope": strings.Join(r.GetScopes(), " "), "tenant": "acme"}, nil
}
func (s *storage) SetUserinfoFromTokenExchangeRequest(context.Context, *oidc.UserInfo, op.TokenExchangeRequest) error {
	return nil
}

// TokenExchangeTokensVerifierStorage: the IdP's own session tokens.
func (s *storage) VerifyExchangeSubjectToken(_ context.Context, token string, _ oidc.TokenType) (string, string, map[string]any, error) {
	user, ok := sessions[token]
	if !ok {
		return "", "", nil, errors.New("unknown session")
	}
	return "sid-" + user, user, nil, nil
}
func (s *storage) VerifyExchangeActorToken(context.Context, string, oidc.TokenType) (string, string, map[string]any, error) {
	return "", "", nil, errUnused
}

func newZitadel(t *testing.T) (*httptest.Server, *storage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	st := &storage{key: key}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	provider, err := op.NewOpenIDProvider(issuer, &op.Config{CryptoKey: cryptoKey}, st, op.WithAllowInsecure())
	require.NoError(t, err)
	srv.Config.Handler = provider
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, st
}

// The remote exchanger obtains per-call tokens from a ZITADEL OpenID
// provider's RFC 8693 endpoint, and a guarded server accepts them.
func TestRemoteExchangerAgainstZitadel(t *testing.T) {
	srv, st := newZitadel(t)
	remote, err := mcpguard.NewRemoteExchanger(srv.URL+"/oauth/token",
		mcpguard.WithClientSecretBasic(clientID, clientSecret), mcpguard.WithAudienceParameter())
	require.NoError(t, err)

	// ZITADEL signs access tokens with typ "JWT" and cannot bind a token to
	// one call's arguments; the server says so explicitly.
	verifier, err := mcpguard.NewTokenVerifier(srv.URL, resource, mcpguard.RemoteJWKS(srv.URL+"/keys", nil),
		mcpguard.WithAcceptedTokenTypes("at+jwt", "JWT"), mcpguard.WithoutCallBinding())
	require.NoError(t, err)

	var seenUser atomic.Value
	sg, err := mcpguard.New(mcpguard.WithTokenVerifier(verifier), mcpguard.WithPolicy(mcpguard.PolicyFunc(
		func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
			seenUser.Store(c.User)
			return mcpguard.Allow(), nil
		})))
	require.NoError(t, err)
	cg, err := mcpguard.New(mcpguard.WithTokenExchange(remote, resource))
	require.NoError(t, err)

	server := mcp.NewServer(&mcp.Implementation{Name: "files", Version: "v1"}, nil)
	server.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	server.AddReceivingMiddleware(sg.ServerMiddleware())
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "v1"}, nil)
	c.AddSendingMiddleware(cg.ClientMiddleware())
	stt, ct := mcp.NewInMemoryTransports()
	ss, err := server.Connect(context.Background(), stt, nil)
	require.NoError(t, err)
	defer ss.Close()
	cs, err := c.Connect(context.Background(), ct, nil)
	require.NoError(t, err)
	defer cs.Close()

	ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice", SessionToken: "session-of-alice"})
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	require.NoError(t, err)
	require.Equal(t, "ok", res.Content[0].(*mcp.TextContent).Text)
	require.Equal(t, "alice", seenUser.Load())
	require.EqualValues(t, 1, st.exchanges.Load())

	ex := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindExchange})
	require.Len(t, ex, 1)
	require.Equal(t, "issued", ex[0].Outcome)

	// An unknown session and a wrong client secret are refused by ZITADEL;
	// the guard fails closed.
	_, err = cs.CallTool(mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "mallory", SessionToken: "forged"}),
		&mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	var ge *mcpguard.Error
	require.True(t, errors.As(err, &ge), "%v", err)
	require.Equal(t, "exchange", ge.Stage)

	bad, err := mcpguard.NewRemoteExchanger(srv.URL+"/oauth/token", mcpguard.WithClientSecretBasic(clientID, "wrong"),
		mcpguard.WithAudienceParameter())
	require.NoError(t, err)
	_, err = bad.Exchange(context.Background(), &mcpguard.ExchangeRequest{SubjectToken: "session-of-alice", Audience: resource,
		Scopes: []string{"tools:call:echo"}})
	require.ErrorContains(t, err, "invalid_client")
}
