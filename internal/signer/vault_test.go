package signer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/signer/signertest"
	"github.com/certrescue/certrescue/internal/testpki"
)

// vaultPKI is the fake Vault (signertest.FakeVault says why it is a fake)
// with an intermediate issuer under an offline root, as vault setup makes.
func vaultPKI(t *testing.T) (*signertest.FakeVault, *testpkiCA) {
	t.Helper()
	root := mustCA(t, "offline-root")
	inter := testpki.MustIntermediate(t, root, testpki.WithCN("kubernetes-intermediate"), testpki.WithValidity(now().Add(-time.Hour), now().Add(5*365*24*time.Hour)))
	return signertest.StartFakeVault(t, inter, root.Cert), &testpkiCA{root: root.Cert.Raw, inter: inter}
}

func newVault(t *testing.T, v *signertest.FakeVault, token string, bundle []byte) *Vault {
	t.Helper()
	c, err := NewVaultClient(v.URL, bundle, token, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &Vault{Client: c, Mount: "pki"}
}

func TestVaultSignVerbatimKeepsTheGroupAndEverySAN(t *testing.T) {
	v, pki := vaultPKI(t)
	s := newVault(t, v, v.Token, v.CABundle)
	r := kubeletClientRequest(t)
	res, err := s.Sign(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cert
	if !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) || !slices.Equal(c.DNSNames, r.Template.DNSNames) || len(c.IPAddresses) != 1 {
		t.Errorf("subject %s SANs %v %v: sign-verbatim must keep them", c.Subject, c.DNSNames, c.IPAddresses)
	}
	if !slices.Contains(c.ExtKeyUsage, r.Template.ExtKeyUsage[0]) || !c.NotAfter.Equal(r.Template.NotAfter.UTC().Truncate(1e9)) {
		t.Errorf("usages %v until %s: want the template's %v until %s", c.ExtKeyUsage, c.NotAfter, r.Template.ExtKeyUsage, r.Template.NotAfter)
	}
	if len(res.Chain) != 2 {
		t.Fatalf("chain of %d, want issuer and root", len(res.Chain))
	}
	verifies(t, c, res.Chain[1], res.Chain[0])
	// The node trusts the root: Set finds Vault's issuer below it.
	m, err := (&Set{Signers: []Signer{s}}).For(context.Background(), pki.rootCert(t))
	if err != nil || len(m.Intermediates) != 1 || m.Intermediates[0].Subject.CommonName != "kubernetes-intermediate" {
		t.Fatalf("Set.For the root above Vault's issuer: %+v, %v", m, err)
	}
	want := []string{"GET /v1/pki/cert/ca_chain", "PUT /v1/pki/sign-verbatim"}
	if got := v.CallList(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestVaultAppRoleLogsInOnce(t *testing.T) {
	v, _ := vaultPKI(t)
	s := newVault(t, v, "", v.CABundle)
	s.AppRole = AppRole{RoleID: v.RoleID, SecretID: v.SecretID}
	for range 2 {
		if _, err := s.Sign(context.Background(), kubeletClientRequest(t)); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.CallList(); got[0] != "PUT /v1/auth/approle/login" || strings.Count(strings.Join(got, " "), "login") != 1 {
		t.Errorf("calls %v: want one AppRole login first", got)
	}
	bad := newVault(t, v, "", v.CABundle)
	bad.AppRole = AppRole{RoleID: v.RoleID, SecretID: "wrong-secret"}
	_, err := bad.Sign(context.Background(), kubeletClientRequest(t))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "AppRole login") || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("err = %v: want a refused AppRole login that does not show the secret", err)
	}
}

func TestVaultRefusalsAndBadAnswers(t *testing.T) {
	v, _ := vaultPKI(t)
	ctx := context.Background()
	t.Run("a wrong token is refused with Vault's reason", func(t *testing.T) {
		_, err := newVault(t, v, "hvs.wrong", v.CABundle).Sign(ctx, kubeletClientRequest(t))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "hvs.wrong") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("without Vault's CA bundle TLS fails", func(t *testing.T) {
		_, err := newVault(t, v, v.Token, nil).Sign(ctx, kubeletClientRequest(t))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a TLS verification error", err)
		}
	})
	t.Run("a role that sets O refuses kubeadm's group", func(t *testing.T) {
		s := newVault(t, v, v.Token, v.CABundle)
		s.Role = "k8s-cluster"
		_, err := s.Sign(ctx, kubeletClientRequest(t))
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "sign-verbatim") {
			t.Fatalf("err = %v, want ErrMismatch pointing at sign-verbatim", err)
		}
	})
	t.Run("sign/ROLE signs a request without O", func(t *testing.T) {
		s := newVault(t, v, v.Token, v.CABundle)
		s.Role = "k8s-cluster"
		r := kubeletClientRequest(t)
		r.Template.Subject.Organization = nil
		res, err := s.Sign(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Cert.DNSNames, r.Template.DNSNames) {
			t.Errorf("SANs %v, want %v", res.Cert.DNSNames, r.Template.DNSNames)
		}
	})
	t.Run("an unknown mount is refused", func(t *testing.T) {
		s := newVault(t, v, v.Token, v.CABundle)
		s.Mount = "nope"
		if _, err := s.Sign(ctx, kubeletClientRequest(t)); !errors.Is(err, ErrRefused) {
			t.Fatalf("err = %v", err)
		}
	})
	for _, g := range []string{`{"data":{"certificate":"not a PEM"}}`, `{"data":{}}`, `<html>`, `{"data":{"certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}}`} {
		t.Run("garbage "+g, func(t *testing.T) {
			v.SetGarbage(g)
			t.Cleanup(func() { v.SetGarbage("") })
			_, err := newVault(t, v, v.Token, v.CABundle).Sign(ctx, kubeletClientRequest(t))
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("err = %v, want ErrBadAnswer", err)
			}
		})
	}
}
