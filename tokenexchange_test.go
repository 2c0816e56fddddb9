package mcpguard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

const testAudience = "https://files.test/mcp"

// tokenSetup is an issuer with a guarded client and server that exchange
// and verify per-call tokens.
type tokenSetup struct {
	issuer   *mcpguard.Issuer
	verifier *mcpguard.TokenVerifier
	server   *mcpguard.Guard
	client   *mcpguard.Guard
	session  string
	executed atomic.Int64
	ctx      context.Context
}

func newTokenSetup(t testing.TB, serverOpts, clientOpts []mcpguard.Option) *tokenSetup {
	t.Helper()
	iss, err := mcpguard.NewIssuer("https://issuer.test")
	require.NoError(t, err)
	v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
	require.NoError(t, err)
	ts := &tokenSetup{issuer: iss, verifier: v}
	ts.server = mustGuard(t, append([]mcpguard.Option{mcpguard.WithTokenVerifier(v), mcpguard.WithServerName("files")}, serverOpts...)...)
	ts.client = mustGuard(t, append([]mcpguard.Option{mcpguard.WithTokenExchange(iss, testAudience), mcpguard.WithAgentID("agent-host")}, clientOpts...)...)
	ts.session, err = iss.SessionToken(mcpguard.Subject{User: "alice", Tenant: "acme", Session: "sess-9"}, 0)
	require.NoError(t, err)
	ts.ctx = mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice", Tenant: "acme", Session: "sess-9", SessionToken: ts.session})
	return ts
}

// whoPolicy records the identity the server guard derived from the token.
func whoPolicy(seen *atomic.Pointer[mcpguard.Call]) mcpguard.Option {
	return mcpguard.WithPolicy(mcpguard.PolicyFunc(func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
		cc := *c
		seen.Store(&cc)
		return mcpguard.Allow(), nil
	}))
}

func TestTokenExchangeEndToEnd(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Pointer[mcpguard.Call]
			ts := newTokenSetup(t, []mcpguard.Option{whoPolicy(&seen)}, nil)
			cs := tc.connect(t, newTestServer(ts.server, &ts.executed), ts.client)
			res, err := callEcho(ts.ctx, cs, "hi")
			require.NoError(t, err)
			require.Equal(t, "hi", textOf(t, res))

			got := seen.Load()
			require.Equal(t, "alice", got.User, "server identity comes from the verified token")
			require.Equal(t, "acme", got.Tenant)
			require.Equal(t, "sess-9", got.Session)
			require.NotEmpty(t, got.TokenID)

			ex := ts.client.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindExchange})
			require.Len(t, ex, 1)
			require.Equal(t, "issued", ex[0].Outcome)
			require.Equal(t, got.TokenID, ex[0].TokenID)
			require.Equal(t, []string{"tools:call:echo"}, ex[0].Scopes)
			require.LessOrEqual(t, ex[0].TTL, 60*time.Second)
			require.NotEmpty(t, ex[0].SubjectTokenID)
			require.NotEmpty(t, ex[0].ArgsHash)
			exec := ts.server.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindExecution})
			require.Len(t, exec, 1)
			require.Equal(t, ex[0].TokenID, exec[0].TokenID, "server execution links to the exchanged token")
			require.Equal(t, ex[0].RequestID, exec[0].RequestID)
			require.Equal(t, "alice", exec[0].User)
			for _, log := range []*mcpguard.AuditLog{ts.client.AuditLog(), ts.server.AuditLog()} {
				b, _ := json.Marshal(log.Records())
				require.NotContains(t, string(b), ts.session, "no token in the audit log")
				require.NotContains(t, string(b), "eyJ", "no JWT in the audit log")
			}
		})
	}
}

