package mcpguard_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/internal/pki"
)

func devPKI(t testing.TB) *pki.Dev {
	t.Helper()
	d, err := pki.NewDev(pki.ECDSAP256)
	require.NoError(t, err)
	return d
}

// serverGuard is a server guard holding d.Server and pinning d.Client.
func serverGuard(t testing.TB, d *pki.Dev, opts ...mcpguard.Option) *mcpguard.Guard {
	t.Helper()
	base := []mcpguard.Option{
		mcpguard.WithCertificate(d.Server.TLS),
		mcpguard.WithTrustedCAs(d.CA.Pool()),
		mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert)),
		mcpguard.WithServerName("files"),
	}
	return mustGuard(t, append(base, opts...)...)
}

// clientGuard is a client guard holding d.Client and pinning d.Server.
func clientGuard(t testing.TB, d *pki.Dev, opts ...mcpguard.Option) *mcpguard.Guard {
	t.Helper()
	base := []mcpguard.Option{
		mcpguard.WithCertificate(d.Client.TLS),
		mcpguard.WithTrustedCAs(d.CA.Pool()),
		mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Server.Cert)),
	}
	return mustGuard(t, append(base, opts...)...)
}

// serveMTLS serves s behind g's HTTP handler and TLS configuration on a
// loopback port and returns the https URL.
func serveMTLS(t testing.TB, g *mcpguard.Guard, s *mcp.Server, stateless bool) string {
	t.Helper()
	h := g.HTTPHandler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless}))
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.Listener = tls.NewListener(srv.Listener, g.ServerTLSConfig())
	srv.Start()
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String()
}

func connectMTLS(ctx context.Context, url string, cg *mcpguard.Guard, protocol string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "agent-host", Version: "v1"}, nil)
	c.AddSendingMiddleware(cg.ClientMiddleware())
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: cg.HTTPClient(), MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: protocol})
}

// peerPolicy records the peer the server guard saw on each call.
func peerPolicy(seen *atomic.Pointer[mcpguard.Peer]) mcpguard.Option {
	return mcpguard.WithPolicy(mcpguard.PolicyFunc(func(_ context.Context, c *mcpguard.Call) (mcpguard.Decision, error) {
		if c.Peer == nil {
			return mcpguard.Deny("no verified peer"), nil
		}
		seen.Store(c.Peer)
		return mcpguard.Allow(), nil
	}))
}

func TestMTLSEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		protocol  string
		stateless bool
	}{
		{"2026-07-28-stateless", "2026-07-28", true},
		{"2026-07-28", "2026-07-28", false},
		{"2025-11-25-sessions", "2025-11-25", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := devPKI(t)
			var seen atomic.Pointer[mcpguard.Peer]
			sg := serverGuard(t, d, peerPolicy(&seen), mcpguard.WithPeerAuthorizer(mcpguard.AuthorizeURIs(d.ClientID)))
			cg := clientGuard(t, d)
			url := serveMTLS(t, sg, newTestServer(sg, nil), tc.stateless)
			ctx := alice(context.Background())
			cs, err := connectMTLS(ctx, url, cg, tc.protocol)
			require.NoError(t, err)
			defer cs.Close()
			for range 3 {
				res, err := callEcho(ctx, cs, "over mTLS")
				require.NoError(t, err)
				require.Equal(t, "over mTLS", textOf(t, res))
			}
			peer := seen.Load()
			require.NotNil(t, peer)
			require.Equal(t, mcpguard.SPKIPin(d.Client.Cert), peer.Pin)
			require.Equal(t, []string{d.ClientID}, peer.URIs)

			conns := sg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindConnection})
			require.NotEmpty(t, conns)
			require.Equal(t, "accepted", conns[0].Outcome)
			ci := conns[0].Conn
			require.Equal(t, "TLS 1.3", ci.TLSVersion)
			require.Equal(t, mcpguard.SPKIPin(d.Client.Cert), ci.ClientPin)
			require.Equal(t, mcpguard.SPKIPin(d.Server.Cert), ci.ServerPin)
			require.Contains(t, ci.ClientSubject, "CN=agent-host")
			require.Contains(t, ci.ServerSubject, "CN=mcp-server")
			require.Contains(t, ci.RemoteAddr, "127.0.0.1:")

			var sessions []mcpguard.Record
			for _, r := range conns {
				if r.Outcome == "session" {
					sessions = append(sessions, r)
				}
			}
			if cs.ID() != "" {
				// Protocols with transport sessions: the session is linked
				// to the certificate that opened it, once.
				require.Len(t, sessions, 1)
				require.Equal(t, cs.ID(), sessions[0].TransportSession)
				require.Equal(t, mcpguard.SPKIPin(d.Client.Cert), sessions[0].Conn.ClientPin)
			} else {
				require.Empty(t, sessions)
			}
			clientConns := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindConnection})
			require.NotEmpty(t, clientConns)
			require.Equal(t, mcpguard.SPKIPin(d.Server.Cert), clientConns[0].Conn.ServerPin)
			require.NoError(t, sg.AuditLog().Verify())
		})
	}
}

