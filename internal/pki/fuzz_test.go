package pki

import (
	"bytes"
	"testing"
	"time"
)

func mustTime(t *testing.T) time.Time {
	t.Helper()
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
}

// The PEM parsers take whatever an operator points them at: they must never
// panic, whatever the bytes.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	key, _ := GenerateKey(DefaultKeySpec)
	enc, _ := MarshalPrivateKeyPEM(key)
	f.Add(enc)
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKeyPEM(data)
		if err == nil && k == nil {
			t.Fatal("nil key without error")
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	key, _ := GenerateKey(DefaultKeySpec)
	nb, na := Window(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), DefaultBackdate, time.Hour)
	c, _ := SelfSign(key, Template{IsCA: true, NotBefore: nb, NotAfter: na})
	f.Add(EncodeCertificatePEM(c.Raw))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates without error")
		}
	})
}

func FuzzParseCSRPEM(f *testing.F) {
	key, _ := GenerateKey(DefaultKeySpec)
	der, _ := CreateCSR(key, Template{})
	f.Add(EncodeCSRPEM(der))
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSRPEM(data)
		if err == nil && csr == nil {
			t.Fatal("nil CSR without error")
		}
		all, errAll := ParseCSRsPEM(data)
		if errAll == nil && (len(all) == 0 || err != nil || !bytes.Equal(all[0].Raw, csr.Raw)) {
			t.Fatalf("ParseCSRsPEM read %d requests where ParseCSRPEM said %v", len(all), err)
		}
	})
}
