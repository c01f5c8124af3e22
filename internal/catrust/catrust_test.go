package catrust_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

var epoch = testpki.Epoch

func scan(t *testing.T, root string) []inventory.Item {
	t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestFindListsEveryConsumerOfEachCA(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	testpki.WriteFile(t, filepath.Join(root, layout.KubernetesDir, "bootstrap-kubelet.conf"),
		testpki.Kubeconfig(t, tr.Server, tr.CAs["ca"].Cert, tr.Leaves["admin.conf"], "bootstrap"), 0o600)
	items := scan(t, root)
	n := nodefs.New(root)
	view := catrust.Build(n, items)
	byName := map[string]catrust.CA{}
	for _, ca := range view {
		byName[ca.Name] = ca
	}
	want := map[string][]string{
		"ca": {layout.PKIDir + "/ca.crt", layout.KubernetesDir + "/admin.conf", layout.KubernetesDir + "/super-admin.conf",
			layout.KubernetesDir + "/controller-manager.conf", layout.KubernetesDir + "/scheduler.conf", layout.KubernetesDir + "/kubelet.conf",
			layout.KubernetesDir + "/bootstrap-kubelet.conf"},
		"etcd-ca":        {layout.PKIDir + "/etcd/ca.crt"},
		"front-proxy-ca": {layout.PKIDir + "/front-proxy-ca.crt"},
	}
	for name, paths := range want {
		ca, ok := byName[name]
		if !ok {
			t.Fatalf("no CA %s in the view (%d CAs)", name, len(view))
		}
		var got []string
		for _, c := range ca.Consumers {
			got = append(got, c.Path)
			if catrust.StateOf(c.Holds, ca.Cert, ca.Cert) != catrust.StateBoth {
				t.Errorf("%s: %s does not hold the CA it was found by", name, c.Path)
			}
		}
		for _, p := range paths {
			if !slices.Contains(got, p) {
				t.Errorf("%s: consumer %s missing from %v", name, p, got)
			}
		}
	}
	// The CA file lists the flags that read it.
	for _, c := range byName["ca"].Consumers {
		if c.Path == layout.PKIDir+"/ca.crt" {
			refs := strings.Join(c.Refs, "\n")
			for _, flag := range []string{"kube-apiserver --client-ca-file", "kube-controller-manager --root-ca-file"} {
				if !strings.Contains(refs, flag) {
					t.Errorf("ca.crt's refs do not name %s:\n%s", flag, refs)
				}
			}
		}
	}
	for _, c := range byName["etcd-ca"].Consumers {
		refs := strings.Join(c.Refs, "\n")
		for _, flag := range []string{"etcd --trusted-ca-file", "etcd --peer-trusted-ca-file", "kube-apiserver --etcd-cafile"} {
			if !strings.Contains(refs, flag) {
				t.Errorf("etcd/ca.crt's refs do not name %s:\n%s", flag, refs)
			}
		}
	}
}

func TestRebundleMovesThroughTheRotationPhases(t *testing.T) {
	old := testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert
	nw := testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert
	other := testpki.MustCA(t, testpki.WithCN("some-other-ca")).Cert
	start := append([]byte("# bundle of the node\n"), testpki.CertPEM(other, old)...)

	both, changed, err := catrust.Rebundle(start, catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{old, nw}})
	if err != nil || !changed {
		t.Fatalf("trust both: changed %v, %v", changed, err)
	}
	if want := append([]byte("# bundle of the node\n"), testpki.CertPEM(other, old, nw)...); !bytes.Equal(both, want) {
		t.Errorf("trust both:\n%s\nwant\n%s", both, want)
	}
	certs, _ := pki.ParseCertificatesPEM(both)
	if s := catrust.StateOf(certs, old, nw); s != catrust.StateBoth {
		t.Errorf("state %s, want both", s)
	}
	again, changed, err := catrust.Rebundle(both, catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{old, nw}})
	if err != nil || changed || !bytes.Equal(again, both) {
		t.Errorf("a rerun of trust both changed the file (%v, %v)", changed, err)
	}
	only, changed, err := catrust.Rebundle(both, catrust.Replace{Old: []*x509.Certificate{old, nw}, Bundle: []*x509.Certificate{nw}})
	if err != nil || !changed {
		t.Fatalf("new only: changed %v, %v", changed, err)
	}
	if want := append([]byte("# bundle of the node\n"), testpki.CertPEM(other, nw)...); !bytes.Equal(only, want) {
		t.Errorf("new only:\n%s\nwant\n%s", only, want)
	}
	certs, _ = pki.ParseCertificatesPEM(only)
	if s := catrust.StateOf(certs, old, nw); s != catrust.StateNew {
		t.Errorf("state %s, want new", s)
	}
	if _, changed, _ := catrust.Rebundle(testpki.CertPEM(other), catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{nw}}); changed {
		t.Error("a file without the old CA changed")
	}
	if _, _, err := catrust.Rebundle([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), catrust.Replace{Old: []*x509.Certificate{old}}); err == nil {
		t.Error("a malformed certificate block was accepted")
	}
}