// rawHandshake dials url's host with cfg, completes the client side of the
// handshake and reads once, so a TLS 1.3 server's alert (sent after the
// client's Finished) surfaces. It returns the error seen.
func rawHandshake(t *testing.T, url string, cfg *tls.Config) error {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

func TestServerRefusesBadClientsAtHandshake(t *testing.T) {
	d := devPKI(t)
	expired, err := d.CA.Issue(pki.LeafOptions{CommonName: "expired", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	future, err := d.CA.Issue(pki.LeafOptions{CommonName: "future", Client: true,
		NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	unpinned, err := d.CA.Issue(pki.LeafOptions{CommonName: "unpinned", Client: true})
	require.NoError(t, err)

	sg := serverGuard(t, d, mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert), mcpguard.SPKIPin(expired.Cert), mcpguard.SPKIPin(future.Cert)))
	url := serveMTLS(t, sg, newTestServer(sg, nil), true)
	roots := d.CA.Pool()
	for _, tc := range []struct {
		name   string
		certs  []tls.Certificate
		reason string
	}{
		{"no-certificate", nil, "no certificate"},
		{"other-ca", []tls.Certificate{d.Rogue.TLS}, "rejected"},
		{"right-ca-not-pinned", []tls.Certificate{unpinned.TLS}, "not pinned"},
		{"expired", []tls.Certificate{expired.TLS}, "rejected"},
		{"not-yet-valid", []tls.Certificate{future.TLS}, "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sg.AuditLog().Len()
			cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
			if tc.certs != nil {
				// Always present the certificate, even when the server's
				// CA hint does not list its issuer.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc.certs[0], nil }
			}
			err := rawHandshake(t, url, cfg)
			require.Error(t, err)
			require.Regexp(t, `remote error: tls: (bad certificate|certificate required)`, err.Error(),
				"refused by a TLS alert, not an HTTP status")
			recs := sg.AuditLog().Records()[before:]
			require.Len(t, recs, 1)
			require.Equal(t, "refused", recs[0].Outcome)
			require.Contains(t, recs[0].Reason, tc.reason)
			require.Contains(t, recs[0].Conn.RemoteAddr, "127.0.0.1:")
		})
	}

	t.Run("tls12-downgrade", func(t *testing.T) {
		before := sg.AuditLog().Len()
		err := rawHandshake(t, url, &tls.Config{RootCAs: roots, ServerName: "localhost",
			Certificates: []tls.Certificate{d.Client.TLS}, MaxVersion: tls.VersionTLS12})
		require.Error(t, err)
		recs := sg.AuditLog().Records()[before:]
		require.Len(t, recs, 1)
		require.Contains(t, recs[0].Reason, "no TLS version at or above TLS 1.3")
	})

	t.Run("go-sdk-client-without-certificate", func(t *testing.T) {
		plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		c := mcp.NewClient(&mcp.Implementation{Name: "rogue", Version: "v1"}, nil)
		_, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: plain, MaxRetries: -1}, nil)
		require.Error(t, err)
	})
}

func TestClientRefusesRogueServers(t *testing.T) {
	d := devPKI(t)
	otherName, err := d.CA.Issue(pki.LeafOptions{CommonName: "elsewhere", DNSNames: []string{"elsewhere.test"}, Server: true})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		cert   tls.Certificate
		pins   []string
		reason string
	}{
		// Same CA, valid for the name, but not the pinned key: rogue MCP
		// server injection.
		{"right-ca-wrong-pin", d.SameCARogueServer.TLS, nil, "not pinned"},
		{"other-ca", d.RogueServer.TLS, nil, "rejected"},
		{"cert-for-another-name", otherName.TLS, []string{mcpguard.SPKIPin(otherName.Cert)}, "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The rogue server itself is happy to serve anyone from its CA.
			rogueGuard := mustGuard(t, mcpguard.WithCertificate(tc.cert), mcpguard.WithTrustedCAs(d.CA.Pool()))
			var executed atomic.Int64
			url := serveMTLS(t, rogueGuard, newTestServer(nil, &executed), true)
			opts := []mcpguard.Option{}
			if tc.pins != nil {
				opts = append(opts, mcpguard.WithPeerPins(tc.pins...))
			}
			cg := clientGuard(t, d, opts...)
			_, err := connectMTLS(context.Background(), url, cg, "")
			require.Error(t, err)
			require.Zero(t, executed.Load())
			refused := cg.AuditLog().Query(mcpguard.AuditQuery{Kind: mcpguard.KindConnection})
			require.NotEmpty(t, refused)
			require.Equal(t, "refused", refused[0].Outcome)
			require.Contains(t, refused[0].Reason, tc.reason)
			require.Contains(t, refused[0].Conn.RemoteAddr, "127.0.0.1:")
		})
	}
}

