package kubeadm_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeadm"
	"github.com/certrescue/certrescue/internal/layout"
)

var node = layout.Node{Name: "cp1", AdvertiseAddress: "192.0.2.10", ServiceIP: "10.96.0.1"}

func write(t *testing.T, root string, files []kubeadm.File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTemplateIsTheRolesIdentity(t *testing.T) {
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindKeyPair {
			continue
		}
		id, tmpl := r.Identity(node), kubeadm.Template(r, node)
		if tmpl.Subject.CommonName != id.CommonName || !slices.Equal(tmpl.Subject.Organization, id.Organization) ||
			tmpl.KeyUsage != id.KeyUsage || !slices.Equal(tmpl.ExtKeyUsage, id.ExtKeyUsage) || tmpl.IsCA != id.IsCA ||
			!slices.Equal(tmpl.DNSNames, id.DNSNames) || len(tmpl.IPAddresses) != len(id.IPAddresses) {
			t.Errorf("%s: template %+v, identity %+v", r.Name, tmpl, id)
		}
		if !tmpl.NotBefore.IsZero() || !tmpl.NotAfter.IsZero() {
			t.Errorf("%s: template sets a validity", r.Name)
		}
	}
}

func TestManifestsAreTheFourStaticPods(t *testing.T) {
	files := kubeadm.Manifests(kubeadm.ManifestOptions{NodeName: "cp1"})
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	want := []string{"/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/manifests/kube-apiserver.yaml",
		"/etc/kubernetes/manifests/kube-controller-manager.yaml", "/etc/kubernetes/manifests/kube-scheduler.yaml"}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths %q, want %q", paths, want)
	}
	if !strings.Contains(string(files[0].Data), "    - --name=cp1\n") {
		t.Errorf("etcd's --name is not the node name:\n%s", files[0].Data)
	}
}

// What check expects of each serving certificate, read from the manifests,
// is what the identity table gives it, and every file the manifests name is
// a kubeadm role's.
func TestManifestsExpectWhatTheIdentitiesCarry(t *testing.T) {
	root := t.TempDir()
	write(t, root, kubeadm.Manifests(kubeadm.ManifestOptions{NodeName: node.Name, AdvertiseAddress: node.AdvertiseAddress}))
	items, err := inventory.Manifests{}.Items(context.Background(), inventory.NewReader(root))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range layout.Kubeadm {
		known[r.CertPath], known[r.KeyPath], known[r.PubPath] = true, true, true
	}
	expected := 0
	for _, it := range items {
		if !known[it.Path] {
			t.Errorf("the manifests name %s, which is no kubeadm role's", it.Path)
		}
		if len(it.ExpectSANs) == 0 {
			continue
		}
		r, ok := layout.KubeadmRole(it.Role)
		if !ok {
			t.Errorf("%s: SANs expected of no kubeadm role (%q)", it.Path, it.Role)
			continue
		}
		id := r.Identity(node)
		for _, s := range it.ExpectSANs {
			expected++
			ip := net.ParseIP(s.Value)
			if ip != nil && !slices.ContainsFunc(id.IPAddresses, ip.Equal) || ip == nil && !slices.Contains(id.DNSNames, s.Value) {
				t.Errorf("%s: check expects %s (%s), its identity carries %v %v", r.Name, s.Value, s.Why, id.DNSNames, id.IPAddresses)
			}
		}
	}
	if expected == 0 {
		t.Fatal("the manifests expect no SANs")
	}
}