func TestTokenExchangeOverMTLSBindsTheClientCertificate(t *testing.T) {
	d := devPKI(t)
	var seen atomic.Pointer[mcpguard.Call]
	ts := newTokenSetup(t,
		[]mcpguard.Option{whoPolicy(&seen), mcpguard.WithCertificate(d.Server.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert))},
		[]mcpguard.Option{mcpguard.WithCertificate(d.Client.TLS), mcpguard.WithTrustedCAs(d.CA.Pool()),
			mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Server.Cert)), mcpguard.WithTokenInHeaderOnly()})
	url := serveMTLS(t, ts.server, newTestServer(ts.server, &ts.executed), true)
	cs, err := connectMTLS(ts.ctx, url, ts.client, "")
	require.NoError(t, err)
	defer cs.Close()
	for range 2 {
		_, err = callEcho(ts.ctx, cs, "bound")
		require.NoError(t, err)
	}
	require.Equal(t, "alice", seen.Load().User)
	// The user session is linked to the client certificate once.
	var links []mcpguard.Record
	for _, r := range ts.server.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindConnection}) {
		if r.Outcome == "session" {
			links = append(links, r)
		}
	}
	require.Len(t, links, 1)
	require.Equal(t, "sess-9", links[0].Session)
	require.Equal(t, "alice", links[0].User)
	require.Equal(t, mcpguard.SPKIPin(d.Client.Cert), links[0].Conn.ClientPin)

	// A token bound to another client certificate is refused, even over a
	// valid connection.
	other := devPKI(t)
	tok, err := ts.issuer.Exchange(context.Background(), exchangeFor(ts.session, "echo", `{"text":"x"}`, jwtThumb(other.Client.Cert)))
	require.NoError(t, err)
	hc := ts.client.HTTPClient()
	raw := mcp.NewClient(&mcp.Implementation{Name: "raw", Version: "v1"}, nil)
	rcs, err := raw.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil)
	require.NoError(t, err)
	defer rcs.Close()
	_, err = rcs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"},
		Meta: mcp.Meta{mcpguard.MetaTokenKey: tok.Value}})
	require.ErrorContains(t, err, "mcpguard: tampered: token is not bound to the presented client certificate")
	require.EqualValues(t, 2, ts.executed.Load())
}

