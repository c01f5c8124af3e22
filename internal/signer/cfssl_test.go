package signer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

const hmacKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The real cfssl 1.6.5 serve signs through /api/v1/cfssl/sign and keeps the
// CSR's O and every SAN; its info endpoint gives the CA Set matches on.
func TestCFSSLServeSignsKeepingSubjectAndSANs(t *testing.T) {
	ca := mustCA(t, "kubernetes")
	srv := testbed.StartCFSSLServe(t, ca, testbed.CFSSLServeOptions{})
	s := &CFSSL{URL: srv.URL}
	r := kubeletClientRequest(t)
	res, err := s.Sign(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cert
	if !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) || c.Subject.CommonName != "system:node:node1" {
		t.Errorf("subject %s, want CN=system:node:node1, O=system:nodes", c.Subject)
	}
	if !slices.Equal(c.DNSNames, r.Template.DNSNames) || len(c.IPAddresses) != 1 {
		t.Errorf("SANs %v %v, want %v 10.0.0.1", c.DNSNames, c.IPAddresses, r.Template.DNSNames)
	}
	verifies(t, c, ca.Cert)
	chain, err := s.CA(context.Background())
	if err != nil || !chain[0].Equal(ca.Cert) {
		t.Fatalf("info endpoint: %v, CA %v", err, chain)
	}
	m, err := (&Set{Signers: []Signer{s}}).For(context.Background(), ca.Cert)
	if err != nil || m.Signer != s || len(m.Intermediates) != 0 {
		t.Fatalf("Set.For the CA cfssl holds: %+v, %v", m, err)
	}
	other := mustCA(t, "etcd-ca")
	if _, err := (&Set{Signers: []Signer{s}}).For(context.Background(), other.Cert); !errors.Is(err, ErrNoSigner) {
		t.Errorf("Set.For another CA: %v, want ErrNoSigner", err)
	}
}

// authsign with the profile's HMAC key signs; a wrong key and no key are
// refused with a reason that says which.
func TestCFSSLServeAuthSign(t *testing.T) {
	ca := mustCA(t, "kubernetes")
	srv := testbed.StartCFSSLServe(t, ca, testbed.CFSSLServeOptions{Profile: "kubernetes", AuthKey: hmacKey})
	key, err := ParseAuthKey(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Run("the profile's key signs through authsign", func(t *testing.T) {
		s := &CFSSL{URL: srv.URL, Profile: "kubernetes", AuthKey: key}
		res, err := s.Sign(ctx, kubeletClientRequest(t))
		if err != nil {
			t.Fatal(err)
		}
		verifies(t, res.Cert, ca.Cert)
		if !strings.Contains(s.String(), "authsign") || strings.Contains(s.String(), hmacKey) {
			t.Errorf("String() = %q: want authsign named and no key", s)
		}
	})
	t.Run("a wrong key is refused as a wrong HMAC key", func(t *testing.T) {
		wrong, _ := ParseAuthKey(strings.Repeat("ab", 32))
		_, err := (&CFSSL{URL: srv.URL, Profile: "kubernetes", AuthKey: wrong}).Sign(ctx, kubeletClientRequest(t))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "HMAC key") {
			t.Fatalf("err = %v, want ErrRefused naming the HMAC key", err)
		}
		if strings.Contains(err.Error(), hmacKey) || strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Error("the error shows a key")
		}
	})
	t.Run("no key on an authenticated profile is refused", func(t *testing.T) {
		_, err := (&CFSSL{URL: srv.URL, Profile: "kubernetes"}).Sign(ctx, kubeletClientRequest(t))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "auth_key") {
			t.Fatalf("err = %v, want ErrRefused saying the profile needs its key", err)
		}
	})
}

// A server that is not a well-behaved cfssl: real cfssl cannot be made to
// answer garbage or a certificate for another key, so these servers are
// fakes, each answering one way cfssl's protocol can go wrong.
func TestCFSSLBadAnswersAreErrors(t *testing.T) {
	other := mustCA(t, "other")
	otherKey, _ := pki.GenerateKey(pki.DefaultKeySpec)
	r := kubeletClientRequest(t)
	wrongKeyCert, err := pki.Sign(other, r.Template, otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	t2 := r.Template
	t2.Subject.Organization = []string{"system:masters"}
	wrongSubject, err := pki.Sign(other, t2, r.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	t3 := r.Template
	t3.DNSNames = t3.DNSNames[:1]
	fewerSANs, err := pki.Sign(other, t3, r.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ok := func(certPEM []byte) string {
		return fmt.Sprintf(`{"success":true,"result":{"certificate":%q},"errors":[],"messages":[]}`, certPEM)
	}
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"an HTML page is not cfssl's JSON", 200, "<html>proxy error</html>", ErrBadAnswer},
		{"success with no certificate", 200, `{"success":true,"result":{"certificate":""}}`, ErrBadAnswer},
		{"success with garbage for a certificate", 200, `{"success":true,"result":{"certificate":"-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n"}}`, ErrBadAnswer},
		{"an error list", 400, `{"success":false,"errors":[{"code":1000,"message":"policy violation"}]}`, ErrRefused},
		{"a certificate for another key", 200, ok(pki.EncodeCertificatePEM(wrongKeyCert.Raw)), ErrMismatch},
		{"a certificate with another O", 200, ok(pki.EncodeCertificatePEM(wrongSubject.Raw)), ErrMismatch},
		{"a certificate missing a SAN", 200, ok(pki.EncodeCertificatePEM(fewerSANs.Raw)), ErrMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			t.Cleanup(srv.Close)
			_, err := (&CFSSL{URL: srv.URL}).Sign(context.Background(), r)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("err = %v: does not name the signer", err)
			}
		})
	}
}

func TestParseAuthKeyNeverRepeatsTheKey(t *testing.T) {
	for _, s := range []string{"not-hex-secret", "", "zz"} {
		_, err := ParseAuthKey(s)
		if err == nil {
			t.Fatalf("ParseAuthKey(%q) accepted", s)
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q repeats the key", err)
		}
	}
	if k, err := ParseAuthKey(" " + hmacKey + "\n"); err != nil || len(k) != 32 {
		t.Fatalf("ParseAuthKey(hex) = %d bytes, %v", len(k), err)
	}
}
