package mcpguard

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/mcpguard/mcpguard/internal/certreload"
	"github.com/mcpguard/mcpguard/internal/floodgate"
	"github.com/mcpguard/mcpguard/internal/hookwriter"
)

// Peer is the verified identity of the other end of a mutual-TLS connection.
type Peer struct {
	// Subject is the leaf certificate's subject, in RFC 2253 form.
	Subject string
	// Pin is the base64 SHA-256 of the leaf's SubjectPublicKeyInfo.
	Pin string
	// DNSNames and URIs are the leaf's subject alternative names; URIs hold
	// SPIFFE IDs where the PKI issues them.
	DNSNames []string
	URIs     []string
	// Certificate is the verified leaf.
	Certificate *x509.Certificate
}

func newPeer(leaf *x509.Certificate) *Peer {
	p := &Peer{Subject: leaf.Subject.String(), Pin: SPKIPin(leaf), DNSNames: leaf.DNSNames, Certificate: leaf}
	for _, u := range leaf.URIs {
		p.URIs = append(p.URIs, u.String())
	}
	return p
}

type peerKey struct{}

// withPeer returns ctx carrying the verified peer.
func withPeer(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the verified TLS peer that [Guard.HTTPHandler] attached to
// a request's context, and whether there was one. In server middleware the
// context is that of the request which opened the MCP session; the handler
// binds each session to the client certificate that opened it, so later
// requests of the session come from the same peer.
func PeerFrom(ctx context.Context) (*Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	return p, ok && p != nil
}

// SPKIPin returns the pin of cert: the standard base64 encoding of the
// SHA-256 of its SubjectPublicKeyInfo (the form HPKP and curl use). The same
// value comes from
//
//	openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
func SPKIPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ParsePin decodes a SPKI pin given as base64 (standard or URL alphabet,
// optionally prefixed "sha256/" or "sha256:") or as 64 hex digits.
func ParsePin(s string) ([32]byte, error) {
	var out [32]byte
	v := strings.TrimSpace(s)
	for _, p := range []string{"sha256/", "sha256:", "SHA256:"} {
		v = strings.TrimPrefix(v, p)
	}
	var b []byte
	var err error
	switch {
	case len(v) == 64:
		b, err = hex.DecodeString(v)
	case strings.ContainsAny(v, "-_"):
		b, err = base64.URLEncoding.DecodeString(padBase64(v))
	default:
		b, err = base64.StdEncoding.DecodeString(padBase64(v))
	}
	if err != nil || len(b) != len(out) {
		return out, fmt.Errorf("mcpguard: %q is not a SHA-256 SPKI pin (base64 or hex)", s)
	}
	copy(out[:], b)
	return out, nil
}

func padBase64(s string) string {
	if r := len(s) % 4; r != 0 {
		s += strings.Repeat("=", 4-r)
	}
	return s
}

// PinSet is a set of accepted SPKI pins that can be replaced while the guard
// runs, for rotation without a restart: publish old and new pins together,
// roll the certificates, then drop the old pin. A PinSet is never empty, so
// a pinned guard never accepts every key by accident.
type PinSet struct {
	pins atomic.Pointer[map[[32]byte]struct{}]
}

// NewPinSet returns a set holding pins (see [ParsePin] for the formats).
func NewPinSet(pins ...string) (*PinSet, error) {
	s := &PinSet{}
	if err := s.Set(pins...); err != nil {
		return nil, err
	}
	return s, nil
}

// Set atomically replaces the accepted pins. Connections already established
// are re-checked on their next HTTP request by [Guard.HTTPHandler].
func (s *PinSet) Set(pins ...string) error {
	if len(pins) == 0 {
		return errors.New("mcpguard: a pin set needs at least one pin")
	}
	m := make(map[[32]byte]struct{}, len(pins))
	for _, p := range pins {
		sum, err := ParsePin(p)
		if err != nil {
			return err
		}
		m[sum] = struct{}{}
	}
	s.pins.Store(&m)
	return nil
}

// Contains reports whether cert's public key is pinned.
func (s *PinSet) Contains(cert *x509.Certificate) bool {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	_, ok := (*s.pins.Load())[sum]
	return ok
}

// Authorizer decides whether a verified peer may connect, after its chain
// verified against the trusted roots and its key matched a pin.
type Authorizer interface {
	Authorize(peer *Peer, verifiedChains [][]*x509.Certificate) error
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(peer *Peer, verifiedChains [][]*x509.Certificate) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(peer *Peer, chains [][]*x509.Certificate) error {
	return f(peer, chains)
}

// AuthorizeURIs accepts peers with one of the given URI SANs, such as SPIFFE
// IDs ("spiffe://example.org/agent").
func AuthorizeURIs(uris ...string) Authorizer {
	return AuthorizerFunc(func(p *Peer, _ [][]*x509.Certificate) error {
		for _, u := range p.URIs {
			if slices.Contains(uris, u) {
				return nil
			}
		}
		return fmt.Errorf("peer URI SANs %v are not among the authorized %v", p.URIs, uris)
	})
}

// AuthorizeDNSNames accepts peers with one of the given DNS SANs.
func AuthorizeDNSNames(names ...string) Authorizer {
	return AuthorizerFunc(func(p *Peer, _ [][]*x509.Certificate) error {
		for _, n := range p.DNSNames {
			if slices.Contains(names, n) {
				return nil
			}
		}
		return fmt.Errorf("peer DNS SANs %v are not among the authorized %v", p.DNSNames, names)
	})
}

// transportConfig is the mutual-TLS part of the guard's configuration.
type transportConfig struct {
	cert       *tls.Certificate
	reloader   *certreload.Reloader
	roots      *x509.CertPool
	pins       *PinSet
	authorizer Authorizer
	minVersion uint16
	failures   *floodgate.Gate
	failLimit  int
}

// on reports whether mutual TLS is configured.
func (t *transportConfig) on() bool { return t.cert != nil || t.reloader != nil }

func (t *transportConfig) finish() error {
	if t.failures = floodgate.New(t.failLimit); !t.on() {
		if t.roots != nil || t.pins != nil || t.authorizer != nil {
			return optionError("WithCertificate", "trust options are set, but the guard has no certificate of its own")
		}
		return nil
	}
	if t.roots == nil {
		return optionError("WithTrustedCAs", "mutual TLS needs the CAs that issue peer certificates")
	}
	return nil
}

// ownCertificate returns the guard's current certificate.
func (g *Guard) ownCertificate() (*tls.Certificate, error) {
	t := &g.cfg.transport
	switch {
	case t.reloader != nil:
		return t.reloader.Get()
	case t.cert != nil:
		return t.cert, nil
	}
	return nil, errorf(CodeUnauthenticated, "transport", nil, "mutual TLS is not configured on this guard")
}

func (g *Guard) ownLeaf() *x509.Certificate {
	c, err := g.ownCertificate()
	if err != nil || c.Leaf == nil {
		return nil
	}
	return c.Leaf
}

// ServerTLSConfig returns the TLS configuration for a guarded server: TLS 1.3
// minimum (see [WithMinTLSVersion]), the guard's certificate, and a client
// certificate required, chained to the trusted CAs, pinned and authorized.
// Every check runs inside the handshake, so a refused client gets a TLS
// alert, never an HTTP response; every refusal is audited.
//
// Use it with http.Server.TLSConfig or tls.NewListener. Do not remove
// VerifyConnection: chain verification happens there (as in go-spiffe), so
// that a missing certificate is audited like any other refusal.
func (g *Guard) ServerTLSConfig() *tls.Config {
	t := &g.cfg.transport
	base := &tls.Config{
		MinVersion: t.minVersion,
		// The certificate is requested, not required, so that a client
		// without one reaches VerifyConnection and is refused and audited
		// there.
		ClientAuth: tls.RequestClientCert,
		ClientCAs:  t.roots,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return g.ownCertificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error { return g.verifyConn(SideServer, "", "", cs) },
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		remote := ""
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr().String()
		}
		if !slices.ContainsFunc(hello.SupportedVersions, func(v uint16) bool { return v >= t.minVersion }) {
			err := errorf(CodeUnauthenticated, "transport", nil, "client offers no TLS version at or above %s", tls.VersionName(t.minVersion))
			g.auditHandshakeFailure(SideServer, remote, err.Message, "")
			return nil, err
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.VerifyConnection = func(cs tls.ConnectionState) error { return g.verifyConn(SideServer, remote, "", cs) }
		return c, nil
	}
	return base
}

// ClientTLSConfig returns the TLS configuration for a guarded client: TLS 1.3
// minimum, the guard's client certificate, and the server's certificate
// chained to the trusted CAs, valid for the server name, pinned and
// authorized. A rogue server fails the handshake; the refusal is audited.
// The name checked is the SNI server name; a connection to an IP address
// sends none and is refused, so for IP targets use [Guard.HTTPClient], which
// checks the certificate against the address dialed.
//
// InsecureSkipVerify is set only because verification moves into
// VerifyConnection, which performs the full chain and host name check (the
// pattern of the crypto/tls documentation and go-spiffe). Do not remove
// VerifyConnection.
func (g *Guard) ClientTLSConfig() *tls.Config {
	t := &g.cfg.transport
	return &tls.Config{
		MinVersion:         t.minVersion,
		RootCAs:            t.roots,
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return g.ownCertificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error { return g.verifyConn(SideClient, "", "", cs) },
	}
}

// verifyPeer verifies the peer's chain, name, pin and authorization.
func (g *Guard) verifyPeer(side Side, serverName string, cs tls.ConnectionState) (*Peer, *Error) {
	t := &g.cfg.transport
	if len(cs.PeerCertificates) == 0 {
		return nil, errorf(CodeUnauthenticated, "transport", nil, "peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   g.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if side == SideClient {
		if serverName == "" {
			serverName = cs.ServerName // SNI; empty when dialing an IP address
		}
		if serverName == "" {
			// Without a name there is nothing to check the certificate
			// against; refuse rather than accept any server of the CA.
			return nil, errorf(CodeUnauthenticated, "transport", nil, "no server name to verify the server certificate against")
		}
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		opts.DNSName = serverName
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if t.roots == nil {
		return nil, errorf(CodeUnauthenticated, "transport", nil, "no trusted CAs configured")
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, errorf(CodeUnauthenticated, "transport", err, "peer certificate %q rejected", leaf.Subject)
	}
	peer := newPeer(leaf)
	if t.pins != nil && !t.pins.Contains(leaf) {
		return nil, errorf(CodeUnauthenticated, "transport", nil, "peer certificate %q key %s is not pinned", leaf.Subject, peer.Pin)
	}
	if t.authorizer != nil {
		if err := t.authorizer.Authorize(peer, chains); err != nil {
			return nil, errorf(CodeUnauthenticated, "transport", err, "peer %q not authorized", leaf.Subject)
		}
	}
	return peer, nil
}

// verifyConn is the VerifyConnection of both configurations: it verifies the
// peer and audits the outcome. An audit failure refuses the connection.
func (g *Guard) verifyConn(side Side, remote, serverName string, cs tls.ConnectionState) error {
	peer, err := g.verifyPeer(side, serverName, cs)
	if err != nil {
		presented := ""
		if len(cs.PeerCertificates) > 0 {
			presented = cs.PeerCertificates[0].Subject.String()
		}
		g.auditHandshakeFailure(side, remote, err.Message, presented)
		return err
	}
	rec := Record{Time: g.now(), Kind: KindConnection, Side: side, Outcome: "accepted", Server: g.cfg.serverName,
		Conn: g.connInfo(side, remote, &cs, peer)}
	if err := g.audit(context.Background(), rec); err != nil {
		return err
	}
	return nil
}

// connInfo describes a connection from this guard's point of view.
func (g *Guard) connInfo(side Side, remote string, cs *tls.ConnectionState, peer *Peer) *ConnInfo {
	ci := &ConnInfo{RemoteAddr: remote}
	if cs != nil {
		ci.TLSVersion, ci.CipherSuite = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	}
	var ownSubject, ownPin string
	if leaf := g.ownLeaf(); leaf != nil {
		ownSubject, ownPin = leaf.Subject.String(), SPKIPin(leaf)
	}
	var peerSubject, peerPin string
	if peer != nil {
		peerSubject, peerPin = peer.Subject, peer.Pin
	}
	if side == SideServer {
		ci.ServerSubject, ci.ServerPin, ci.ClientSubject, ci.ClientPin = ownSubject, ownPin, peerSubject, peerPin
	} else {
		ci.ClientSubject, ci.ClientPin, ci.ServerSubject, ci.ServerPin = ownSubject, ownPin, peerSubject, peerPin
	}
	return ci
}

// auditHandshakeFailure records a refused handshake, within the flood limit.
// It never blocks the refusal: the handshake fails whether or not the
// record could be written.
func (g *Guard) auditHandshakeFailure(side Side, remote, reason, presented string) {
	now := g.now()
	ok, suppressed := g.cfg.transport.failures.Admit(now)
	if !ok {
		return
	}
	if suppressed > 0 {
		reason += fmt.Sprintf(" (%d earlier refusals not recorded one by one)", suppressed)
	}
	ci := g.connInfo(side, remote, nil, &Peer{Subject: presented})
	_ = g.audit(context.Background(), Record{Time: now, Kind: KindConnection, Side: side, Outcome: "refused",
		Code: CodeUnauthenticated.String(), Stage: "transport", Reason: reason, Server: g.cfg.serverName, Conn: ci})
}

// HTTPClient returns an HTTP client for mcp.StreamableClientTransport. It
// dials with [Guard.ClientTLSConfig] when mutual TLS is configured (and then
// never uses a proxy, which would bypass the pinned handshake), audits
// refused handshakes with the server's address, and sets the per-call token
// of each guarded call in its Authorization header.
//
// The client is created once and shared, so connections are pooled across
// all sessions of the guard; call CloseIdleConnections on it to release
// them.
func (g *Guard) HTTPClient() *http.Client {
	g.httpOnce.Do(func() { g.httpClient = g.newHTTPClient() })
	return g.httpClient
}

func (g *Guard) newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// An agent host keeps many sessions to few servers: keep their
	// connections, instead of paying a mutual-TLS handshake per request.
	tr.MaxIdleConnsPerHost = 256
	if g.cfg.transport.on() {
		tr.Proxy = nil
		tr.TLSClientConfig = g.ClientTLSConfig()
		tr.DialTLSContext = g.dialTLS
	}
	return &http.Client{Transport: &tokenTransport{g: g, base: tr}}
}

func (g *Guard) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	remote := raw.RemoteAddr().String()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	cfg := g.ClientTLSConfig()
	cfg.ServerName = host
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return g.verifyConn(SideClient, remote, host, cs) }
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		var ge *Error
		if !errors.As(err, &ge) { // ours were audited in verifyConn
			g.auditHandshakeFailure(SideClient, remote, "handshake failed: "+err.Error(), "")
			err = errorf(CodeUnauthenticated, "transport", err, "TLS handshake with %s failed", addr)
		}
		return nil, err
	}
	return conn, nil
}

// tokenTransport puts the per-call token on the request of a guarded call.
type tokenTransport struct {
	g    *Guard
	base http.RoundTripper
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, ok := callTokenFrom(r.Context())
	if !ok {
		return t.base.RoundTrip(r)
	}
	// A RoundTripper must not modify the caller's request.
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+tok.Value)
	return t.base.RoundTrip(r2)
}