func jwtThumb(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// exchangeFor is an exchange request for one call, as the client guard would
// make it.
func exchangeFor(session, tool, canonicalArgs, thumb string) *mcpguard.ExchangeRequest {
	sum := sha256.Sum256([]byte(canonicalArgs))
	return &mcpguard.ExchangeRequest{SubjectToken: session, Audience: testAudience, Scopes: []string{mcpguard.ToolScope(tool)},
		TTL: time.Minute, Tool: tool, ArgsHash: base64.RawURLEncoding.EncodeToString(sum[:]), CertThumbprint: thumb}
}

// forge builds a compact JWS with the given header and claims and signer.
func forge(header, claims map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestServerRefusesBadTokens(t *testing.T) {
	ts := newTokenSetup(t, nil, nil)
	s := newTestServer(ts.server, &ts.executed)
	s.AddTool(&mcp.Tool{Name: "other", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ts.executed.Add(1)
			return &mcp.CallToolResult{}, nil
		})
	cs := connectInMemory(t, s, nil) // an unguarded client: whatever it sends
	ctx := context.Background()
	good := func(tool, args string) string {
		tok, err := ts.issuer.Exchange(ctx, exchangeFor(ts.session, tool, args, ""))
		require.NoError(t, err)
		return tok.Value
	}
	send := func(tool string, args map[string]any, token string) error {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args, Meta: mcp.Meta{mcpguard.MetaTokenKey: token}})
		return err
	}
	keys, err := ts.issuer.JWKS(ctx, false)
	require.NoError(t, err)
	key, _ := keys.Key(0)
	pubJSON, _ := json.Marshal(key)
	now := time.Now().Unix()
	claims := map[string]any{"iss": ts.issuer.URL(), "sub": "mallory", "aud": testAudience, "iat": now, "exp": now + 60,
		"jti": "forged", "scope": "tools:call:echo", "mcp_tool": "echo"}

	otherIssuer, err := mcpguard.NewIssuer("https://issuer.test") // same name, different key
	require.NoError(t, err)
	otherTok, err := otherIssuer.Exchange(ctx, exchangeFor(ts.session, "echo", `{"text":"a"}`, ""))
	require.Error(t, err, "the other issuer does not accept our session token")
	otherSession, err := otherIssuer.SessionToken(mcpguard.Subject{User: "mallory"}, 0)
	require.NoError(t, err)
	otherTok, err = otherIssuer.Exchange(ctx, exchangeFor(otherSession, "echo", `{"text":"a"}`, ""))
	require.NoError(t, err)

	wrongAud := exchangeFor(ts.session, "echo", `{"text":"a"}`, "")
	wrongAud.Audience = "https://elsewhere.test/mcp"
	wrongAudTok, err := ts.issuer.Exchange(ctx, wrongAud)
	require.NoError(t, err)

	replayed := good("echo", `{"text":"a"}`)
	require.NoError(t, send("echo", map[string]any{"text": "a"}, replayed))

	for _, tc := range []struct {
		name  string
		tool  string
		args  map[string]any
		token string
		want  string
	}{
		{"none", "echo", map[string]any{"text": "a"}, "", "mcpguard: unauthenticated: no per-call token"},
		{"session-token-directly", "echo", map[string]any{"text": "a"}, ts.session, "mcpguard: unauthenticated: token type \"session+jwt\""},
		{"tool-A-for-tool-B", "other", map[string]any{"text": "a"}, good("echo", `{"text":"a"}`), "mcpguard: tampered: token does not grant tools:call:other"},
		{"args-a-for-args-b", "echo", map[string]any{"text": "b"}, good("echo", `{"text":"a"}`), "mcpguard: tampered: arguments differ"},
		{"replayed-jti", "echo", map[string]any{"text": "a"}, replayed, "mcpguard: unauthenticated: token id cannot be used"},
		{"other-audience", "echo", map[string]any{"text": "a"}, wrongAudTok.Value, "mcpguard: unauthenticated: token is for another audience"},
		{"unknown-key", "echo", map[string]any{"text": "a"}, otherTok.Value, "mcpguard: unauthenticated: per-call token rejected"},
		{"alg-none", "echo", map[string]any{"text": "a"},
			forge(map[string]any{"alg": "none", "typ": "at+jwt", "kid": key.KeyID()}, claims, func([]byte) []byte { return nil }),
			"mcpguard: unauthenticated: per-call token rejected"},
		{"hs256-with-public-key", "echo", map[string]any{"text": "a"},
			forge(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": key.KeyID()}, claims, func(in []byte) []byte {
				m := hmac.New(sha256.New, pubJSON)
				m.Write(in)
				return m.Sum(nil)
			}), "mcpguard: unauthenticated: per-call token rejected"},
		{"garbage", "echo", map[string]any{"text": "a"}, "not.a.jwt", "mcpguard: unauthenticated"},
		{"huge", "echo", map[string]any{"text": "a"}, strings.Repeat("A", 20000) + ".b.c", "mcpguard: unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.executed.Load()
			err := send(tc.tool, tc.args, tc.token)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, before, ts.executed.Load(), "nothing executed")
			last := ts.server.AuditLog().Records()[ts.server.AuditLog().Len()-1]
			require.Equal(t, "deny", last.Outcome)
		})
	}
}

func TestExpiredTokenIsRefused(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithIssuerClock(func() time.Time { return past }))
	require.NoError(t, err)
	v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
	require.NoError(t, err)
	session, err := iss.SessionToken(mcpguard.Subject{User: "alice"}, 2*time.Hour)
	require.NoError(t, err)
	tok, err := iss.Exchange(context.Background(), exchangeFor(session, "echo", `{"text":"a"}`, ""))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), tok.Value)
	requireGuardError(t, err, mcpguard.CodeUnauthenticated)
	require.ErrorContains(t, err, "token expired")

	// Within the skew a token still verifies; a token from the future does not.
	v2, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss,
		mcpguard.WithVerifierClock(func() time.Time { return past.Add(-time.Hour) }))
	require.NoError(t, err)
	_, err = v2.Verify(context.Background(), tok.Value)
	require.ErrorContains(t, err, "not yet valid")
}

