package catrust_test

import (
	"crypto/x509"
	"testing"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// FuzzRebundle: any bytes in, no panic; a result parses, holds no certificate
// of the old CA and holds the bundle when it changed.
func FuzzRebundle(f *testing.F) {
	old := testpki.MustCA(f, testpki.WithCN("kubernetes")).Cert
	nw := testpki.MustCA(f, testpki.WithCN("kubernetes")).Cert
	f.Add(testpki.CertPEM(old))
	f.Add(append([]byte("junk\n"), testpki.CertPEM(nw, old)...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	r := catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{nw}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, changed, err := catrust.Rebundle(data, r)
		if err != nil || !changed {
			return
		}
		certs, err := pki.ParseCertificatesPEM(out)
		if err != nil {
			t.Fatalf("changed output does not parse: %v", err)
		}
		found := false
		for _, c := range certs {
			if r.Matches(c) && c.Equal(old) {
				t.Fatal("the old CA is still there")
			}
			found = found || c.Equal(nw)
		}
		if !found {
			t.Fatal("the bundle is missing")
		}
	})
}
