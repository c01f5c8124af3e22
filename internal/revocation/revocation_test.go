package revocation

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestStateRoundTripAndBinding(t *testing.T) {
	ca := testpki.MustCA(t)
	other := testpki.MustCA(t)
	path := filepath.Join(t.TempDir(), "ca-revoked.json")
	st, err := Load(path, ca.Cert)
	if err != nil || len(st.Revoked) != 0 {
		t.Fatalf("missing file: %+v %v", st, err)
	}
	if !st.Add(Entry{Serial: "1f", RevokedAt: testpki.Epoch, Reason: "keyCompromise"}) {
		t.Fatal("first revocation refused")
	}
	if st.Add(Entry{Serial: "1f", RevokedAt: testpki.Epoch.Add(time.Hour), Reason: "superseded"}) {
		t.Fatal("second revocation of one serial accepted")
	}
	st.CRLNumber = 7
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path, ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if back.CRLNumber != 7 || len(back.Revoked) != 1 || back.Revoked[0].Reason != "keyCompromise" {
		t.Errorf("round trip: %+v", back)
	}
	if e, ok := back.Find(big.NewInt(0x1f)); !ok || !e.RevokedAt.Equal(testpki.Epoch) {
		t.Errorf("Find: %+v %v", e, ok)
	}
	if _, err := Load(path, other.Cert); err == nil || !strings.Contains(err.Error(), "belongs to another CA") || !strings.Contains(err.Error(), path) {
		t.Errorf("another CA's file: %v", err)
	}
}

func TestParseNamesTheField(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"not JSON", `{`, "not a revocation state file"},
		{"an unknown field", `{"ca_fingerprint":"x","bogus":1}`, "bogus"},
		{"no CA", `{"crl_number":1}`, "ca_fingerprint: missing"},
		{"a negative CRL number", `{"ca_fingerprint":"x","crl_number":-1}`, "crl_number"},
		{"a bad serial", `{"ca_fingerprint":"x","revoked":[{"serial":"xyz","revoked_at":"2026-01-01T00:00:00Z","reason":"superseded"}]}`, "revoked[0].serial"},
		{"an uncanonical serial", `{"ca_fingerprint":"x","revoked":[{"serial":"0A","revoked_at":"2026-01-01T00:00:00Z","reason":"superseded"}]}`, "lower-case hex"},
		{"a serial twice", `{"ca_fingerprint":"x","revoked":[{"serial":"a","revoked_at":"2026-01-01T00:00:00Z","reason":"superseded"},{"serial":"a","revoked_at":"2026-01-01T00:00:00Z","reason":"superseded"}]}`, "revoked[1].serial a: listed twice"},
		{"a bad reason", `{"ca_fingerprint":"x","revoked":[{"serial":"a","revoked_at":"2026-01-01T00:00:00Z","reason":"oops"}]}`, "revoked[0].reason"},
		{"no date", `{"ca_fingerprint":"x","revoked":[{"serial":"a","reason":"superseded"}]}`, "revoked[0].revoked_at"},
		{"trailing data", `{"ca_fingerprint":"x"} {}`, "trailing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseSerial(t *testing.T) {
	for in, want := range map[string]string{"1F": "1f", "0x1f": "1f", "01:ab:CD": "1abcd", " 00ff ": "ff"} {
		n, err := ParseSerial(in)
		if err != nil || n.Text(16) != want {
			t.Errorf("%q: %v %v", in, n, err)
		}
	}
	for _, in := range []string{"", "xyz", strings.Repeat("f", 65), "-1"} {
		if _, err := ParseSerial(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func TestCRLRefusesACAWithoutCRLSign(t *testing.T) {
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSign(key, pki.Template{IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		NotBefore: testpki.Epoch, NotAfter: testpki.Epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildCRL(ca, &State{}, testpki.Epoch, time.Hour); err == nil || !strings.Contains(err.Error(), "crl sign") {
		t.Errorf("err = %v", err)
	}
}

// TestCRLAcceptedByOpenSSL signs a CRL and has the real openssl check its
// signature and reject the revoked certificate while accepting another.
func TestCRLAcceptedByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
			t.Fatal("openssl not installed (scripts/test-deps.sh installs it)")
		}
		t.Skip("openssl not installed")
	}
	// openssl checks validity against its own clock, so these certificates are
	// valid now.
	now := time.Now()
	ca := testpki.MustCA(t, testpki.WithValidity(now.Add(-time.Hour), now.Add(24*time.Hour)))
	revoked := testpki.MustLeaf(t, ca, testpki.WithCN("revoked"), testpki.WithValidity(now.Add(-time.Hour), now.Add(time.Hour)))
	good := testpki.MustLeaf(t, ca, testpki.WithCN("good"), testpki.WithValidity(now.Add(-time.Hour), now.Add(time.Hour)))

	st := &State{}
	st.Add(Entry{Serial: revoked.Cert.SerialNumber.Text(16), RevokedAt: now.Add(-time.Minute), Reason: "keyCompromise"})
	st.Add(Entry{Serial: "abc123", RevokedAt: now.Add(-time.Minute), Reason: "superseded"})
	st.CRLNumber = 41
	crl, err := BuildCRL(ca, st, now.Add(-time.Minute), 168*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number != 42 || crl.Entries != 2 {
		t.Errorf("number %d entries %d", crl.Number, crl.Entries)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", pki.EncodeCertificatePEM(ca.Cert.Raw))
	crlFile := write("ca.crl", crl.PEM)
	revokedFile := write("revoked.pem", pki.EncodeCertificatePEM(revoked.Cert.Raw))
	goodFile := write("good.pem", pki.EncodeCertificatePEM(good.Cert.Raw))

	out, err := exec.Command(openssl, "crl", "-in", crlFile, "-CAfile", caFile, "-noout", "-verify").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, out)
	}
	out, err = exec.Command(openssl, "crl", "-in", crlFile, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl -text: %v\n%s", err, out)
	}
	text := strings.ToUpper(string(out))
	for _, want := range []string{strings.ToUpper(revoked.Cert.SerialNumber.Text(16)), "ABC123", "KEY COMPROMISE", "SUPERSEDED", "X509V3 CRL NUMBER", "42"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl crl -text lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(openssl, "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, revokedFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "revoked") {
		t.Errorf("openssl verify accepted the revoked certificate: %v\n%s", err, out)
	}
	out, err = exec.Command(openssl, "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, goodFile).CombinedOutput()
	if err != nil {
		t.Errorf("openssl verify rejected the good certificate: %v\n%s", err, out)
	}
	b, _ := pem.Decode(crl.PEM)
	parsed, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("Go rejects the CRL's signature: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"ca_fingerprint":"ab","crl_number":3,"revoked":[{"serial":"1f","revoked_at":"2026-01-01T00:00:00Z","reason":"keyCompromise"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Parse(b)
		if err != nil {
			return
		}
		for _, e := range st.Revoked {
			if _, err := ParseSerial(e.Serial); err != nil {
				t.Fatalf("accepted serial %q: %v", e.Serial, err)
			}
		}
	})
}