func TestPinRotation(t *testing.T) {
	d := devPKI(t)
	next, err := d.CA.Issue(pki.LeafOptions{CommonName: "agent-host-2", Client: true})
	require.NoError(t, err)
	pins, err := mcpguard.NewPinSet(mcpguard.SPKIPin(d.Client.Cert), mcpguard.SPKIPin(next.Cert))
	require.NoError(t, err)
	sg := serverGuard(t, d, mcpguard.WithPeerPinSet(pins))
	url := serveMTLS(t, sg, newTestServer(sg, nil), true)
	oldGuard, newGuard := clientGuard(t, d), clientGuard(t, d, mcpguard.WithCertificate(next.TLS))

	// Overlap: both keys are accepted.
	oldSession, err := connectMTLS(context.Background(), url, oldGuard, "")
	require.NoError(t, err)
	defer oldSession.Close()
	_, err = callEcho(context.Background(), oldSession, "old")
	require.NoError(t, err)
	newSession, err := connectMTLS(context.Background(), url, newGuard, "")
	require.NoError(t, err)
	_, err = callEcho(context.Background(), newSession, "new")
	require.NoError(t, err)

	// After: the old key alone is refused, on a new handshake and on the
	// connection it kept alive.
	require.NoError(t, pins.Set(mcpguard.SPKIPin(next.Cert)))
	_, err = callEcho(context.Background(), oldSession, "old again")
	require.Error(t, err, "kept-alive connection re-checked")
	_, err = connectMTLS(context.Background(), url, clientGuard(t, d), "")
	require.Error(t, err)
	_, err = callEcho(context.Background(), newSession, "new again")
	require.NoError(t, err)
	require.Error(t, pins.Set(), "a pin set is never empty")
}

func TestSessionIsBoundToTheCertificateThatOpenedIt(t *testing.T) {
	d := devPKI(t)
	second, err := d.CA.Issue(pki.LeafOptions{CommonName: "agent-host-2", Client: true})
	require.NoError(t, err)
	sg := serverGuard(t, d, mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert), mcpguard.SPKIPin(second.Cert)))
	url := serveMTLS(t, sg, newTestServer(sg, nil), false)
	cs, err := connectMTLS(context.Background(), url, clientGuard(t, d), "2025-11-25")
	require.NoError(t, err)
	defer cs.Close()
	require.NotEmpty(t, cs.ID())

	// Another valid, pinned certificate replays the session id.
	hijacker := clientGuard(t, d, mcpguard.WithCertificate(second.TLS)).HTTPClient()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := hijacker.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	last := sg.AuditLog().Records()[sg.AuditLog().Len()-1]
	require.Equal(t, "refused", last.Outcome)
	require.Contains(t, last.Reason, "session refused")
}

func TestCertificateFilesAreReloaded(t *testing.T) {
	d := devPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	write := func(l *pki.Leaf) {
		require.NoError(t, os.WriteFile(certFile, l.CertPEM, 0o600))
		require.NoError(t, os.WriteFile(keyFile, l.KeyPEM, 0o600))
		// Make the change visible even on coarse file-time clocks.
		later := time.Now().Add(time.Duration(len(l.CertPEM)) * time.Millisecond)
		require.NoError(t, os.Chtimes(certFile, later, later))
	}
	write(d.Client)
	next, err := d.CA.Issue(pki.LeafOptions{CommonName: "agent-host-rotated", Client: true})
	require.NoError(t, err)

	var seen atomic.Pointer[mcpguard.Peer]
	sg := serverGuard(t, d, peerPolicy(&seen), mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert), mcpguard.SPKIPin(next.Cert)))
	url := serveMTLS(t, sg, newTestServer(sg, nil), true)
	cg := mustGuard(t, mcpguard.WithCertificateFiles(certFile, keyFile), mcpguard.WithTrustedCAs(d.CA.Pool()))

	call := func() string {
		// A rotated certificate applies to new connections: this client
		// makes one per request.
		cfg := cg.ClientTLSConfig()
		cfg.ServerName = "localhost"
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
		c := mcp.NewClient(&mcp.Implementation{Name: "agent-host", Version: "v1"}, nil)
		c.AddSendingMiddleware(cg.ClientMiddleware())
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil)
		require.NoError(t, err)
		defer cs.Close()
		_, err = callEcho(context.Background(), cs, "x")
		require.NoError(t, err)
		return seen.Load().Subject
	}
	require.Contains(t, call(), "CN=agent-host,")
	write(next)
	require.Contains(t, call(), "CN=agent-host-rotated")

	// A half-written rotation (garbage key) keeps the last good pair.
	require.NoError(t, os.WriteFile(keyFile, []byte("not a key"), 0o600))
	require.Contains(t, call(), "CN=agent-host-rotated")
}

