package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestParsesKeysFromOpenSSLCfsslAndKubeadm reads keys the way other tools
// write them: openssl's PKCS#1, PKCS#8 and SEC1 (with its EC PARAMETERS block),
// RSA, ECDSA and Ed25519.
func TestParsesKeysFromOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	cases := []struct {
		name string
		cmd  string
		algo string
		size int
	}{
		{"PKCS#1 RSA (openssl genrsa -traditional, as the field guide)", "openssl genrsa -traditional -out KEY 2048", AlgoRSA, 2048},
		{"PKCS#8 RSA (openssl genpkey)", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out KEY", AlgoRSA, 3072},
		{"SEC1 ECDSA with EC PARAMETERS (openssl ecparam -genkey)", "openssl ecparam -name prime256v1 -genkey -out KEY", AlgoECDSA, 256},
		{"SEC1 ECDSA P-384 without parameters", "openssl ecparam -name secp384r1 -genkey -noout -out KEY", AlgoECDSA, 384},
		{"PKCS#8 ECDSA", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out KEY", AlgoECDSA, 521},
		{"PKCS#8 Ed25519", "openssl genpkey -algorithm ed25519 -out KEY", AlgoEd25519, 256},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.Repeat("k", i+1)+".pem")
			args := strings.Fields(strings.ReplaceAll(tc.cmd, "KEY", p))
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.cmd, err, out)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ParsePrivateKeyPEM(data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			spec, err := SpecOf(k.Public())
			if err != nil || spec.Algo != tc.algo || spec.Size != tc.size {
				t.Fatalf("got %v %v, want %s-%d", spec, err, tc.algo, tc.size)
			}
			// Round trip through our encoding, and openssl reads what we write.
			enc, err := MarshalPrivateKeyPEM(k)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParsePrivateKeyPEM(enc)
			if err != nil || !PublicKeysEqual(again.Public(), k.Public()) {
				t.Fatalf("round trip: %v", err)
			}
			out := filepath.Join(dir, "ours.pem")
			if err := os.WriteFile(out, enc, 0o600); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command("openssl", "pkey", "-in", out, "-noout").CombinedOutput(); err != nil {
				t.Fatalf("openssl cannot read our key: %v\n%s", err, b)
			}
		})
	}
}

func TestEncryptedKeysAreRefusedWithAHint(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	p := filepath.Join(t.TempDir(), "enc.pem")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-aes256", "-pass", "pass:secret", "-out", p).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, _ := os.ReadFile(p)
	_, err := ParsePrivateKeyPEM(data)
	if err == nil || !strings.Contains(err.Error(), "encrypted") || !strings.Contains(err.Error(), "openssl pkey") {
		t.Fatalf("err = %v, want an 'encrypted' error with a hint", err)
	}
}

func TestKeySpecValidation(t *testing.T) {
	cases := []struct {
		in      KeySpec
		want    KeySpec
		wantErr bool
	}{
		{KeySpec{}, KeySpec{AlgoECDSA, 256}, false},
		{KeySpec{Algo: "RSA"}, KeySpec{AlgoRSA, 2048}, false},
		{KeySpec{Algo: "rsa", Size: 4096}, KeySpec{AlgoRSA, 4096}, false},
		{KeySpec{Algo: "rsa", Size: 1024}, KeySpec{}, true},
		{KeySpec{Algo: "rsa", Size: 2049}, KeySpec{}, true},
		{KeySpec{Algo: "ecdsa", Size: 384}, KeySpec{AlgoECDSA, 384}, false},
		{KeySpec{Algo: "ecdsa", Size: 224}, KeySpec{}, true},
		{KeySpec{Algo: "ed25519"}, KeySpec{AlgoEd25519, 256}, false},
		{KeySpec{Algo: "ed25519", Size: 2048}, KeySpec{}, true},
		{KeySpec{Algo: "dsa"}, KeySpec{}, true},
	}
	for _, tc := range cases {
		got, err := tc.in.Normalize()
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadKeySpec) {
			t.Errorf("%v: error %v does not wrap ErrBadKeySpec", tc.in, err)
		}
		if err == nil && got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestGenerateKeysInParallel(t *testing.T) {
	specs := []KeySpec{{Algo: AlgoECDSA}, {Algo: AlgoEd25519}, {Algo: AlgoECDSA, Size: 384}, {Algo: AlgoRSA, Size: 2048}}
	keys, err := GenerateKeys(specs)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		got, _ := SpecOf(k.Public())
		want, _ := specs[i].Normalize()
		if got != want {
			t.Errorf("key %d: %v, want %v", i, got, want)
		}
	}
	if _, err := GenerateKeys([]KeySpec{{Algo: "rsa", Size: 1}}); err == nil {
		t.Error("a bad spec in a batch must fail the batch")
	}
}

func TestNewCARefusesLeafCertificates(t *testing.T) {
	key, _ := GenerateKey(DefaultKeySpec)
	nb, na := Window(mustTime(t), DefaultBackdate, 24*3600e9)
	leaf, err := SelfSign(key, Template{KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: nb, NotAfter: na})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCA(leaf, key); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("NewCA(leaf) err = %v, want 'not a CA'", err)
	}
}
