package carenewal_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

var epoch = testpki.Epoch

// expiredCATree is a kubeadm node whose three CAs expired yesterday while
// their leaves are valid for another year (cfssl's 5-year CA under 1-year
// leaves, a few years on).
func expiredCATree(t *testing.T) (string, *testpki.Tree) {
	t.Helper()
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, root, epoch.Add(-5*365*24*time.Hour), epoch.Add(-24*time.Hour), testpki.AgeOnly("ca", "etcd-ca", "front-proxy-ca"))
	return root, tr
}

func scan(t *testing.T, root string) []inventory.Item {
	t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func role(t *testing.T, name string) layout.Role {
	t.Helper()
	r, ok := layout.KubeadmRole(name)
	if !ok {
		t.Fatalf("no role %s", name)
	}
	return r
}

func TestRenewKeepsTheCAsIdentityAndEveryLeafVerifies(t *testing.T) {
	root, _ := expiredCATree(t)
	items := scan(t, root)
	n := nodefs.New(root)
	for _, name := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		t.Run(name, func(t *testing.T) {
			rn, err := carenewal.Renew(n, role(t, name), items, carenewal.Options{Now: epoch})
			if err != nil {
				t.Fatal(err)
			}
			old, nw := rn.Old, rn.New
			if !bytes.Equal(old.RawSubject, nw.RawSubject) || !bytes.Equal(nw.RawIssuer, nw.RawSubject) {
				t.Errorf("subject or issuer changed: %s -> %s", old.Subject, nw.Subject)
			}
			if !bytes.Equal(old.SubjectKeyId, nw.SubjectKeyId) || len(nw.SubjectKeyId) == 0 {
				t.Errorf("subject key ID %x -> %x", old.SubjectKeyId, nw.SubjectKeyId)
			}
			if !pki.PublicKeysEqual(old.PublicKey, nw.PublicKey) {
				t.Error("the key changed")
			}
			if old.SerialNumber.Cmp(nw.SerialNumber) == 0 {
				t.Error("same serial")
			}
			if len(old.Extensions) != len(nw.Extensions) {
				t.Errorf("%d extensions, had %d", len(nw.Extensions), len(old.Extensions))
			}
			for i, e := range old.Extensions {
				if i >= len(nw.Extensions) || !e.Id.Equal(nw.Extensions[i].Id) || e.Critical != nw.Extensions[i].Critical || !bytes.Equal(e.Value, nw.Extensions[i].Value) {
					t.Errorf("extension %s differs", e.Id)
				}
			}
			if nw.SignatureAlgorithm != old.SignatureAlgorithm {
				t.Errorf("signature algorithm %s -> %s", old.SignatureAlgorithm, nw.SignatureAlgorithm)
			}
			if got := nw.NotAfter.Sub(nw.NotBefore); got != carenewal.DefaultValidity {
				t.Errorf("validity %s, want ten years", got)
			}
			if nw.NotBefore.After(epoch) {
				t.Errorf("not valid at now: from %s", nw.NotBefore)
			}
			if len(rn.Verified) == 0 {
				t.Fatal("no leaf was checked against the renewed CA")
			}
			// Every leaf the old CA signed verifies against the new one, now.
			roots := x509.NewCertPool()
			roots.AddCert(nw)
			for _, p := range rn.Verified {
				leaf := leafAt(t, items, p)
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: epoch, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}

func leafAt(t *testing.T, items []inventory.Item, p string) *x509.Certificate {
	t.Helper()
	for i := range items {
		if items[i].Path == p && items[i].Leaf() != nil {
			return items[i].Leaf()
		}
	}
	t.Fatalf("no item at %s", p)
	return nil
}

func TestRenewValidity(t *testing.T) {
	root, _ := expiredCATree(t)
	rn, err := carenewal.Renew(nodefs.New(root), role(t, "ca"), scan(t, root), carenewal.Options{Now: epoch, Validity: 2 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := rn.New.NotAfter.Sub(rn.New.NotBefore); got != 2*365*24*time.Hour {
		t.Errorf("validity %s", got)
	}
	if len(rn.Warnings) != 0 {
		t.Errorf("warnings %v: no leaf outlives a two-year CA issued now", rn.Warnings)
	}
	rn, err = carenewal.Renew(nodefs.New(root), role(t, "ca"), scan(t, root), carenewal.Options{Now: epoch, Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rn.Warnings) == 0 {
		t.Error("a CA renewed for 30 days under one-year leaves: no warning")
	}
}

func TestRenewRefusesBadInput(t *testing.T) {
	tests := []struct {
		name  string
		breaK func(t *testing.T, root string, tr *testpki.Tree)
		want  error
		says  []string
	}{
		{"a CA key that does not match", func(t *testing.T, root string, tr *testpki.Tree) {
			testpki.WriteKey(t, filepath.Join(root, layout.PKIDir, "ca.key"), tr.CAs["etcd-ca"].Signer)
		}, carenewal.ErrKeyMismatch, []string{"/etc/kubernetes/pki/ca.key"}},
		{"a CA that is not a CA", func(t *testing.T, root string, tr *testpki.Tree) {
			leaf := tr.Leaves["apiserver"]
			testpki.WriteCert(t, filepath.Join(root, layout.PKIDir, "ca.crt"), leaf.Cert)
			testpki.WriteKey(t, filepath.Join(root, layout.PKIDir, "ca.key"), leaf.Key)
		}, carenewal.ErrNotCA, []string{"/etc/kubernetes/pki/ca.crt", "CA:FALSE"}},
		{"a leaf that would not verify against the renewed CA", func(t *testing.T, root string, tr *testpki.Tree) {
			// Same name as the CA, another key: an impostor's leaf.
			other := testpki.MustCA(t, testpki.WithCN("kubernetes"))
			l := testpki.MustLeaf(t, other, testpki.WithTemplate(testpki.TemplateFrom(tr.Leaves["apiserver-kubelet-client"].Cert)))
			testpki.WriteCert(t, filepath.Join(root, layout.PKIDir, "apiserver-kubelet-client.crt"), l.Cert)
			testpki.WriteKey(t, filepath.Join(root, layout.PKIDir, "apiserver-kubelet-client.key"), l.Key)
		}, carenewal.ErrUnverified, []string{"apiserver-kubelet-client", "/etc/kubernetes/pki/apiserver-kubelet-client.crt", "signature"}},
		{"an unreadable CA key", func(t *testing.T, root string, _ *testpki.Tree) {
			testpki.WriteFile(t, filepath.Join(root, layout.PKIDir, "ca.key"), []byte("not a key"), 0o600)
		}, nil, []string{"/etc/kubernetes/pki/ca.key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, tr := expiredCATree(t)
			tc.breaK(t, root, tr)
			_, err := carenewal.Renew(nodefs.New(root), role(t, "ca"), scan(t, root), carenewal.Options{Now: epoch})
			if err == nil {
				t.Fatal("renewed")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestRenewedCAVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	root, _ := expiredCATree(t)
	// The leaves are valid around testpki's Epoch (2030): ask openssl at that instant.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	rn2, err := carenewal.Renew(nodefs.New(root), role(t, "ca"), scan(t, root), carenewal.Options{Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, rn2.NewPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(epoch.Add(time.Minute).Unix(), 10)
	out, err := exec.Command(openssl, "verify", "-attime", at, "-CAfile", caFile,
		filepath.Join(root, layout.PKIDir, "apiserver.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	if err := exec.Command(openssl, "verify", "-attime", at, "-CAfile", filepath.Join(root, layout.PKIDir, "ca.crt"),
		filepath.Join(root, layout.PKIDir, "apiserver.crt")).Run(); err == nil {
		t.Fatal("openssl accepted the expired CA: the test proves nothing")
	}
}
