package secrets

import (
	"testing"

	"github.com/certrescue/certrescue/internal/testpki"
)

// FuzzSecretObject feeds arbitrary Secret values to the parser: it must never
// panic, and a value without a certificate is an error series.
func FuzzSecretObject(f *testing.F) {
	ca := testpki.MustCA(f)
	leaf := testpki.MustLeaf(f, ca)
	f.Add(testpki.CertPEM(leaf.Cert), testpki.KeyPEM(f, leaf.Key), testpki.CertPEM(ca.Cert))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"), []byte("junk"), []byte{})
	f.Add(leaf.Cert.Raw, []byte{}, []byte{0x30})
	f.Fuzz(func(t *testing.T, crt, key, caPEM []byte) {
		o := SecretObject("ns", "name", map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": caPEM})
		if len(o.Entries) == 0 {
			t.Fatalf("no series for tls.crt %q", crt)
		}
		_ = ConfigMapObject("ns", "name", map[string]string{"ca.crt": string(crt)}, DefaultConfigMapKeys)
	})
}
