package pki

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDevPKI(t *testing.T) {
	for _, alg := range []Alg{ECDSAP256, Ed25519} {
		d, err := NewDev(alg)
		require.NoError(t, err)
		_, err = d.Server.Cert.Verify(x509.VerifyOptions{Roots: d.CA.Pool(), DNSName: "localhost",
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err)
		_, err = d.Client.Cert.Verify(x509.VerifyOptions{Roots: d.CA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(t, err)
		_, err = d.RogueServer.Cert.Verify(x509.VerifyOptions{Roots: d.CA.Pool(), DNSName: "localhost"})
		require.Error(t, err)
		require.Equal(t, d.ClientID, d.Client.Cert.URIs[0].String())
		pair, err := tls.X509KeyPair(d.Client.CertPEM, d.Client.KeyPEM)
		require.NoError(t, err)
		require.Equal(t, d.Client.Cert.Raw, pair.Certificate[0])
	}
	_, err := (&CA{}).Issue(LeafOptions{})
	require.Error(t, err)
}
