package vaultsetup

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestPlanPhases(t *testing.T) {
	calls, err := Plan(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Path != "sys/mounts/pki" || calls[1].Path != "pki/intermediate/generate/internal" {
		t.Fatalf("phase 1: %+v", calls)
	}
	now := time.Now()
	root := testpki.MustCA(t, testpki.WithCN("root"), testpki.WithValidity(now, now.Add(time.Hour)))
	inter := testpki.MustIntermediate(t, root, testpki.WithCN("inter"), testpki.WithValidity(now, now.Add(time.Hour)))
	leaf := testpki.MustLeaf(t, inter, testpki.WithValidity(now, now.Add(time.Hour)))
	other := testpki.MustCA(t, testpki.WithCN("other"), testpki.WithValidity(now, now.Add(time.Hour)))
	calls, err = Plan(Options{Mount: "/pki_k8s/", Signed: testpki.CertPEM(inter.Cert, root.Cert)})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"pki_k8s/intermediate/set-signed", "pki_k8s/roles/k8s-cluster", "sys/policies/acl/certrescue-node"}
	for i, c := range calls {
		if c.Path != paths[i] {
			t.Errorf("phase 2 call %d: %s, want %s", i, c.Path, paths[i])
		}
	}
	if b := calls[1].JSON(); !strings.Contains(b, `"max_ttl":"2160h"`) || !strings.Contains(b, `"allowed_domains":["cluster.local","example.com"]`) {
		t.Errorf("the role's body %s: want the field guide's 90 days and domains", b)
	}
	if !strings.Contains(calls[2].Body["policy"].(string), `path "pki_k8s/sign-verbatim"`) {
		t.Errorf("policy %q", calls[2].Body["policy"])
	}
	for name, signed := range map[string][]byte{
		"a leaf, not a CA":              testpki.CertPEM(leaf.Cert, inter.Cert),
		"the intermediate without root": testpki.CertPEM(inter.Cert),
		"a root that did not sign it":   testpki.CertPEM(inter.Cert, other.Cert),
		"not PEM":                       []byte("garbage"),
	} {
		if _, err := Plan(Options{Signed: signed}); !errors.Is(err, ErrNotSigned) {
			t.Errorf("%s: err = %v, want ErrNotSigned", name, err)
		}
	}
}

// FuzzPlanSigned feeds arbitrary bytes as phase 2's signed intermediate.
func FuzzPlanSigned(f *testing.F) {
	root := testpki.MustCA(f)
	inter := testpki.MustIntermediate(f, root)
	f.Add(testpki.CertPEM(inter.Cert, root.Cert))
	f.Add(pki.EncodeCertificatePEM(root.Cert.Raw))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if data == nil {
			return // phase 1
		}
		calls, err := Plan(Options{Signed: data})
		if err == nil && len(calls) != 3 {
			t.Fatalf("%d calls", len(calls))
		}
		if err != nil && !errors.Is(err, ErrNotSigned) {
			t.Fatalf("error of no documented kind: %v", err)
		}
	})
}
