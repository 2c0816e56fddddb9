package mcpguard

import (
	"context"
	"crypto/x509"
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

type peerKey struct{}

// withPeer returns ctx carrying the verified peer.
func withPeer(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the verified TLS peer that [Guard.HTTPHandler] attached to
// a request's context, and whether there was one.
func PeerFrom(ctx context.Context) (*Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	return p, ok && p != nil
}
