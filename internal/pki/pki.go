// Package pki mints certificate authorities and leaf certificates in memory,
// for tests, examples and development setups. It is not a production CA:
// keys live in memory and there is no revocation.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Alg is a key algorithm.
type Alg int

// The supported key algorithms.
const (
	ECDSAP256 Alg = iota
	Ed25519
)

func newKey(a Alg) (crypto.Signer, error) {
	switch a {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("pki: unknown algorithm %d", a)
}

// CA is a certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewCA returns a self-signed CA valid from an hour ago for ten years.
func NewCA(name string, alg Alg) (*CA, error) {
	key, err := newKey(alg)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mcpguard dev PKI"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describe a leaf certificate.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	URIs       []string
	IPs        []net.IP
	// Client and Server set the extended key usages.
	Client, Server bool
	// NotBefore and NotAfter default to an hour ago and a year from now.
	NotBefore, NotAfter time.Time
	Alg                 Alg
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	TLS     tls.Certificate
	Cert    *x509.Certificate
	CertPEM []byte // leaf only
	KeyPEM  []byte // PKCS #8
}

// Issue signs a leaf certificate.
func (ca *CA) Issue(o LeafOptions) (*Leaf, error) {
	if !o.Client && !o.Server {
		return nil, errors.New("pki: a leaf needs client or server usage")
	}
	key, err := newKey(o.Alg)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: []string{"mcpguard dev PKI"}},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
	}
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyAgreement
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("pki: URI SAN %q: %w", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if o.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if o.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Leaf{
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// Dev is a complete development PKI: one CA, a server certificate for
// localhost and 127.0.0.1, a client certificate, and a rogue server and
// client from a second, untrusted CA.
type Dev struct {
	CA, RogueCA          *CA
	Server, Client       *Leaf
	RogueServer, Rogue   *Leaf // issued by RogueCA
	SameCARogueServer    *Leaf // issued by CA, but not pinned anywhere
	ServerName, ClientID string
}

// NewDev mints a development PKI with keys of alg.
func NewDev(alg Alg) (*Dev, error) {
	d := &Dev{ServerName: "localhost", ClientID: "spiffe://mcpguard.test/agent-host"}
	var err error
	if d.CA, err = NewCA("mcpguard dev CA", alg); err != nil {
		return nil, err
	}
	if d.RogueCA, err = NewCA("rogue CA", alg); err != nil {
		return nil, err
	}
	loop := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	server := LeafOptions{CommonName: "mcp-server", DNSNames: []string{"localhost"}, IPs: loop,
		URIs: []string{"spiffe://mcpguard.test/mcp-server"}, Server: true, Alg: alg}
	client := LeafOptions{CommonName: "agent-host", URIs: []string{d.ClientID}, Client: true, Alg: alg}
	if d.Server, err = d.CA.Issue(server); err != nil {
		return nil, err
	}
	if d.Client, err = d.CA.Issue(client); err != nil {
		return nil, err
	}
	if d.SameCARogueServer, err = d.CA.Issue(server); err != nil {
		return nil, err
	}
	if d.RogueServer, err = d.RogueCA.Issue(server); err != nil {
		return nil, err
	}
	if d.Rogue, err = d.RogueCA.Issue(client); err != nil {
		return nil, err
	}
	return d, nil
}
