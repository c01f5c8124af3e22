package signer

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// now is the test's "now": certificates are made around the real time
// because cfssl serve and the fake Vault sign at their own clock.
func now() time.Time { return time.Now() }

// kubeletClientRequest is a request shaped like kubeadm's kubelet client
// certificate: its group in O, a SAN set to prove nothing is dropped.
func kubeletClientRequest(t *testing.T) Request {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	nb, na := pki.Window(now(), pki.DefaultBackdate, 24*time.Hour)
	return Request{Name: "kubelet-client", Key: key, RequireUsages: true, Template: pki.Template{
		Subject:     pkix.Name{CommonName: "system:node:node1", Organization: []string{"system:nodes"}},
		DNSNames:    []string{"node1", "node1.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   nb, NotAfter: na,
	}}
}

func mustCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	return testpki.MustCA(t, testpki.WithCN(cn), testpki.WithValidity(now().Add(-time.Hour), now().Add(10*365*24*time.Hour)))
}

// verifies checks the certificate chains to ca (through chain) at now.
func verifies(t *testing.T, cert *x509.Certificate, ca *x509.Certificate, chain ...*x509.Certificate) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range chain {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("the signed certificate does not verify against %q: %v", ca.Subject.CommonName, err)
	}
}

type testpkiCA struct {
	root  []byte
	inter *pki.CA
}

func (c *testpkiCA) rootCert(t *testing.T) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(c.root)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