func TestStateOfARenewalTellsTheCertificatesApart(t *testing.T) {
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	renewed, err := carenewal.Certificate(ca.Cert, ca.Signer, epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		holds []*x509.Certificate
		want  catrust.State
	}{
		{[]*x509.Certificate{ca.Cert}, catrust.StateOld},
		{[]*x509.Certificate{ca.Cert, renewed}, catrust.StateBoth},
		{[]*x509.Certificate{renewed}, catrust.StateNew},
		{nil, catrust.StateNeither},
	} {
		if got := catrust.StateOf(tc.holds, ca.Cert, renewed); got != tc.want {
			t.Errorf("%d certificates: %s, want %s", len(tc.holds), got, tc.want)
		}
	}
}

func TestPlanEditsReplacesTheCAInFilesAndKubeconfigs(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	ca := tr.CAs["ca"]
	renewed, err := carenewal.Certificate(ca.Cert, ca.Signer, epoch, epoch.Add(10*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	n := nodefs.New(root)
	items := scan(t, root)
	consumers := catrust.Find(n, items, ca.Cert)
	edits, err := catrust.PlanEdits(consumers, catrust.Replace{Old: []*x509.Certificate{ca.Cert}, Bundle: []*x509.Certificate{renewed}}, catrust.DiskReader(n))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]catrust.Edit{}
	for _, e := range edits {
		got[e.Path] = e
	}
	caFile, ok := got[layout.PKIDir+"/ca.crt"]
	if !ok || !bytes.Equal(caFile.Data, testpki.CertPEM(renewed)) {
		t.Errorf("ca.crt not replaced by the renewed certificate")
	}
	admin, ok := got[layout.KubernetesDir+"/admin.conf"]
	if !ok {
		t.Fatalf("admin.conf not edited; edits: %v", paths(edits))
	}
	if admin.Mode != 0o600 {
		t.Errorf("admin.conf mode %o", admin.Mode)
	}
	kc, err := kubeconfig.Parse(admin.Data, layout.KubernetesDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kc.CA.Data, testpki.CertPEM(renewed)) {
		t.Errorf("admin.conf certificate-authority-data is not the renewed CA")
	}
	was, _ := os.ReadFile(filepath.Join(root, layout.KubernetesDir, "admin.conf"))
	before, _ := kubeconfig.Parse(was, layout.KubernetesDir, nil)
	if !bytes.Equal(kc.ClientCert.Data, before.ClientCert.Data) || !bytes.Equal(kc.ClientKey.Data, before.ClientKey.Data) {
		t.Error("admin.conf's client credentials changed")
	}
	for _, p := range []string{layout.PKIDir + "/etcd/ca.crt", layout.PKIDir + "/front-proxy-ca.crt", layout.PKIDir + "/apiserver.crt"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s edited: it does not hold the CA", p)
		}
	}
}

func paths(es []catrust.Edit) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestArchiveRoundTripAndTampering(t *testing.T) {
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert
	data, err := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRenew, Created: epoch,
		CAs: []catrust.ArchiveCA{{Name: "/etc/kubernetes/ssl/ca.pem", Path: "/etc/kubernetes/ssl/ca.pem", Cert: ca}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := catrust.ReadArchive(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CAs) != 1 || !m.CAs[0].Cert.Equal(ca) || m.CAs[0].Name != "/etc/kubernetes/ssl/ca.pem" {
		t.Fatalf("read back %+v", m.CAs)
	}
	leaf := testpki.MustLeaf(t, testpki.MustCA(t)).Cert
	if _, err := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRenew, CAs: []catrust.ArchiveCA{{Name: "x", Cert: leaf}}}); err != nil {
		t.Fatal(err)
	}
	bad, _ := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRenew, CAs: []catrust.ArchiveCA{{Name: "x", Cert: leaf}}})
	if _, err := catrust.ReadArchive(bad); err == nil || !strings.Contains(err.Error(), "not a self-signed CA") {
		t.Errorf("a leaf in the archive: %v", err)
	}
	if _, err := catrust.ReadArchive(data[:len(data)-3]); err == nil {
		t.Error("a truncated archive was read")
	}
}

func TestPlanEditsReadsAClusterInfoKubeconfig(t *testing.T) {
	// kube-public/cluster-info's kubeconfig has a cluster and no context or user.
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	renewed, err := carenewal.Certificate(ca.Cert, ca.Signer, epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info := []byte("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: " +
		b64(testpki.CertPEM(ca.Cert)) + "\n    server: https://10.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nusers: null\n")
	read := func(string) ([]byte, os.FileMode, error) { return info, 0o644, nil }
	edits, err := catrust.PlanEdits([]catrust.Consumer{{Kind: catrust.KindKubeconfig, Path: "/cluster-info"}},
		catrust.Replace{Old: []*x509.Certificate{ca.Cert}, Bundle: []*x509.Certificate{renewed}}, read)
	if err != nil || len(edits) != 1 {
		t.Fatalf("edits %d: %v", len(edits), err)
	}
	if !bytes.Contains(edits[0].Data, []byte(b64(testpki.CertPEM(renewed)))) || !bytes.Contains(edits[0].Data, []byte("https://10.0.0.1:6443")) {
		t.Errorf("cluster-info:\n%s", edits[0].Data)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