// sessionHeader is the Streamable HTTP transport's session header.
const sessionHeader = "Mcp-Session-Id"

// HTTPHandler wraps a guarded server's Streamable HTTP handler. With mutual
// TLS configured it refuses requests that did not arrive over a connection
// with a verified, pinned client certificate (re-checking pins on every
// request, so a rotated-out pin stops working on kept-alive connections),
// puts the [Peer] in the request context, binds each transport session
// (Mcp-Session-Id) to the certificate that opened it, refuses the session's
// use from any other certificate, and records a connection record linking
// the certificate to the session when the session first appears.
func (g *Guard) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.cfg.transport.on() {
			next.ServeHTTP(w, r)
			return
		}
		peer, err := g.requestPeer(r)
		if err != nil {
			g.refuseHTTP(w, r, http.StatusUnauthorized, err)
			return
		}
		sid := r.Header.Get(sessionHeader)
		if sid != "" {
			if err := g.sessions.Check(sid, peer.Pin, g.now()); err != nil {
				g.refuseHTTP(w, r, http.StatusForbidden, errorf(CodeUnauthenticated, "transport", err, "session refused"))
				return
			}
		}
		hw := hookwriter.New(w, func(h http.Header) error {
			if newSID := h.Get(sessionHeader); sid == "" && newSID != "" {
				if err := g.linkSession(r, peer, newSID); err != nil {
					var ge *Error
					if errors.As(err, &ge) {
						return errors.New(ge.wireMessage()) // the cause stays local
					}
					return err
				}
			}
			return nil
		})
		next.ServeHTTP(hw, r.WithContext(withPeer(r.Context(), peer)))
		if r.Method == http.MethodDelete && sid != "" && hw.Status()/100 == 2 {
			g.sessions.Forget(sid)
		}
	})
}

