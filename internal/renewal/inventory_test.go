package renewal_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// binaryInstall is a node installed from binaries with cfssl's file names:
// systemd units name the certificates, none of them at kubeadm's paths, and an
// inventory file names one more.
func binaryInstall(t *testing.T) (root string, inv *inventory.InventoryFile) {
	t.Helper()
	root = t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	old := testpki.WithValidity(now.Add(-400*24*time.Hour), now.Add(-10*24*time.Hour))
	ca := testpki.MustCA(t, testpki.WithCN("internal-ca"))
	testpki.WriteCert(t, at("/etc/kubernetes/ssl/ca.pem"), ca.Cert)
	testpki.WriteKey(t, at("/etc/kubernetes/ssl/ca-key.pem"), ca.Signer)
	api := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes"), testpki.WithDNS("kubernetes.default"), testpki.WithIPs("10.0.0.1"),
		testpki.WithUsage(x509.ExtKeyUsageServerAuth), old)
	testpki.WriteCert(t, at("/etc/kubernetes/ssl/kubernetes.pem"), api.Cert)
	testpki.WriteKey(t, at("/etc/kubernetes/ssl/kubernetes-key.pem"), api.Key)
	app := testpki.MustLeaf(t, ca, testpki.WithCN("registry.internal"), testpki.WithDNS("registry.internal"), old)
	testpki.WriteFile(t, at("/etc/ssl/internal/registry.pem"), append(testpki.CertPEM(app.Cert), testpki.KeyPEM(t, app.Key)...), 0o600)
	stranger := testpki.MustCA(t, testpki.WithCN("someone-else"))
	other := testpki.MustLeaf(t, stranger, testpki.WithCN("theirs"), old)
	testpki.WriteCert(t, at("/etc/ssl/internal/theirs.pem"), other.Cert)
	testpki.WriteKey(t, at("/etc/ssl/internal/theirs-key.pem"), other.Key)
	testpki.WriteFile(t, at("/etc/systemd/system/kube-apiserver.service"), []byte(`[Service]
ExecStart=/usr/local/bin/kube-apiserver \
  --client-ca-file=/etc/kubernetes/ssl/ca.pem \
  --tls-cert-file=/etc/kubernetes/ssl/kubernetes.pem \
  --tls-private-key-file=/etc/kubernetes/ssl/kubernetes-key.pem
`), 0o644)
	inv, err := inventory.ParseInventoryFile([]byte(`items:
- path: /etc/ssl/internal/registry.pem
  ca: /etc/kubernetes/ssl/ca.pem
- path: /etc/ssl/internal/theirs.pem
  key: /etc/ssl/internal/theirs-key.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	inv.Path = "inventory.yaml"
	return root, inv
}

func TestLayoutsFoundBySystemdUnitsAndInventoryFilesRenewTheSameWay(t *testing.T) {
	root, inv := binaryInstall(t)
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), append(inventory.Sources(), inv)...)
	if err != nil {
		t.Fatal(err)
	}
	roles, skipped := renewal.RolesFromInventory(root, items)
	var leaves []string
	for _, r := range roles {
		if r.Kind != layout.KindCA {
			leaves = append(leaves, r.Name+"="+r.CertPath)
		}
	}
	if len(leaves) != 2 {
		t.Fatalf("renewable: %v, want the API server's certificate and the registry bundle (skipped %v)", leaves, skipped)
	}
	if len(skipped) != 1 || skipped[0].Name != "/etc/ssl/internal/theirs.pem" || !strings.Contains(skipped[0].Reason, "someone-else") {
		t.Errorf("skipped %v, want theirs.pem with its unknown issuer", skipped)
	}
	plan, err := renewal.Prepare(renewal.Options{Root: root, Roles: roles, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Items) != 2 {
		t.Fatalf("%d items", len(plan.Items))
	}
	apply(t, root, plan)
	ca, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/ssl/ca.pem"))
	for _, p := range []string{"/etc/kubernetes/ssl/kubernetes.pem", "/etc/ssl/internal/registry.pem"} {
		data, _ := os.ReadFile(filepath.Join(root, p))
		certs := mustCerts(t, data)
		if certs[0].NotAfter.Before(now) || certs[0].CheckSignatureFrom(mustCerts(t, ca)[0]) != nil {
			t.Errorf("%s: not renewed by the internal CA", p)
		}
		if p == "/etc/ssl/internal/registry.pem" && !strings.Contains(string(data), "PRIVATE KEY") {
			t.Error("the registry bundle lost its key")
		}
	}
	if got := plan.Components(); len(got) != 1 || got[0] != layout.KubeAPIServer {
		t.Errorf("restart %v, want kube-apiserver (named by its unit)", got)
	}
}
