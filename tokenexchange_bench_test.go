package mcpguard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
)

// BenchmarkTokenExchange compares the guard's in-process exchange plus
// server verification with the floor: a bare jwx sign + verify of the same
// claims with the same kind of key.
func BenchmarkTokenExchange(b *testing.B) {
	for _, alg := range []struct {
		name string
		jwa  jwa.SignatureAlgorithm
		key  func() (any, any)
	}{
		{"ES256", jwa.ES256, func() (any, any) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return k, &k.PublicKey
		}},
		{"EdDSA", jwa.EdDSA, func() (any, any) {
			pub, k, _ := ed25519.GenerateKey(rand.Reader)
			return k, pub
		}},
	} {
		b.Run(alg.name+"/floor-jwx-sign+verify", func(b *testing.B) {
			priv, pub := alg.key()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				tok, err := jwt.NewBuilder().Issuer("https://issuer.test").Subject("alice").Audience([]string{testAudience}).
					IssuedAt(now).NotBefore(now).Expiration(now.Add(time.Minute)).JwtID("0123456789abcdef0123456789abcdef").
					Claim("scope", "tools:call:echo").Claim("sid", "sess-9").Claim("tenant", "acme").
					Claim("act", map[string]string{"sub": "agent-host"}).Claim("mcp_tool", "echo").
					Claim("mcp_args_sha256", "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg").
					Claim("mcp_req", "0123456789abcdef0123456789abcdef").Build()
				if err != nil {
					b.Fatal(err)
				}
				signed, err := jwt.Sign(tok, jwt.WithKey(alg.jwa, priv))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jwt.Parse(signed, jwt.WithKey(alg.jwa, pub), jwt.WithValidate(true),
					jwt.WithIssuer("https://issuer.test"), jwt.WithAudience(testAudience)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.name+"/guard-exchange+verify", func(b *testing.B) {
			iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithSigningAlgorithm(alg.name))
			require.NoError(b, err)
			v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
			require.NoError(b, err)
			session, err := iss.SessionToken(mcpguard.Subject{User: "alice", Tenant: "acme", Session: "sess-9"}, 0)
			require.NoError(b, err)
			req := exchangeFor(session, "echo", `{"text":"a"}`, "")
			req.Actor, req.RequestID = "agent-host", "0123456789abcdef0123456789abcdef"
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tok, err := iss.Exchange(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := v.Verify(ctx, tok.Value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkToolCallWithExchange is a full tools/call over in-memory
// transports with per-call token exchange (EdDSA), against the unguarded
// call, in the same run.
func BenchmarkToolCallWithExchange(b *testing.B) {
	b.Run("unguarded", func(b *testing.B) {
		benchCalls(b, connectInMemory(b, newBenchServer(nil), nil), context.Background())
	})
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run("guarded-exchange-"+alg, func(b *testing.B) {
			iss, err := mcpguard.NewIssuer("https://issuer.test", mcpguard.WithSigningAlgorithm(alg))
			require.NoError(b, err)
			v, err := mcpguard.NewTokenVerifier(iss.URL(), testAudience, iss)
			require.NoError(b, err)
			sg := mustGuard(b, mcpguard.WithTokenVerifier(v))
			cg := mustGuard(b, mcpguard.WithTokenExchange(iss, testAudience))
			session, err := iss.SessionToken(mcpguard.Subject{User: "alice"}, 0)
			require.NoError(b, err)
			ctx := mcpguard.WithIdentity(context.Background(), mcpguard.Identity{User: "alice", SessionToken: session})
			benchCalls(b, connectInMemory(b, newBenchServer(sg), cg), ctx)
		})
	}
}

func benchCalls(b *testing.B, cs *mcp.ClientSession, ctx context.Context) {
	params := &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://example.com/a"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.CallTool(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
}