// requestPeer returns the verified peer of a request's connection. The
// chain is verified at most once per certificate (cached); the pin and the
// authorizer are checked on every request.
func (g *Guard) requestPeer(r *http.Request) (*Peer, *Error) {
	if r.TLS == nil {
		return nil, errorf(CodeUnauthenticated, "transport", nil, "request did not arrive over TLS")
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return nil, errorf(CodeUnauthenticated, "transport", nil, "no client certificate")
	}
	leaf := r.TLS.PeerCertificates[0]
	key := sha256.Sum256(leaf.Raw)
	if peer, ok := g.verified.Load(key); ok {
		now := g.now()
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			g.verified.Delete(key)
			return nil, errorf(CodeUnauthenticated, "transport", nil, "client certificate %q is outside its validity period", peer.Subject)
		}
		t := &g.cfg.transport
		if t.pins != nil && !t.pins.Contains(leaf) {
			return nil, errorf(CodeUnauthenticated, "transport", nil, "client certificate %q key %s is no longer pinned", peer.Subject, peer.Pin)
		}
		if t.authorizer != nil {
			if err := t.authorizer.Authorize(peer, nil); err != nil {
				return nil, errorf(CodeUnauthenticated, "transport", err, "peer %q not authorized", peer.Subject)
			}
		}
		return peer, nil
	}
	peer, err := g.verifyPeer(SideServer, "", *r.TLS)
	if err != nil {
		return nil, err
	}
	g.verified.Store(key, peer)
	return peer, nil
}

// maxVerifiedCache bounds the per-certificate verification cache.
const maxVerifiedCache = 4096

func (g *Guard) refuseHTTP(w http.ResponseWriter, r *http.Request, status int, err *Error) {
	g.auditHandshakeFailure(SideServer, r.RemoteAddr, err.Message, "")
	http.Error(w, err.wireMessage(), status)
}

// linkSession binds a new transport session to the peer's certificate and
// records the connection → session link.
func (g *Guard) linkSession(r *http.Request, peer *Peer, sid string) error {
	now := g.now()
	isNew, err := g.sessions.Bind(sid, peer.Pin, now)
	if err != nil {
		return errorf(CodeUnavailable, "transport", err, "cannot bind session")
	}
	if !isNew {
		return nil
	}
	rec := Record{Time: now, Kind: KindConnection, Side: SideServer, Outcome: "session", TransportSession: sid,
		Server: g.cfg.serverName, Conn: g.connInfo(SideServer, r.RemoteAddr, r.TLS, peer)}
	if err := g.audit(r.Context(), rec); err != nil {
		g.sessions.Forget(sid)
		return err
	}
	return nil
}

// CloseIdleConnections closes the pooled connections, so that
// http.Client.CloseIdleConnections reaches them.
func (t *tokenTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
