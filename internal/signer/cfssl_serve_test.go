package signer_test

// The tests against the real cfssl serve live outside package signer: the
// testbed that starts it imports renewal, which imports signer.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/signer"
	"github.com/certrescue/certrescue/internal/testbed"
)

// The real cfssl 1.6.5 serve signs through /api/v1/cfssl/sign and keeps the
// CSR's O and every SAN; its info endpoint gives the CA signer.Set matches on.
func TestCFSSLServeSignsKeepingSubjectAndSANs(t *testing.T) {
	ca := signer.MustCA(t, "kubernetes")
	srv := testbed.StartCFSSLServe(t, ca, testbed.CFSSLServeOptions{})
	s := &signer.CFSSL{URL: srv.URL}
	r := signer.KubeletClientRequest(t)
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
	signer.Verifies(t, c, ca.Cert)
	chain, err := s.CA(context.Background())
	if err != nil || !chain[0].Equal(ca.Cert) {
		t.Fatalf("info endpoint: %v, CA %v", err, chain)
	}
	m, err := (&signer.Set{Signers: []signer.Signer{s}}).For(context.Background(), ca.Cert)
	if err != nil || m.Signer != s || len(m.Intermediates) != 0 {
		t.Fatalf("signer.Set.For the CA cfssl holds: %+v, %v", m, err)
	}
	other := signer.MustCA(t, "etcd-ca")
	if _, err := (&signer.Set{Signers: []signer.Signer{s}}).For(context.Background(), other.Cert); !errors.Is(err, signer.ErrNoSigner) {
		t.Errorf("signer.Set.For another CA: %v, want signer.ErrNoSigner", err)
	}
}

// authsign with the profile's HMAC key signs; a wrong key and no key are
// refused with a reason that says which.
func TestCFSSLServeAuthSign(t *testing.T) {
	ca := signer.MustCA(t, "kubernetes")
	srv := testbed.StartCFSSLServe(t, ca, testbed.CFSSLServeOptions{Profile: "kubernetes", AuthKey: signer.HMACKey})
	key, err := signer.ParseAuthKey(signer.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Run("the profile's key signs through authsign", func(t *testing.T) {
		s := &signer.CFSSL{URL: srv.URL, Profile: "kubernetes", AuthKey: key}
		res, err := s.Sign(ctx, signer.KubeletClientRequest(t))
		if err != nil {
			t.Fatal(err)
		}
		signer.Verifies(t, res.Cert, ca.Cert)
		if !strings.Contains(s.String(), "authsign") || strings.Contains(s.String(), signer.HMACKey) {
			t.Errorf("String() = %q: want authsign named and no key", s)
		}
	})
	t.Run("a wrong key is refused as a wrong HMAC key", func(t *testing.T) {
		wrong, _ := signer.ParseAuthKey(strings.Repeat("ab", 32))
		_, err := (&signer.CFSSL{URL: srv.URL, Profile: "kubernetes", AuthKey: wrong}).Sign(ctx, signer.KubeletClientRequest(t))
		if !errors.Is(err, signer.ErrRefused) || !strings.Contains(err.Error(), "HMAC key") {
			t.Fatalf("err = %v, want signer.ErrRefused naming the HMAC key", err)
		}
		if strings.Contains(err.Error(), signer.HMACKey) || strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Error("the error shows a key")
		}
	})
	t.Run("no key on an authenticated profile is refused", func(t *testing.T) {
		_, err := (&signer.CFSSL{URL: srv.URL, Profile: "kubernetes"}).Sign(ctx, signer.KubeletClientRequest(t))
		if !errors.Is(err, signer.ErrRefused) || !strings.Contains(err.Error(), "auth_key") {
			t.Fatalf("err = %v, want signer.ErrRefused saying the profile needs its key", err)
		}
	})
}
