package signer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
)

const hmacKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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