func TestExchangeFailuresFailClosed(t *testing.T) {
	// An issuer nobody listens on: the call fails closed, nothing is sent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + ln.Addr().String() + "/token"
	require.NoError(t, ln.Close())
	down, err := mcpguard.NewRemoteExchanger(deadURL, mcpguard.WithExchangeRetries(1, time.Millisecond))
	require.NoError(t, err)

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so the server notices the client giving up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	slowEx, err := mcpguard.NewRemoteExchanger(slow.URL+"/token", mcpguard.WithExchangeRetries(0, 0))
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		ex   mcpguard.TokenExchanger
		opts []mcpguard.Option
		ctx  func(*tokenSetup) context.Context
		code mcpguard.Code
	}{
		{"issuer-unreachable", down, nil, nil, mcpguard.CodeUnavailable},
		{"issuer-slow", slowEx, []mcpguard.Option{mcpguard.WithTokenExchangeTimeout(100 * time.Millisecond)}, nil, mcpguard.CodeUnavailable},
		{"no-session-token", nil, nil, func(*tokenSetup) context.Context {
			return mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice"})
		}, mcpguard.CodeUnauthenticated},
		{"bad-session-token", nil, nil, func(ts *tokenSetup) context.Context {
			return mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice", SessionToken: ts.session + "x"})
		}, mcpguard.CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenSetup(t, nil, nil)
			cg := ts.client
			if tc.ex != nil {
				cg = mustGuard(t, append([]mcpguard.Option{mcpguard.WithTokenExchange(tc.ex, testAudience)}, tc.opts...)...)
			}
			cs := connectInMemory(t, newTestServer(ts.server, &ts.executed), cg)
			ctx := ts.ctx
			if tc.ctx != nil {
				ctx = tc.ctx(ts)
			}
			start := time.Now()
			_, err := callEcho(ctx, cs, "x")
			requireGuardError(t, err, tc.code)
			require.Less(t, time.Since(start), 4*time.Second)
			require.Zero(t, ts.executed.Load(), "nothing reached the server")
			ex := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindExchange})
			require.Len(t, ex, 1)
			require.Equal(t, "error", ex[0].Outcome)
		})
	}
}

func TestIssuerTokenEndpoint(t *testing.T) {
	iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithIssuerClient("agent-host", "s3cret-s3cret-s3cret"),
		mcpguard.WithSigningAlgorithm("EdDSA"))
	require.NoError(t, err)
	srv := httptest.NewServer(iss)
	defer srv.Close()
	session, err := iss.SessionToken(mcpguard.Subject{User: "alice", Session: "s1"}, 0)
	require.NoError(t, err)

	post := func(form url.Values, user, pass string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return res.StatusCode, body
	}
	base := func() url.Values {
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {session},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "resource": {testAudience}, "scope": {"tools:call:echo"}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(url.Values)
		user   string
		status int
		code   string
	}{
		{"ok", func(url.Values) {}, "agent-host", 200, ""},
		{"no-client", func(url.Values) {}, "", 401, "invalid_client"},
		{"wrong-secret", func(url.Values) {}, "agent-host:wrong", 401, "invalid_client"},
		{"grant-type", func(f url.Values) { f.Set("grant_type", "password") }, "agent-host", 400, "unsupported_grant_type"},
		{"no-subject", func(f url.Values) { f.Del("subject_token") }, "agent-host", 400, "invalid_request"},
		{"no-target", func(f url.Values) { f.Del("resource") }, "agent-host", 400, "invalid_target"},
		{"two-targets", func(f url.Values) { f.Add("resource", "https://b.test/") }, "agent-host", 400, "invalid_target"},
		{"bad-subject", func(f url.Values) { f.Set("subject_token", "x.y.z") }, "agent-host", 400, "invalid_grant"},
		{"bad-binding", func(f url.Values) { f.Set("authorization_details", `[{"type":"other"}]`) }, "agent-host", 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			tc.mutate(f)
			user, pass := tc.user, "s3cret-s3cret-s3cret"
			if u, p, ok := strings.Cut(tc.user, ":"); ok {
				user, pass = u, p
			}
			status, body := post(f, user, pass)
			require.Equal(t, tc.status, status, "%v", body)
			if tc.code != "" {
				require.Equal(t, tc.code, body["error"])
				return
			}
			require.Equal(t, "Bearer", body["token_type"])
			require.Equal(t, "urn:ietf:params:oauth:token-type:access_token", body["issued_token_type"])
			// The token verifies against the JWKS served over HTTP.
			v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, mcpguard.RemoteJWKS(srv.URL+"/jwks", nil))
			require.NoError(t, err)
			c, err := v.Verify(context.Background(), body["access_token"].(string))
			require.NoError(t, err)
			require.Equal(t, "alice", c.Subject)
			require.Equal(t, "agent-host", c.Actor)
		})
	}
}

