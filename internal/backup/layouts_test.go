package backup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestALinkFromOneCredentialToAnothersFileIsRefused: on a real kubeadm PKI
// (inventory items with their roles), an archive that makes the API
// server's key a link to the CA's key is refused: a renew of the API server
// would write its new key over ca.key.
func TestALinkFromOneCredentialToAnothersFileIsRefused(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	before := snapshot(t, tr.Root)
	for _, target := range []string{"/etc/kubernetes/pki/ca.key", "ca.key", "/etc/kubernetes/pki/etcd/ca.key", "ca.crt", "front-proxy-client.key"} {
		p := craft(t, &Manifest{Version: FormatVersion, Entries: []Entry{linkEntry("/etc/kubernetes/pki/apiserver.key", target)}},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.key", target)})
		_, err := Restore(p, RestoreOptions{Root: tr.Root})
		var re *RefusedError
		if !errors.As(err, &re) || re.Refusals[0].Reason != RefuseSymlink || !strings.Contains(err.Error(), "a renew of one would overwrite the other") {
			t.Fatalf("apiserver.key -> %s: %v, want the link refused", target, err)
		}
		sameSnapshot(t, "root", snapshot(t, tr.Root), before)
	}
	p := craft(t, &Manifest{Version: FormatVersion, Entries: []Entry{linkEntry("/etc/kubernetes/admin.conf", "controller-manager.conf")}},
		[]member{linkMember("/etc/kubernetes/admin.conf", "controller-manager.conf")})
	if _, err := Restore(p, RestoreOptions{Root: tr.Root}); !errors.Is(err, ErrRefused) {
		t.Errorf("admin.conf -> controller-manager.conf: %v, want the link refused", err)
	}
	sameSnapshot(t, "root", snapshot(t, tr.Root), before)
}

// TestARealKubeadmBackupRestoresWhole: every entry certrescue's own backup of
// a kubeadm node holds (pki, kubeconfigs, manifests, the kubelet's rotated
// certificate and its link) is a credential: restored with nothing allowed.
func TestARealKubeadmBackupRestoresWhole(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	kubelet := filepath.Join(tr.Root, "var/lib/kubelet/pki")
	cur := filepath.Join(kubelet, "kubelet-client-current.pem")
	if _, err := os.Lstat(cur); err != nil {
		old, _ := os.ReadFile(filepath.Join(tr.Root, "var/lib/kubelet/pki/kubelet-client-current.pem"))
		os.WriteFile(filepath.Join(kubelet, "kubelet-client-2026-01-01-00-00-00.pem"), old, 0o600)
		os.Symlink("/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem", cur)
	}
	dir := filepath.Join(tr.Root, DefaultDir)
	info, err := Create(Options{Root: tr.Root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Join(tr.Root, "etc"))
	os.WriteFile(filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.crt"), []byte("renewed"), 0o644)
	os.WriteFile(filepath.Join(tr.Root, "etc/kubernetes/admin.conf"), []byte("renewed"), 0o600)
	res, err := Restore(info.Path, RestoreOptions{Root: tr.Root, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Allowed) != 0 || len(res.Written) != 2 {
		t.Errorf("written %v, allowed %v; want the two changed files and nothing outside the credentials", res.Written, res.Allowed)
	}
	sameSnapshot(t, "/etc after the restore", snapshot(t, filepath.Join(tr.Root, "etc")), before)
}

// TestAFileTheInventoryNamesIsACredential: a certificate an inventory file
// names (/opt/registry) is restored when the caller's credentials come from
// that inventory, and refused, confirmable, when they do not.
func TestAFileTheInventoryNamesIsACredential(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("registry.internal"))
	testpki.WriteCert(t, filepath.Join(root, "opt/registry/ca.crt"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "opt/registry/tls.crt"), leaf.Cert)
	testpki.WriteKey(t, filepath.Join(root, "opt/registry/tls.key"), leaf.Key)
	testpki.WriteFile(t, filepath.Join(root, "etc/certrescue/inventory.yaml"), []byte("items:\n- path: /opt/registry/tls.crt\n  key: /opt/registry/tls.key\n  ca: /opt/registry/ca.crt\n"), 0o644)
	dir := filepath.Join(root, DefaultDir)
	info, err := Create(Options{Root: root, Files: []string{"/opt/registry/tls.crt", "/opt/registry/tls.key", "/opt/registry/ca.crt"}, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "opt/registry/tls.key"), []byte("lost"), 0o600)

	_, err = Restore(info.Path, RestoreOptions{Root: root})
	var re *RefusedError
	if !errors.As(err, &re) || !slices.Contains(re.Confirmable(), "/opt/registry/tls.key") {
		t.Fatalf("without the inventory: %v, want the registry files refused and confirmable", err)
	}
	items, err := inventory.ScanNode(t.Context(), inventory.NewReader(root), inventory.NodeOptions{Node: true, Inventories: []string{"/etc/certrescue/inventory.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restore(info.Path, RestoreOptions{Root: root, Credentials: CredentialsOf(root, items)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Written, []string{"/opt/registry/tls.key"}) || len(res.Allowed) != 0 {
		t.Errorf("written %v, allowed %v", res.Written, res.Allowed)
	}
}

// TestKubesprayLinkedPKI: /etc/kubernetes/pki -> /etc/kubernetes/ssl. A
// backup through the link restores with nothing allowed; when the node lost
// the link, bringing it back (and ssl's files) is a layout change the
// operator confirms by naming /etc/kubernetes/ssl.
func TestKubesprayLinkedPKI(t *testing.T) {
	root := t.TempDir()
	ssl := filepath.Join(root, "etc/kubernetes/ssl")
	os.MkdirAll(ssl, 0o700)
	ca := testpki.MustCA(t)
	testpki.WriteCert(t, filepath.Join(ssl, "ca.crt"), ca.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "ca.key"), ca.Signer)
	os.Symlink("/etc/kubernetes/ssl", filepath.Join(root, "etc/kubernetes/pki"))
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Join(root, "etc"))

	os.WriteFile(filepath.Join(ssl, "ca.key"), []byte("lost"), 0o600)
	if _, err := Restore(info.Path, RestoreOptions{Root: root}); err != nil {
		t.Fatalf("restore through the node's own link: %v", err)
	}
	sameSnapshot(t, "/etc", snapshot(t, filepath.Join(root, "etc")), before)

	os.RemoveAll(ssl)
	os.Remove(filepath.Join(root, "etc/kubernetes/pki"))
	_, err = Restore(info.Path, RestoreOptions{Root: root})
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("restoring a link to a directory that is not a credential directory now: %v", err)
	}
	creds, err := ScanCredentials(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	creds.Allow("/etc/kubernetes/ssl")
	res, err := Restore(info.Path, RestoreOptions{Root: root, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "/etc after the confirmed restore", snapshot(t, filepath.Join(root, "etc")), before)
	if !slices.Contains(res.Allowed, "/etc/kubernetes/ssl/ca.key") {
		t.Errorf("allowed %v: the confirmed files are named", res.Allowed)
	}
}

// TestADirectoryLinkOfTheNodeDoesNotWidenTheSetThroughTheArchive: the
// credential set comes from the node, never from the archive: an archive
// that repoints /etc/kubernetes/pki at /etc and writes /etc/pam.d through
// it is refused.
func TestADirectoryLinkOfTheArchiveDoesNotWidenTheSet(t *testing.T) {
	root := nodeTree(t)
	os.RemoveAll(filepath.Join(root, "etc/kubernetes/pki"))
	before := snapshot(t, root)
	evil := []byte("auth sufficient pam_permit.so")
	p := craft(t, &Manifest{Version: FormatVersion, Entries: []Entry{linkEntry("/etc/kubernetes/pki", "/etc"), fileEntry("/etc/pam.d/sshd", evil)}},
		[]member{linkMember("/etc/kubernetes/pki", "/etc"), regMember("/etc/pam.d/sshd", evil)})
	_, err := Restore(p, RestoreOptions{Root: root})
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Refusals) != 2 {
		t.Fatalf("Restore = %v, want both the link and the file refused", err)
	}
	sameSnapshot(t, "root", snapshot(t, root), before)
}

// TestTheKubeletsRotatedLinkIsRestored: a link among the credentials that
// leads to another file among them (the kubelet's rotation) is restored,
// after the file it leads to.
func TestTheKubeletsRotatedLinkIsRestored(t *testing.T) {
	root := nodeTree(t)
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	kubelet := filepath.Join(root, "var/lib/kubelet/pki")
	before := snapshot(t, kubelet)
	os.WriteFile(filepath.Join(kubelet, "kubelet-client-2026-06-01-00-00-00.pem"), []byte("rotated"), 0o600)
	os.Remove(filepath.Join(kubelet, "kubelet-client-current.pem"))
	os.Symlink("/var/lib/kubelet/pki/kubelet-client-2026-06-01-00-00-00.pem", filepath.Join(kubelet, "kubelet-client-current.pem"))
	os.Remove(filepath.Join(kubelet, "kubelet-client-2026-01-01-00-00-00.pem"))
	res, err := Restore(info.Path, RestoreOptions{Root: root, Now: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, kubelet)
	delete(after, "kubelet-client-2026-06-01-00-00-00.pem") // created after the backup: a restore leaves it
	sameSnapshot(t, "the kubelet's pki", after, before)
	if len(res.Written) != 2 {
		t.Errorf("written %v", res.Written)
	}
}
