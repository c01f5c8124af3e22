package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testpki"
)

// copyFile copies a node file from one root to another.
func copyFile(t *testing.T, from, to, nodePath string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(from, nodePath))
	if err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, filepath.Join(to, nodePath), data, 0o600)
}

func kubeconfigCA(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data, filepath.Dir(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	return kc.CA.Data
}

// A worker of the control-plane node cp: the cluster CA's certificate (no
// key), kubelet.conf, bootstrap-kubelet.conf and the kubelet's clientCAFile.
func workerOf(t *testing.T, cp string) string {
	t.Helper()
	w := t.TempDir()
	copyFile(t, cp, w, layout.PKIDir+"/ca.crt")
	copyFile(t, cp, w, layout.KubernetesDir+"/kubelet.conf")
	copyFile(t, cp, w, layout.KubernetesDir+"/kubelet.conf")
	data, _ := os.ReadFile(filepath.Join(cp, layout.KubernetesDir, "admin.conf"))
	testpki.WriteFile(t, filepath.Join(w, layout.KubernetesDir, "bootstrap-kubelet.conf"), data, 0o600)
	testpki.WriteFile(t, filepath.Join(w, "var/lib/kubelet/config.yaml"), []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n"), 0o644)
	return w
}

func TestCARenewThenApplyOnAWorker(t *testing.T) {
	epoch := testpki.Epoch
	cp := t.TempDir()
	testpki.KubeadmTree(t, cp, testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, cp, epoch.Add(-5*365*24*time.Hour), epoch.Add(-time.Hour), testpki.AgeOnly("ca", "etcd-ca", "front-proxy-ca"))
	worker := workerOf(t, cp)
	other := t.TempDir() // another cluster's node
	testpki.KubeadmTree(t, other, testpki.TreeOptions{Manifests: true})

	r := runAt(t, epoch, "", "--root", cp, "ca", "renew", "all", "--restart", "none", "--export", "/var/lib/certrescue/ca.tar.gz")
	if r.code != 0 {
		t.Fatalf("ca renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	archive := filepath.Join(cp, "var/lib/certrescue/ca.tar.gz")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	m, err := catrust.ReadArchive(data)
	if err != nil || len(m.CAs) != 3 {
		t.Fatalf("archive: %v (%d CAs)", err, len(m.CAs))
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		t.Fatal("the archive holds a private key")
	}
	renewedCA, _ := os.ReadFile(filepath.Join(cp, layout.PKIDir, "ca.crt"))

	// Another cluster's node refuses it, changing nothing.
	// Copied to each node (ca apply reads it under --root, as every input).
	for _, n := range []string{other, worker} {
		testpki.WriteFile(t, filepath.Join(n, "root/ca.tar.gz"), data, 0o600)
	}
	archive = "/root/ca.tar.gz"
	before, _ := os.ReadFile(filepath.Join(other, layout.PKIDir, "ca.crt"))
	r = runAt(t, epoch, "", "--root", other, "ca", "apply", archive, "--restart", "none")
	if r.code == 0 || !strings.Contains(r.stderr, "not a CA of this node") {
		t.Errorf("another cluster's node took the archive: exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(other, layout.PKIDir, "ca.crt")); !bytes.Equal(before, after) {
		t.Error("the other node's CA changed")
	}

	r = runAt(t, epoch, "", "--root", worker, "ca", "apply", archive, "--restart", "none")
	if r.code != 0 {
		t.Fatalf("ca apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(worker, layout.PKIDir, "ca.crt")); !bytes.Equal(got, renewedCA) {
		t.Error("the worker's ca.crt is not the renewed CA")
	}
	for _, kc := range []string{"kubelet.conf", "bootstrap-kubelet.conf"} {
		if got := kubeconfigCA(t, filepath.Join(worker, layout.KubernetesDir, kc)); !bytes.Equal(got, renewedCA) {
			t.Errorf("the worker's %s does not hold the renewed CA", kc)
		}
	}
	if !strings.Contains(r.stdout, "restart now, in this order: kubelet") {
		t.Errorf("ca apply on a worker does not say to restart the kubelet:\n%s", r.stdout)
	}
	r = runAt(t, epoch, "", "--root", worker, "ca", "apply", archive, "--restart", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("a rerun of ca apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A damaged archive is refused before anything.
	bad := "/root/bad.tar.gz"
	testpki.WriteFile(t, filepath.Join(worker, bad), append(bytes.Clone(data[:len(data)/2]), 0), 0o600)
	r = runAt(t, epoch, "", "--root", worker, "ca", "apply", bad, "--restart", "none")
	if r.code == 0 || !strings.Contains(r.stderr, "not a certrescue CA archive") {
		t.Errorf("a damaged archive: exit %d\n%s", r.code, r.stderr)
	}
}