func TestRemoteExchangerAgainstEmbeddedIssuer(t *testing.T) {
	iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithIssuerClient("agent-host", "s3cret-s3cret-s3cret"))
	require.NoError(t, err)
	srv := httptest.NewServer(iss)
	defer srv.Close()
	remote, err := mcpguard.NewRemoteExchanger(srv.URL+"/token", mcpguard.WithClientSecretBasic("agent-host", "s3cret-s3cret-s3cret"),
		mcpguard.WithSubjectTokenType("urn:ietf:params:oauth:token-type:jwt"))
	require.NoError(t, err)
	v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, mcpguard.RemoteJWKS(srv.URL+"/jwks", nil))
	require.NoError(t, err)
	var seen atomic.Pointer[mcpguard.Call]
	sg := mustGuard(t, mcpguard.WithTokenVerifier(v), whoPolicy(&seen))
	cg := mustGuard(t, mcpguard.WithTokenExchange(remote, testAudience))
	session, err := iss.SessionToken(mcpguard.Subject{User: "bob", Tenant: "globex"}, 0)
	require.NoError(t, err)
	cs := connectInMemory(t, newTestServer(sg, nil), cg)
	ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "bob", SessionToken: session})
	for range 2 {
		_, err = callEcho(ctx, cs, "over http")
		require.NoError(t, err)
	}
	require.Equal(t, "bob", seen.Load().User)

	// Key rotation: tokens from the new key verify after one JWKS refresh
	// (refreshes are at most once a second).
	require.NoError(t, iss.RotateKey())
	time.Sleep(1100 * time.Millisecond)
	_, err = callEcho(ctx, cs, "after rotation")
	require.NoError(t, err)
}

func TestRemoteExchangerRetriesOnlyServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		calls    int
		ok       bool
	}{
		{"5xx-then-ok", []int{503, 502, 200}, 3, true},
		{"4xx-is-final", []int{400, 200}, 1, false},
		{"5xx-exhausted", []int{500, 500, 500, 500}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				require.NoError(t, r.ParseForm())
				require.Equal(t, "tools:call:echo", r.PostForm.Get("scope"))
				require.Equal(t, testAudience, r.PostForm.Get("resource"))
				require.Contains(t, r.PostForm.Get("authorization_details"), `"type":"mcp_tool_call"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.statuses[i])
				if tc.statuses[i] == 200 {
					_, _ = w.Write([]byte(`{"access_token":"opaque","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":60}`))
				} else {
					_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
				}
			}))
			defer srv.Close()
			ex, err := mcpguard.NewRemoteExchanger(srv.URL, mcpguard.WithExchangeRetries(2, time.Millisecond))
			require.NoError(t, err)
			tok, err := ex.Exchange(context.Background(), exchangeFor("session", "echo", `{}`, ""))
			require.Equal(t, tc.calls, int(n.Load()))
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, "opaque", tok.Value)
				require.NotEmpty(t, tok.ID)
				return
			}
			require.Error(t, err)
		})
	}
}

func TestTokenOptionsAreValidated(t *testing.T) {
	iss, err := mcpguard.NewIssuer("https://issuer.test")
	require.NoError(t, err)
	for name, opts := range map[string][]mcpguard.Option{
		"WithTokenExchange":  {mcpguard.WithTokenExchange(iss, "not a uri")},
		"WithTokenVerifier":  {mcpguard.WithTokenVerifier(nil)},
		"WithTokenTTL":       {mcpguard.WithTokenTTL(time.Hour)},
		"WithAgentID":        {mcpguard.WithAgentID("")},
		"WithTokenExchange ": {mcpguard.WithAgentID("a")}, // needs an exchanger
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mcpguard.New(opts...)
			require.ErrorContains(t, err, strings.TrimSpace(name))
		})
	}
	_, err = mcpguard.NewIssuer("https://x", mcpguard.WithSigningAlgorithm("HS256"))
	require.Error(t, err)
	_, err = mcpguard.NewTokenVerifier("", testAudience, iss)
	require.Error(t, err)
}

func TestRemoteExchangerPrivateKeyJWT(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	var tokenURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		require.Equal(t, "agent-host", r.PostForm.Get("client_id"))
		require.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", r.PostForm.Get("client_assertion_type"))
		tok, err := jwt.Parse([]byte(r.PostForm.Get("client_assertion")), jwt.WithKey(jwa.ES256, &key.PublicKey),
			jwt.WithValidate(true), jwt.WithAudience(tokenURL), jwt.WithIssuer("agent-host"), jwt.WithSubject("agent-host"))
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		require.NotEmpty(t, tok.JwtID())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}`))
	}))
	defer srv.Close()
	tokenURL = srv.URL + "/token"
	ex, err := mcpguard.NewRemoteExchanger(tokenURL, mcpguard.WithPrivateKeyJWT("agent-host", key, "k1"))
	require.NoError(t, err)
	tok, err := ex.Exchange(context.Background(), exchangeFor("s", "echo", `{}`, ""))
	require.NoError(t, err)
	require.Equal(t, "t", tok.Value)

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bad, err := mcpguard.NewRemoteExchanger(tokenURL, mcpguard.WithPrivateKeyJWT("agent-host", other, "k1"))
	require.NoError(t, err)
	_, err = bad.Exchange(context.Background(), exchangeFor("s", "echo", `{}`, ""))
	require.ErrorContains(t, err, "invalid_client")
}

// TestClockSkew: an issuer whose clock runs ahead or behind the server's by
// less than the skew is accepted; by more, its tokens are refused, with a
// clear reason, and nothing runs.
func TestClockSkew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration
		want   string
	}{
		{"ahead-within-skew", 20 * time.Second, ""},
		{"behind-within-skew", -20 * time.Second, ""},
		{"ahead-beyond-skew", 2 * time.Minute, "not yet valid"},
		{"behind-beyond-skew", -3 * time.Minute, "token expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithIssuerClock(func() time.Time { return time.Now().Add(tc.offset) }))
			require.NoError(t, err)
			v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
			require.NoError(t, err)
			var executed atomic.Int64
			sg := mustGuard(t, mcpguard.WithTokenVerifier(v))
			cg := mustGuard(t, mcpguard.WithTokenExchange(iss, testAudience))
			session, err := iss.SessionToken(mcpguard.Subject{User: "alice"}, time.Hour)
			require.NoError(t, err)
			cs := connectInMemory(t, newTestServer(sg, &executed), cg)
			_, err = callEcho(mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice", SessionToken: session}), cs, "x")
			if tc.want == "" {
				require.NoError(t, err)
				require.EqualValues(t, 1, executed.Load())
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.Zero(t, executed.Load())
		})
	}
}
