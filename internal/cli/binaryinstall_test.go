package cli

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// binaryInstall is the field guide's kind of node, built for a test: cfssl
// names in /etc/kubernetes/ssl (ca.pem, ca-key.pem, apiserver.pem,
// apiserver-key.pem, ...), one CA signing everything (etcd included),
// components as systemd units whose ExecStart flags name the files, and
// kubeconfigs referencing the .pem files. Every leaf expired a month before
// testpki.Epoch.
type binaryInstall struct {
	Root string
	CA   *pki.CA
}

// binaryInstallOptions changes the node.
type binaryInstallOptions struct {
	// APIServerIPs are the API server certificate's IP SANs; the field
	// guide's -hostname list (10.0.0.1, 127.0.0.1) when nil, which lacks the
	// service IP 10.96.0.1 of --service-cluster-ip-range 10.96.0.0/12.
	APIServerIPs []string
}

const (
	biAdvertise = "192.168.10.11"
	biSSL       = "/etc/kubernetes/ssl"
)

func newBinaryInstall(t *testing.T, o binaryInstallOptions) *binaryInstall {
	t.Helper()
	if o.APIServerIPs == nil {
		o.APIServerIPs = []string{"10.0.0.1", "127.0.0.1", biAdvertise}
	}
	root := t.TempDir()
	bi := &binaryInstall{Root: root, CA: testpki.MustCA(t, testpki.WithCN("kubernetes"))}
	expired := testpki.WithValidity(testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-30*24*time.Hour))
	ssl := func(name string) string { return filepath.Join(root, biSSL, name) }
	testpki.WriteCert(t, ssl("ca.pem"), bi.CA.Cert)
	testpki.WriteKey(t, ssl("ca-key.pem"), bi.CA.Signer)
	leaf := func(name string, opts ...testpki.Option) {
		l := testpki.MustLeaf(t, bi.CA, append(opts, expired)...)
		testpki.WriteCert(t, ssl(name+".pem"), l.Cert)
		testpki.WriteKey(t, ssl(name+"-key.pem"), l.Key)
	}
	leaf("apiserver", testpki.WithCN("kubernetes"), testpki.WithIPs(o.APIServerIPs...),
		testpki.WithDNS("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"))
	leaf("etcd", testpki.WithCN("etcd"), testpki.WithIPs("127.0.0.1", biAdvertise), testpki.WithDNS("localhost"))
	leaf("kube-controller-manager", testpki.WithCN("system:kube-controller-manager"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	leaf("kube-scheduler", testpki.WithCN("system:kube-scheduler"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	leaf("admin", testpki.WithCN("admin"), testpki.WithOrg("system:masters"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))

	kubeconfig := func(name, user string) {
		testpki.WriteFile(t, filepath.Join(root, "etc/kubernetes", name+".kubeconfig"), fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority: %[1]s/ca.pem
    server: https://%[2]s:6443
users:
- name: %[3]s
  user:
    client-certificate: %[1]s/%[3]s.pem
    client-key: %[1]s/%[3]s-key.pem
contexts:
- name: default
  context: {cluster: kubernetes, user: %[3]s}
current-context: default
`, biSSL, biAdvertise, user), 0o600)
	}
	kubeconfig("kube-controller-manager", "kube-controller-manager")
	kubeconfig("kube-scheduler", "kube-scheduler")
	kubeconfig("admin", "admin")

	unit := func(name, execStart string) {
		testpki.WriteFile(t, filepath.Join(root, "etc/systemd/system", name+".service"), fmt.Appendf(nil, `[Unit]
Description=%s

[Service]
ExecStart=%s
Restart=on-failure

[Install]
WantedBy=multi-user.target
`, name, execStart), 0o644)
	}
	unit("etcd", `/usr/local/bin/etcd --name=node1 \
  --cert-file=/etc/kubernetes/ssl/etcd.pem --key-file=/etc/kubernetes/ssl/etcd-key.pem \
  --peer-cert-file=/etc/kubernetes/ssl/etcd.pem --peer-key-file=/etc/kubernetes/ssl/etcd-key.pem \
  --trusted-ca-file=/etc/kubernetes/ssl/ca.pem --peer-trusted-ca-file=/etc/kubernetes/ssl/ca.pem \
  --client-cert-auth --listen-client-urls=https://127.0.0.1:2379 \
  --advertise-client-urls=https://`+biAdvertise+`:2379`)
	unit("kube-apiserver", `/usr/local/bin/kube-apiserver \
  --advertise-address=`+biAdvertise+` \
  --service-cluster-ip-range=10.96.0.0/12 \
  --tls-cert-file=/etc/kubernetes/ssl/apiserver.pem \
  --tls-private-key-file=/etc/kubernetes/ssl/apiserver-key.pem \
  --client-ca-file=/etc/kubernetes/ssl/ca.pem \
  --kubelet-client-certificate=/etc/kubernetes/ssl/admin.pem \
  --kubelet-client-key=/etc/kubernetes/ssl/admin-key.pem \
  --etcd-cafile=/etc/kubernetes/ssl/ca.pem \
  --etcd-certfile=/etc/kubernetes/ssl/apiserver.pem \
  --etcd-keyfile=/etc/kubernetes/ssl/apiserver-key.pem \
  --etcd-servers=https://127.0.0.1:2379`)
	unit("kube-controller-manager", `/usr/local/bin/kube-controller-manager \
  --kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig \
  --cluster-signing-cert-file=/etc/kubernetes/ssl/ca.pem \
  --cluster-signing-key-file=/etc/kubernetes/ssl/ca-key.pem \
  --root-ca-file=/etc/kubernetes/ssl/ca.pem`)
	unit("kube-scheduler", `/usr/local/bin/kube-scheduler --kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig`)
	return bi
}

// hashes is the sha256 of every regular file under root's /etc, by node path.
func hashes(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "etc"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(root, p)
		out["/"+rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// latestBackup is the manifest of the newest archive under root's default
// backups directory whose ID starts with prefix.
func latestBackup(t *testing.T, root, prefix string) *backup.Info {
	t.Helper()
	all, err := backup.List(filepath.Join(root, backup.DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(all) - 1; i >= 0; i-- {
		if strings.HasPrefix(all[i].ID, prefix) {
			info, err := backup.Verify(all[i].Path)
			if err != nil {
				t.Fatal(err)
			}
			return info
		}
	}
	t.Fatalf("no %s archive in %v", prefix, all)
	return nil
}

func leafAt(t *testing.T, root, nodePath string) *x509.Certificate {
	t.Helper()
	cs, err := pki.ParseCertificatesPEM(testpkiRead(t, filepath.Join(root, nodePath)))
	if err != nil {
		t.Fatal(err)
	}
	return cs[0]
}

func testpkiRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasIP(c *x509.Certificate, ip string) bool {
	return slices.ContainsFunc(c.IPAddresses, func(i net.IP) bool { return i.String() == ip })
}

func TestRescueOfABinaryInstallBacksUpWhatItReplacesAndRestoreBringsBackTheBytes(t *testing.T) {
	bi := newBinaryInstall(t, binaryInstallOptions{APIServerIPs: []string{"10.0.0.1", "10.96.0.1", "127.0.0.1", biAdvertise}})
	before := hashes(t, bi.Root)
	r := runAt(t, testpki.Epoch, "", "--root", bi.Root, "rescue", "--restart", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "result: manual-restart") {
		t.Fatalf("rescue: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	api := biSSL + "/apiserver.pem"
	renewed := hashes(t, bi.Root)
	if renewed[api] == before[api] {
		t.Fatalf("%s was not renewed", api)
	}

	// The backup holds every file the rescue replaced and every trust file,
	// with the pre-rescue bytes.
	info := latestBackup(t, bi.Root, backup.PrefixBackup)
	for _, p := range []string{api, biSSL + "/apiserver-key.pem", biSSL + "/etcd.pem", biSSL + "/admin.pem",
		biSSL + "/kube-scheduler.pem", biSSL + "/kube-scheduler-key.pem", biSSL + "/ca.pem", biSSL + "/ca-key.pem",
		"/etc/kubernetes/kube-scheduler.kubeconfig", "/etc/kubernetes/kube-controller-manager.kubeconfig"} {
		e, ok := info.Manifest.Find(p)
		if !ok {
			t.Errorf("the rescue's backup lacks %s", p)
			continue
		}
		if e.SHA256 != before[p] {
			t.Errorf("the backup holds %s as %s, the node had %s", p, e.SHA256, before[p])
		}
	}
	if !strings.Contains(r.stdout, "(every one of the 5 the renewal replaces)") {
		t.Errorf("the backup step does not say it holds every replaced file:\n%s", r.stdout)
	}

	// restore latest brings back the exact pre-rescue bytes, after taking an
	// undo archive of what it overwrote.
	r = runAt(t, testpki.Epoch.Add(time.Minute), "", "--root", bi.Root, "restore", "latest")
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := hashes(t, bi.Root); !maps.Equal(got, before) {
		for p, h := range before {
			if got[p] != h {
				t.Errorf("after restore %s is %s, before the rescue it was %s", p, got[p], h)
			}
		}
	}
	undo := latestBackup(t, bi.Root, backup.PrefixUndo)
	if !strings.Contains(r.stdout, "Backup of what this restore overwrote: "+undo.ID) ||
		!strings.Contains(r.stdout, "undo with: certrescue --root "+bi.Root+" restore "+undo.ID) {
		t.Errorf("restore does not name its undo archive %s:\n%s", undo.ID, r.stdout)
	}
	if e, ok := undo.Manifest.Find(api); !ok || e.SHA256 != renewed[api] {
		t.Errorf("the undo archive does not hold the renewed %s (%+v)", api, e)
	}
	// It holds what the restore overwrote (the rescue's five renewed files), nothing else.
	var held []string
	for _, e := range undo.Manifest.Entries {
		if e.Type == backup.TypeFile {
			held = append(held, e.Path)
		}
	}
	var changed []string
	for p, h := range renewed {
		if before[p] != h {
			changed = append(changed, p)
		}
	}
	slices.Sort(changed)
	if !slices.Equal(held, changed) {
		t.Errorf("the undo archive holds %v, the restore overwrote %v", held, changed)
	}

	// The undo archive undoes the restore; latest still means the rescue's backup.
	r = runAt(t, testpki.Epoch.Add(2*time.Minute), "", "--root", bi.Root, "restore", undo.ID)
	if r.code != 0 {
		t.Fatalf("restore %s: exit %d\n%s\n%s", undo.ID, r.code, r.stdout, r.stderr)
	}
	if got := hashes(t, bi.Root); got[api] != renewed[api] {
		t.Errorf("restoring the undo archive did not bring back the renewed %s", api)
	}
	r = runAt(t, testpki.Epoch.Add(3*time.Minute), "", "--root", bi.Root, "restore", "latest")
	if r.code != 0 || !strings.Contains(r.stdout, "restored "+info.ID) {
		t.Errorf("restore latest after an undo: exit %d, want the rescue's backup %s\n%s", r.code, info.ID, r.stdout)
	}
	if got := hashes(t, bi.Root); !maps.Equal(got, before) {
		t.Error("the second restore latest did not bring back the pre-rescue bytes")
	}
}

func TestRescueOfAnAPIServerCertificateLackingTheServiceIPEndsStillCritical(t *testing.T) {
	bi := newBinaryInstall(t, binaryInstallOptions{})
	api := biSSL + "/apiserver.pem"

	// The dry run says so, changes nothing and exits 5.
	before := hashes(t, bi.Root)
	r := runAt(t, testpki.Epoch, "", "--root", bi.Root, "rescue", "--restart", "none", "--dry-run")
	if r.code != ExitStillCritical || !strings.Contains(r.stdout, "would still find 1 critical problem") ||
		!strings.Contains(r.stdout, "fix: --add-san 10.96.0.1") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !maps.Equal(before, hashes(t, bi.Root)) {
		t.Fatal("the dry run changed files")
	}

	// The real run renews (better than expired) but ends renewed, still
	// critical, with the flag that fixes it and exit 5.
	r = runAt(t, testpki.Epoch, "", "--root", bi.Root, "rescue", "--restart", "none")
	if r.code != ExitStillCritical {
		t.Fatalf("rescue: exit %d, want %d\n%s\n%s", r.code, ExitStillCritical, r.stdout, r.stderr)
	}
	for _, want := range []string{"result: renewed-still-critical", "renewed, still critical", "san_missing", "lacks IP address 10.96.0.1",
		"fix: --add-san 10.96.0.1", "restart now, in this order: etcd, kube-apiserver"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "renewed, still critical") {
		t.Errorf("stderr: %q", r.stderr)
	}
	if c := leafAt(t, bi.Root, api); c.NotAfter.Before(testpki.Epoch) || hasIP(c, "10.96.0.1") {
		t.Errorf("apiserver.pem after the run: until %s, IPs %v", c.NotAfter, c.IPAddresses)
	}

	// The "next:" line, pasted as it is, fixes it.
	var next string
	for _, line := range strings.Split(r.stdout, "\n") {
		if s, ok := strings.CutPrefix(line, "next: "); ok {
			next = s
		}
	}
	args := strings.Fields(next)
	if len(args) < 2 || args[0] != "certrescue" || !slices.Contains(args, "--add-san") {
		t.Fatalf("next line %q", next)
	}
	r = runAt(t, testpki.Epoch.Add(time.Hour), "", args[1:]...)
	if r.code != 0 || !strings.Contains(r.stdout, "result: manual-restart") {
		t.Fatalf("%s: exit %d\n%s\n%s", next, r.code, r.stdout, r.stderr)
	}
	if c := leafAt(t, bi.Root, api); !hasIP(c, "10.96.0.1") {
		t.Errorf("after %s the API server certificate still lacks 10.96.0.1: %v", next, c.IPAddresses)
	}
}

func TestRescueWithTheAddSANItNeedsEndsOK(t *testing.T) {
	bi := newBinaryInstall(t, binaryInstallOptions{})
	r := runAt(t, testpki.Epoch, "", "--root", bi.Root, "rescue", "--restart", "none", "--add-san", "10.96.0.1")
	if r.code != 0 || !strings.Contains(r.stdout, "result: manual-restart") || strings.Contains(r.stdout, "CRITICAL") {
		t.Fatalf("rescue --add-san 10.96.0.1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c := leafAt(t, bi.Root, biSSL+"/apiserver.pem"); !hasIP(c, "10.96.0.1") || !hasIP(c, biAdvertise) {
		t.Errorf("apiserver.pem IPs %v", c.IPAddresses)
	}
}

func TestRenewOfABinaryInstallBacksUpAndSaysWhatIsStillCritical(t *testing.T) {
	bi := newBinaryInstall(t, binaryInstallOptions{})
	api := biSSL + "/apiserver.pem"
	before := hashes(t, bi.Root)
	r := runAt(t, testpki.Epoch, "", "--root", bi.Root, "renew", "apiserver")
	if r.code != ExitStillCritical {
		t.Fatalf("renew apiserver: exit %d, want %d\n%s\n%s", r.code, ExitStillCritical, r.stdout, r.stderr)
	}
	info := latestBackup(t, bi.Root, backup.PrefixBackup)
	for _, p := range []string{api, biSSL + "/apiserver-key.pem", biSSL + "/ca.pem", biSSL + "/ca-key.pem"} {
		if e, ok := info.Manifest.Find(p); !ok || e.SHA256 != before[p] {
			t.Errorf("renew's backup does not hold the pre-renewal %s", p)
		}
	}
	for _, want := range []string{"undo with: certrescue --root " + bi.Root + " restore " + info.ID, "renewed, still critical", "fix: --add-san 10.96.0.1",
		"next: certrescue --root " + bi.Root + " renew apiserver --add-san 10.96.0.1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("renew output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runAt(t, testpki.Epoch, "", "--root", bi.Root, "renew", "apiserver", "--add-san", "10.96.0.1", "-o", "json")
	if r.code != 0 || strings.Contains(r.stdout, "stillCritical") {
		t.Fatalf("renew apiserver --add-san 10.96.0.1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !hasIP(leafAt(t, bi.Root, api), "10.96.0.1") {
		t.Error("renew --add-san 10.96.0.1 did not add it")
	}
	r = runAt(t, testpki.Epoch, "", "--root", bi.Root, "renew", "apiserver", "--dry-run", "-o", "json", "--validity", "3d")
	if r.code != ExitStillCritical || !strings.Contains(r.stdout, `"stillCritical"`) || !strings.Contains(r.stdout, `"--validity"`) {
		t.Errorf("renew --dry-run --validity 3d: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
