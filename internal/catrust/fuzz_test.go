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

// FuzzReadArchive: any bytes in, no panic; an archive that reads has every
// CA certificate the manifest names.
func FuzzReadArchive(f *testing.F) {
	ca := testpki.MustCA(f, testpki.WithCN("kubernetes")).Cert
	good, err := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRenew, CAs: []catrust.ArchiveCA{{Name: "ca", Path: "/etc/kubernetes/pki/ca.crt", Cert: ca}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := catrust.ReadArchive(data)
		if err != nil {
			return
		}
		for _, c := range m.CAs {
			if c.Cert == nil || catrust.Fingerprint(c.Cert) != c.NewSHA256 {
				t.Fatalf("CA %s without its certificate", c.Name)
			}
		}
	})
}
