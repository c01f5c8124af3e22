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

// FuzzReadKeysArchive: any bytes in (ca rotate --import-keys), no panic;
// what reads writes back to an archive that reads the same.
func FuzzReadKeysArchive(f *testing.F) {
	ca := testpki.MustCA(f, testpki.WithCN("kubernetes"))
	p, err := NewPending("ca", ca.Cert, ca.Signer, NewOptions{Now: testpki.Epoch, CrossSign: true})
	if err != nil {
		f.Fatal(err)
	}
	good, err := WriteKeysArchive([]*Pending{p}, testpki.Epoch)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ReadKeysArchive(data)
		if err != nil {
			return
		}
		again, err := WriteKeysArchive(ps, testpki.Epoch)
		if err != nil {
			t.Fatalf("a key archive that read does not write: %v", err)
		}
		if _, err := ReadKeysArchive(again); err != nil {
			t.Fatalf("written again, it does not read: %v", err)
		}
	})
}