func TestHandshakeFailureFloodIsBounded(t *testing.T) {
	d := devPKI(t)
	now := time.Unix(1_700_000_000, 0)
	sg := serverGuard(t, d, mcpguard.WithHandshakeFailureAuditLimit(3), mcpguard.WithClock(func() time.Time { return now }))
	url := serveMTLS(t, sg, newTestServer(sg, nil), true)
	cfg := &tls.Config{RootCAs: d.CA.Pool(), ServerName: "localhost"}
	for range 20 {
		require.Error(t, rawHandshake(t, url, cfg))
	}
	require.Equal(t, 3, sg.AuditLog().Len(), "3 records in the one-second window")
	now = now.Add(time.Second)
	require.Error(t, rawHandshake(t, url, cfg))
	recs := sg.AuditLog().Records()
	require.Len(t, recs, 4)
	require.Contains(t, recs[3].Reason, "17 earlier refusals not recorded one by one")
}

func TestTransportOptionsAreValidated(t *testing.T) {
	d := devPKI(t)
	for name, opts := range map[string][]mcpguard.Option{
		"WithTrustedCAs":       {mcpguard.WithCertificate(d.Server.TLS)},
		"WithCertificate":      {mcpguard.WithPeerPins(mcpguard.SPKIPin(d.Client.Cert))},
		"WithPeerPins":         {mcpguard.WithPeerPins("not-a-pin")},
		"WithMinTLSVersion":    {mcpguard.WithMinTLSVersion(tls.VersionTLS11)},
		"WithCertificateFiles": {mcpguard.WithCertificateFiles("/nonexistent/cert.pem", "/nonexistent/key.pem")},
		"WithPeerAuthorizer":   {mcpguard.WithPeerAuthorizer(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mcpguard.New(opts...)
			require.ErrorContains(t, err, name)
		})
	}
}

func TestParsePin(t *testing.T) {
	d := devPKI(t)
	pin := mcpguard.SPKIPin(d.Server.Cert)
	want, err := mcpguard.ParsePin(pin)
	require.NoError(t, err)
	hexPin := strings.ToLower(strings.TrimSpace(hexOf(want[:])))
	for _, form := range []string{pin, "sha256/" + pin, strings.TrimRight(pin, "="), hexPin,
		strings.NewReplacer("+", "-", "/", "_").Replace(pin)} {
		got, err := mcpguard.ParsePin(form)
		require.NoError(t, err, form)
		require.Equal(t, want, got, form)
	}
	for _, bad := range []string{"", "abc", hexPin[:60], pin + "AA"} {
		_, err := mcpguard.ParsePin(bad)
		require.Error(t, err, bad)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

func TestAuthorizers(t *testing.T) {
	d := devPKI(t)
	peer := &mcpguard.Peer{URIs: []string{d.ClientID}, DNSNames: []string{"agent.internal"}}
	require.NoError(t, mcpguard.AuthorizeURIs(d.ClientID).Authorize(peer, nil))
	require.Error(t, mcpguard.AuthorizeURIs("spiffe://other/x").Authorize(peer, nil))
	require.NoError(t, mcpguard.AuthorizeDNSNames("agent.internal").Authorize(peer, nil))
	require.Error(t, mcpguard.AuthorizeDNSNames("x").Authorize(peer, nil))

	// A refusing authorizer refuses at the handshake.
	sg := serverGuard(t, d, mcpguard.WithPeerAuthorizer(mcpguard.AuthorizeURIs("spiffe://mcpguard.test/someone-else")))
	url := serveMTLS(t, sg, newTestServer(sg, nil), true)
	_, err := connectMTLS(context.Background(), url, clientGuard(t, d), "")
	require.Error(t, err)
	var ce *x509.CertificateInvalidError
	require.False(t, errors.As(err, &ce))
	require.Contains(t, sg.AuditLog().Records()[0].Reason, "not authorized")
}
