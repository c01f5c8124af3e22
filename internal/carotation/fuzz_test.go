package carotation

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/certrescue/certrescue/internal/testpki"
)

// FuzzPublicKeys: any bytes in (a --service-account-key-file), no panic;
// every key returned re-encodes.
func FuzzPublicKeys(f *testing.F) {
	ca := testpki.MustCA(f, testpki.WithCN("sa"))
	der, err := x509.MarshalPKIXPublicKey(ca.Signer.Public())
	if err != nil {
		f.Fatal(err)
	}
	one := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	f.Add(one)
	f.Add(append(append([]byte("junk\n"), one...), one...))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range publicKeys(data) {
			if _, err := x509.MarshalPKIXPublicKey(k); err != nil {
				t.Fatalf("a key that does not re-encode: %v", err)
			}
		}
	})
}
