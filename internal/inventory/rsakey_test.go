package inventory

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"testing"
)

func TestRSAPublicFromPKCS1MatchesCryptoRSA(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der := x509.MarshalPKCS1PrivateKey(k)
	pub, err := rsaPublicFromPKCS1(der)
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public half: %v", err)
	}
	damaged := *k
	damaged.Primes = []*big.Int{new(big.Int).Add(k.Primes[0], big.NewInt(2)), k.Primes[1]}
	if _, err := rsaPublicFromPKCS1(x509.MarshalPKCS1PrivateKey(&damaged)); err == nil {
		t.Error("a key whose primes do not multiply to N was accepted")
	}
	for _, cut := range []int{1, 10, len(der) / 2, len(der) - 1} {
		if _, err := rsaPublicFromPKCS1(der[:cut]); err == nil {
			t.Errorf("a key cut to %d bytes was accepted", cut)
		}
	}
	if _, err := rsaPublicFromPKCS1(append(der, 0)); err == nil {
		t.Error("trailing data accepted")
	}
}

func BenchmarkDecodeRSAKey(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der := x509.MarshalPKCS1PrivateKey(k)
	b.Run("rsaPublicFromPKCS1", func(b *testing.B) {
		for b.Loop() {
			_, _ = rsaPublicFromPKCS1(der)
		}
	})
	b.Run("x509.ParsePKCS1PrivateKey", func(b *testing.B) {
		for b.Loop() {
			_, _ = x509.ParsePKCS1PrivateKey(der)
		}
	})
}
