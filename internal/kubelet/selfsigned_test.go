package kubelet

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

func TestSelfSignedServingIsWhatTheKubeletMakesForItselfAgain(t *testing.T) {
	n := ServingNames{Host: "worker-1", IPs: []net.IP{net.ParseIP("192.0.2.10")}}
	certPEM, keyPEM, err := SelfSignedServing(n, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("kubelet.crt and kubelet.key do not load as a pair: %v", err)
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil || len(certs) != 2 {
		t.Fatalf("kubelet.crt holds %d certificates (%v), want the serving one and its CA", len(certs), err)
	}
	leaf, ca := certs[0], certs[1]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "worker-1", CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the serving certificate does not verify for worker-1 under its CA: %v", err)
	}
	got, err := NamesOf(leaf)
	if err != nil || got.Host != "worker-1" || !slices.ContainsFunc(got.IPs, net.ParseIP("192.0.2.10").Equal) {
		t.Errorf("names %+v (%v)", got, err)
	}
	if !leaf.NotAfter.After(t0.Add(364 * 24 * time.Hour)) {
		t.Errorf("valid until %s, want a year", leaf.NotAfter)
	}
}
