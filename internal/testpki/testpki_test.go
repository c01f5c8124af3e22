package testpki_test

import (
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestMustLeafChainsToMustCA(t *testing.T) {
	ca := testpki.MustCA(t, testpki.WithCN("root"))
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("svc"), testpki.WithDNS("svc.example"), testpki.WithIPs("10.0.0.9"),
		testpki.WithValidity(testpki.Epoch, testpki.Epoch.Add(time.Hour)))
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testpki.Epoch.Add(time.Minute), DNSName: "svc.example"}); err != nil {
		t.Fatal(err)
	}
	if !pki.PublicKeysEqual(leaf.Cert.PublicKey, leaf.Key.Public()) {
		t.Fatal("leaf key does not match")
	}
}

// AgeKubeadmTree keeps every chain and key intact and only moves validity.
func TestAgeKubeadmTreeKeepsChainsAndKeys(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	nb, na := testpki.Epoch.AddDate(-2, 0, 0), testpki.Epoch.AddDate(-1, 0, 0)
	aged := testpki.AgeKubeadmTree(t, root, nb, na)
	if len(aged) != 16 {
		t.Fatalf("aged %v", aged)
	}
	load := func(p string) *x509.Certificate {
		data, err := pki.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		c, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			t.Fatal(err)
		}
		return c[0]
	}
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindLeaf {
			continue
		}
		c := load(r.CertPath)
		caRole, _ := layout.KubeadmRole(r.CA)
		ca := load(caRole.CertPath)
		if !c.NotAfter.Equal(na) || !ca.NotAfter.Equal(na) {
			t.Errorf("%s: NotAfter %v, CA %v, want %v", r.Name, c.NotAfter, ca.NotAfter, na)
		}
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s: not signed by the aged %s: %v", r.Name, r.CA, err)
		}
		if !pki.PublicKeysEqual(c.PublicKey, tr.Leaves[r.Name].Key.Public()) {
			t.Errorf("%s: key changed", r.Name)
		}
		if c.Subject.String() != tr.Leaves[r.Name].Cert.Subject.String() {
			t.Errorf("%s: subject changed", r.Name)
		}
	}
}
