package cli

import (
	"crypto/x509"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestCARotatePhaseByPhaseWithManualRestarts(t *testing.T) {
	epoch := testpki.Epoch
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	withoutSigningFlags(t, root)
	caBefore, _ := os.ReadFile(filepath.Join(root, layout.PKIDir, "ca.crt"))

	r := runAt(t, epoch, "", "--root", root, "ca", "rotate", "all", "--status")
	if r.code != 0 || strings.Count(r.stdout, ": not rotating") != 3 {
		t.Fatalf("status before: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, epoch, "", "--root", root, "ca", "rotate", "all", "--dry-run", "--restart", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(root, layout.PKIDir, "ca.crt")); string(after) != string(caBefore) {
		t.Fatal("the dry run changed ca.crt")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/certrescue/ca-rotate/ca")); err == nil {
		t.Fatal("the dry run kept a new CA")
	}
	want := []string{"phase 1 done", "phase 2 done", "phase 3 done"}
	for i, w := range want {
		r = runAt(t, epoch, "", "--root", root, "ca", "rotate", "all", "--restart", "none")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", i+1, r.code, r.stdout, r.stderr)
		}
		if strings.Count(r.stdout, ": "+w) != 3 || !strings.Contains(r.stdout, "restart the components above yourself") {
			t.Fatalf("run %d does not end at %q for the three CAs:\n%s", i+1, w, r.stdout)
		}
	}
	r = runAt(t, epoch, "", "--root", root, "ca", "rotate", "all", "--restart", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "every CA named is at least at: phase 3 done") {
		t.Fatalf("a rerun when done: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, epoch, "", "--root", root, "check")
	if r.code != 0 {
		t.Errorf("check after the rotation: exit %d\n%s", r.code, r.stdout)
	}
}

func TestCARotateRefusesAHalfRotatedNode(t *testing.T) {
	epoch := testpki.Epoch
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	withoutSigningFlags(t, root)
	r := runAt(t, epoch, "", "--root", root, "ca", "rotate", "ca", "--until", "1", "--restart", "none")
	if r.code != 0 {
		t.Fatalf("phase 1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Someone puts the old ca.crt back by hand.
	old, _ := os.ReadFile(filepath.Join(root, "var/lib/certrescue/ca-rotate/ca/old-ca.crt"))
	testpki.WriteFile(t, filepath.Join(root, layout.PKIDir, "ca.crt"), old, 0o644)
	before, _ := os.ReadFile(filepath.Join(root, layout.KubernetesDir, "admin.conf"))
	r = runAt(t, epoch, "", "--root", root, "ca", "rotate", "ca", "--restart", "none")
	if r.code != 1 || !strings.Contains(r.stderr, "half-rotated") ||
		!strings.Contains(r.stderr, "/etc/kubernetes/pki/ca.crt") || !strings.Contains(r.stderr, "holds the old CA only") ||
		!strings.Contains(r.stderr, "/etc/kubernetes/admin.conf certificate-authority-data") {
		t.Fatalf("a half-rotated node: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(root, layout.KubernetesDir, "admin.conf")); string(after) != string(before) {
		t.Error("the refused run changed admin.conf")
	}
}

func TestCARotateArchivesThenApplyOnAWorker(t *testing.T) {
	epoch := testpki.Epoch
	cp := t.TempDir()
	testpki.KubeadmTree(t, cp, testpki.TreeOptions{Manifests: true})
	peer := filepath.Join(t.TempDir(), "peer") // another control-plane node, its controller-manager signing with ca.crt
	if err := os.CopyFS(peer, os.DirFS(cp)); err != nil {
		t.Fatal(err)
	}
	withoutSigningFlags(t, cp)
	worker := workerOf(t, cp)
	other := t.TempDir()
	testpki.KubeadmTree(t, other, testpki.TreeOptions{Manifests: true})
	oldCA := readCerts(t, filepath.Join(cp, layout.PKIDir, "ca.crt"))[0]

	r := runAt(t, epoch, "", "--root", cp, "ca", "rotate", "all", "--until", "1", "--restart", "none")
	if r.code != 0 {
		t.Fatalf("phase 1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, epoch, "", "--root", cp, "ca", "rotate", "all", "--until", "1", "--restart", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "ca-rotate-trust-both.tar.gz") {
		t.Fatalf("the rerun at phase 1 does not write the trust-both archive: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	newCA := readCerts(t, filepath.Join(cp, "var/lib/certrescue/ca-rotate/ca/new-ca.crt"))[0]
	apply := func(node, phase string) result {
		data, err := os.ReadFile(filepath.Join(cp, "var/lib/certrescue/ca-rotate/ca-rotate-"+phase+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "PRIVATE KEY") {
			t.Fatal("the archive holds a private key")
		}
		testpki.WriteFile(t, filepath.Join(node, "root/rotate.tar.gz"), data, 0o600)
		return runAt(t, epoch, "", "--root", node, "ca", "apply", "/root/rotate.tar.gz", "--restart", "none")
	}
	before, _ := os.ReadFile(filepath.Join(other, layout.PKIDir, "ca.crt"))
	if r := apply(other, "trust-both"); r.code == 0 || !strings.Contains(r.stderr, "another cluster") {
		t.Errorf("another cluster's node took the archive: exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(other, layout.PKIDir, "ca.crt")); string(after) != string(before) {
		t.Error("the other cluster's ca.crt changed")
	}
	peerBefore := hashes(t, peer)
	if r := apply(peer, "trust-both"); r.code == 0 || !strings.Contains(r.stderr, "kube-controller-manager --cluster-signing-cert-file") {
		t.Errorf("trust-both on a control-plane node whose controller-manager signs with ca.crt: exit %d, want the signing refusal\n%s", r.code, r.stderr)
	}
	if !maps.Equal(peerBefore, hashes(t, peer)) {
		t.Error("the refused apply changed the control-plane node")
	}
	if r := apply(worker, "trust-both"); r.code != 0 || !strings.Contains(r.stdout, "restart now, in this order: kubelet") {
		t.Fatalf("trust-both on the worker: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	holds := func(p string, want ...*x509.Certificate) {
		t.Helper()
		var got []*x509.Certificate
		if strings.HasSuffix(p, ".conf") {
			got, _ = pki.ParseCertificatesPEM(kubeconfigCA(t, filepath.Join(worker, p)))
		} else {
			got = readCerts(t, filepath.Join(worker, p))
		}
		if len(got) != len(want) {
			t.Fatalf("%s holds %d certificates, want %d", p, len(got), len(want))
		}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Errorf("%s: certificate %d is not the expected one", p, i)
			}
		}
	}
	for _, p := range []string{layout.PKIDir + "/ca.crt", layout.KubernetesDir + "/kubelet.conf", layout.KubernetesDir + "/bootstrap-kubelet.conf"} {
		holds(p, oldCA, newCA)
	}
	if r := apply(worker, "trust-both"); r.code != 0 || !strings.Contains(r.stdout, "nothing to change") {
		t.Errorf("a rerun of the trust-both apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for i := 0; i < 2; i++ {
		if r := runAt(t, epoch, "", "--root", cp, "ca", "rotate", "all", "--restart", "none"); r.code != 0 {
			t.Fatalf("phase %d: exit %d\n%s\n%s", i+2, r.code, r.stdout, r.stderr)
		}
	}
	if r := runAt(t, epoch, "", "--root", cp, "ca", "rotate", "all", "--restart", "none"); r.code != 0 || !strings.Contains(r.stdout, "ca-rotate-new-only.tar.gz") {
		t.Fatalf("done: no new-only archive: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The worker's kubelet still has its client certificate from the old CA:
	// new-only is refused, nothing changed.
	if r := apply(worker, "new-only"); r.code != 1 || !strings.Contains(r.stderr, "still signed by the old CA") || !strings.Contains(r.stderr, "kubelet.conf") {
		t.Fatalf("new-only on a worker whose kubelet certificate is the old CA's: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	holds(layout.PKIDir+"/ca.crt", oldCA, newCA)
	// Its kubelet rotates its client certificate (here: the control plane's
	// re-issued kubelet.conf stands in for it), then new-only goes through.
	copyFile(t, cp, worker, layout.KubernetesDir+"/kubelet.conf")
	if r := apply(worker, "new-only"); r.code != 0 {
		t.Fatalf("new-only on the worker: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{layout.PKIDir + "/ca.crt", layout.KubernetesDir + "/kubelet.conf", layout.KubernetesDir + "/bootstrap-kubelet.conf"} {
		holds(p, newCA)
	}
}

func readCerts(t *testing.T, p string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// The field guide's binary install (its PKI made by the real cfssl): one CA,
// ssl/ca.pem, rotated to a new key in three runs.
func TestCARotateOnTheBinaryInstall(t *testing.T) {
	root := t.TempDir()
	b := testbed.NewBinaryInstall(t, root, "10.0.0.1")
	withoutSigningFlags(t, root)
	ca := b.Path(testbed.BinSSLDir + "/ca.pem")
	old := readCerts(t, ca)[0]
	now := old.NotBefore.Add(24 * time.Hour)
	for i := 1; i <= 3; i++ {
		r := runAt(t, now, "", "--root", root, "ca", "rotate", testbed.BinSSLDir+"/ca.pem", "--restart", "none")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
	}
	got := readCerts(t, ca)
	if len(got) != 1 || got[0].Equal(old) || pki.PublicKeysEqual(got[0].PublicKey, old.PublicKey) {
		t.Fatalf("ca.pem does not hold a new CA only (%d certificates)", len(got))
	}
	keyPEM, err := os.ReadFile(b.Path(testbed.BinSSLDir + "/ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil || !pki.PublicKeysEqual(key.Public(), got[0].PublicKey) {
		t.Fatalf("ca-key.pem is not the new CA's key: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(got[0])
	for _, l := range testbed.BinaryInstallLeaves {
		c := readCerts(t, b.Path(testbed.BinSSLDir+"/"+l+".pem"))[0]
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s.pem does not verify against the new CA: %v", l, err)
		}
	}
	for _, kc := range []string{testbed.BinAdminConf, testbed.BinControllerCfg, testbed.BinSchedulerCfg} {
		data, _ := os.ReadFile(b.Path(kc))
		k, err := kubeconfig.Parse(data, "/etc/kubernetes", func(p string) ([]byte, error) { return os.ReadFile(b.Path(p)) })
		if err != nil {
			t.Fatal(err)
		}
		if cs, _ := pki.ParseCertificatesPEM(k.CA.Data); len(cs) != 1 || !cs[0].Equal(got[0]) {
			t.Errorf("%s does not trust the new CA only", kc)
		}
	}
}

// Mid-rotation (both CAs trusted side by side after phase 1), the exporter
// judges as check does: the new CA in the bundles is expected, not an
// unexpected trust anchor.
func TestExporterExpectsBothCAsDuringARotation(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	withoutSigningFlags(t, root)
	out := filepath.Join(root, "var/lib/node_exporter")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	textfile := func() string {
		t.Helper()
		if code, _, stderr := runExporterCLI(t, root, "exporter", "--no-endpoints", "--textfile", "/var/lib/node_exporter"); code != 0 {
			t.Fatalf("exporter: exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "certrescue.prom"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if strings.Contains(textfile(), "unexpected_trust_anchor") {
		t.Fatal("the node reports an unexpected trust anchor before any rotation")
	}
	if r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--until", "1", "--restart", "none"); r.code != 0 {
		t.Fatalf("phase 1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b := runAt(t, testpki.Epoch, "", "--root", root, "check"); strings.Contains(b.stdout, "unexpected_trust_anchor") {
		t.Fatalf("check reports the rotation's CAs as unexpected:\n%s", b.stdout)
	}
	if got := textfile(); strings.Contains(got, "unexpected_trust_anchor") {
		t.Errorf("the exporter reports the rotation's CAs as unexpected trust anchors:\n%s", got)
	}
}

// withoutSigningFlags takes the controller-manager's --cluster-signing-*
// flags out of every manifest and unit under root, as the runbook says to
// before a rotation (see TestCARotateRefusesWhileTheControllerManagerSignsWithTheCAFile).
func withoutSigningFlags(t *testing.T, root string) {
	t.Helper()
	line := regexp.MustCompile(`(?m)^[ \t]*(- )?--cluster-signing-[^\s\\]+[ \t]*\\?[ \t]*\n`)
	inline := regexp.MustCompile(`[ \t]+--cluster-signing-[^\s\\]+`)
	n := 0
	for _, dir := range []string{"etc/kubernetes/manifests", "etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"} {
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range entries {
			p := filepath.Join(root, dir, e.Name())
			data, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(data), "--cluster-signing-") {
				continue
			}
			out := inline.ReplaceAllString(line.ReplaceAllString(string(data), ""), "")
			if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no controller-manager manifest or unit with --cluster-signing-* flags under the root")
	}
}

// TestCARotatePointsTheSigningFlagAtACopyAndBack: kubeadm's
// controller-manager signs with ca.crt, which phases 1 and 2 make a bundle it
// would refuse; the flag names ca-signing.crt (the certificate that pairs with
// ca.key) from phase 1 to phase 3, and the manifest ends byte for byte as it
// began.
func TestCARotatePointsTheSigningFlagAtACopyAndBack(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	manifest := filepath.Join(root, layout.ManifestsDir, layout.KubeControllerManager+".yaml")
	original, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	const caFile, copyFile = "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-signing.crt"
	if !strings.Contains(string(original), "--cluster-signing-cert-file="+caFile) {
		t.Fatalf("the tree's manifest has no signing flag:\n%s", original)
	}
	certsOf := func(p string) []*x509.Certificate {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return cs
	}
	oldCA := certsOf(caFile)[0]
	phase := func(n int) {
		t.Helper()
		r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--until", strconv.Itoa(n), "--restart", "none")
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
			t.Fatalf("phase %d: exit %d\n%s\n%s", n, r.code, r.stdout, r.stderr)
		}
		if r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--status"); r.code != 0 || strings.Contains(r.stdout, "ca-signing.crt") {
			t.Fatalf("status after phase %d: exit %d (the signing copy is no trust consumer)\n%s\n%s", n, r.code, r.stdout, r.stderr)
		}
	}

	phase(1)
	got, _ := os.ReadFile(manifest)
	if want := strings.Replace(string(original), "--cluster-signing-cert-file="+caFile, "--cluster-signing-cert-file="+copyFile, 1); string(got) != want {
		t.Fatalf("phase 1: the manifest is not the original with the flag changed:\n%s", got)
	}
	if cs := certsOf(copyFile); len(cs) != 1 || !cs[0].Equal(oldCA) {
		t.Fatalf("phase 1: the signing copy holds %d certificates, want the old CA only", len(cs))
	}
	if fi, err := os.Stat(filepath.Join(root, copyFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("phase 1: the signing copy: %v %v", fi, err)
	}
	if len(certsOf(caFile)) != 2 {
		t.Fatal("phase 1: ca.crt is not a bundle")
	}

	phase(2)
	newCA := certsOf(caFile)[0]
	if newCA.Equal(oldCA) {
		t.Fatal("phase 2: ca.crt's first certificate is still the old CA")
	}
	if cs := certsOf(copyFile); len(cs) != 1 || !cs[0].Equal(newCA) {
		t.Fatal("phase 2: the signing copy is not the new CA alone")
	}
	keyData, _ := os.ReadFile(filepath.Join(root, layout.PKIDir, "ca.key"))
	key, err := pki.ParsePrivateKeyPEM(keyData)
	if err != nil || !pki.PublicKeysEqual(key.Public(), newCA.PublicKey) {
		t.Fatalf("phase 2: ca.key does not pair with the signing copy: %v", err)
	}

	phase(3)
	if got, _ := os.ReadFile(manifest); string(got) != string(original) {
		t.Fatalf("phase 3: the manifest is not back as it was:\n%s", got)
	}
	if cs := certsOf(caFile); len(cs) != 1 || !cs[0].Equal(newCA) {
		t.Fatal("phase 3: ca.crt is not the new CA alone")
	}
	r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--status", "-o", "json")
	if r.code != 0 || strings.Contains(r.stdout, "ca-signing") {
		t.Fatalf("status after the rotation: exit %d (the signing copy is not a CA of its own)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestCARotateRefusesASigningFlagItCannotChange: the flag twice in the
// manifest (which one the controller-manager reads is not for certrescue to
// guess): refused before anything changes, with what to do by hand.
func TestCARotateRefusesASigningFlagItCannotChange(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	manifest := filepath.Join(root, layout.ManifestsDir, layout.KubeControllerManager+".yaml")
	data, _ := os.ReadFile(manifest)
	line := "    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt\n"
	if !strings.Contains(string(data), line) {
		t.Fatalf("no %q in\n%s", line, data)
	}
	testpki.WriteFile(t, manifest, []byte(strings.Replace(string(data), line, line+line, 1)), 0o600)
	before := hashes(t, root)
	r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--restart", "none")
	if r.code == 0 || !strings.Contains(r.stderr, "kube-controller-manager --cluster-signing-cert-file") ||
		!strings.Contains(r.stderr, "more than once") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("exit %d, want a refusal naming the signing flag:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after := hashes(t, root); !maps.Equal(before, after) {
		t.Error("the refused rotation changed the node")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/certrescue/ca-rotate")); err == nil {
		t.Error("the refused rotation kept new CAs")
	}
	withoutSigningFlags(t, root)
	if r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "all", "--until", "1", "--restart", "none"); r.code != 0 {
		t.Fatalf("without the signing flags phase 1 runs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestCARotateTwoControlPlaneNodesToOneNewCA: the first node starts the
// rotation and writes the key archive; the second takes it and both go
// through the three phases to the same new CAs, each phase done on both
// before either starts the next, as ca-rotate.yml runs them.
func TestCARotateTwoControlPlaneNodesToOneNewCA(t *testing.T) {
	epoch := testpki.Epoch
	cp1 := t.TempDir()
	testpki.KubeadmTree(t, cp1, testpki.TreeOptions{Manifests: true})
	withoutSigningFlags(t, cp1)
	cp2 := filepath.Join(t.TempDir(), "cp2")
	if err := os.CopyFS(cp2, os.DirFS(cp1)); err != nil {
		t.Fatal(err)
	}
	keys := "/var/lib/certrescue/ca-rotate-keys.tar.gz"
	r := runAt(t, epoch, "", "--root", cp1, "ca", "rotate", "all", "--until", "1", "--restart", "none", "--export-keys", keys)
	if r.code != 0 || !strings.Contains(r.stdout, "key archive for the other control-plane nodes") {
		t.Fatalf("cp1 phase 1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(cp1, keys))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key archive: %v %v", fi, err)
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Fatal("a private key in the output")
	}
	data, _ := os.ReadFile(filepath.Join(cp1, keys))
	testpki.WriteFile(t, filepath.Join(cp2, "root/keys.tar.gz"), data, 0o600)

	// A damaged archive, a stdin archive: refused, nothing changed.
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	testpki.WriteFile(t, filepath.Join(cp2, "root/bad.tar.gz"), bad, 0o600)
	before := treeSums(t, cp2)
	for _, arg := range []string{"/root/bad.tar.gz", "-"} {
		r = runAt(t, epoch, "", "--root", cp2, "ca", "rotate", "all", "--until", "1", "--restart", "none", "--import-keys", arg)
		if r.code == 0 {
			t.Fatalf("--import-keys %s accepted:\n%s", arg, r.stdout)
		}
	}
	// Only some of its CAs named: the others are refused a new CA of their own.
	r = runAt(t, epoch, "", "--root", cp2, "ca", "rotate", "ca", "--until", "1", "--restart", "none", "--import-keys", "/root/keys.tar.gz", "--dry-run")
	if r.code != 0 {
		t.Fatalf("a dry run of the import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after := treeSums(t, cp2); !maps.Equal(before, after) {
		for p := range after {
			if before[p] != after[p] {
				t.Errorf("changed: %s", p)
			}
		}
		t.Fatal("a refused import or a dry run changed a file")
	}

	for phase := 1; phase <= 3; phase++ {
		for _, node := range []string{cp1, cp2} {
			args := []string{"--root", node, "ca", "rotate", "all", "--until", string(rune('0' + phase)), "--restart", "none"}
			if node == cp2 {
				args = append(args, "--import-keys", "/root/keys.tar.gz")
			}
			r = runAt(t, epoch, "", args...)
			if r.code != 0 {
				t.Fatalf("%s phase %d: exit %d\n%s\n%s", filepath.Base(node), phase, r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, name := range []string{"ca.crt", "front-proxy-ca.crt", "etcd/ca.crt", "ca.key", "etcd/ca.key"} {
		a, _ := os.ReadFile(filepath.Join(cp1, layout.PKIDir, name))
		b, _ := os.ReadFile(filepath.Join(cp2, layout.PKIDir, name))
		if string(a) != string(b) {
			t.Errorf("%s: the nodes rotated to different CAs", name)
		}
	}
	newCA := readCerts(t, filepath.Join(cp2, layout.PKIDir, "ca.crt"))
	if len(newCA) != 1 {
		t.Fatalf("cp2's ca.crt holds %d certificates after phase 3", len(newCA))
	}
	apiserver := readCerts(t, filepath.Join(cp2, layout.PKIDir, "apiserver.crt"))[0]
	if err := apiserver.CheckSignatureFrom(newCA[0]); err != nil {
		t.Errorf("cp2's apiserver.crt is not the new CA's: %v", err)
	}
	r = runAt(t, epoch, "", "--root", cp2, "ca", "rotate", "all", "--status", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"phase": 4`) || !strings.Contains(r.stdout, `"subjectKeyId"`) {
		t.Fatalf("--status -o json: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, epoch, "", "--root", cp2, "check")
	if !strings.Contains(r.stdout, " 0 critical") { // os.CopyFS made cp2's keys 0644: warnings
		t.Errorf("check on cp2 after the rotation: exit %d\n%s", r.code, r.stdout)
	}

	// The finished rotation's archive again: nothing to do. The next
	// rotation (--again on cp1) is taken on cp2 after the finished one;
	// an archive of another cluster's CA is refused.
	r = runAt(t, epoch, "", "--root", cp2, "ca", "rotate", "all", "--until", "1", "--restart", "none", "--import-keys", "/root/keys.tar.gz")
	if r.code != 0 || !strings.Contains(r.stdout, "at least at: phase 1 done") {
		t.Fatalf("the finished rotation's archive again: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, epoch, "", "--root", cp1, "ca", "rotate", "ca", "--until", "1", "--restart", "none", "--again", "--export-keys", "/root/again.tar.gz")
	if r.code != 0 {
		t.Fatalf("cp1 again: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	again, _ := os.ReadFile(filepath.Join(cp1, "root/again.tar.gz"))
	testpki.WriteFile(t, filepath.Join(cp2, "root/again.tar.gz"), again, 0o600)
	r = runAt(t, epoch, "", "--root", cp2, "ca", "rotate", "ca", "--until", "1", "--restart", "none", "--import-keys", "/root/again.tar.gz")
	if r.code != 0 {
		t.Fatalf("the next rotation on cp2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a, _ := os.ReadFile(filepath.Join(cp1, layout.PKIDir, "ca.crt"))
	b, _ := os.ReadFile(filepath.Join(cp2, layout.PKIDir, "ca.crt"))
	if string(a) != string(b) || len(readCerts(t, filepath.Join(cp2, layout.PKIDir, "ca.crt"))) != 2 {
		t.Error("the next rotation: the nodes do not trust the same two CAs")
	}
	foreign := t.TempDir()
	testpki.KubeadmTree(t, foreign, testpki.TreeOptions{Manifests: true})
	withoutSigningFlags(t, foreign)
	testpki.WriteFile(t, filepath.Join(foreign, "root/again.tar.gz"), again, 0o600)
	before = treeSums(t, foreign)
	r = runAt(t, epoch, "", "--root", foreign, "ca", "rotate", "ca", "--until", "1", "--restart", "none", "--import-keys", "/root/again.tar.gz")
	if r.code != 1 || !strings.Contains(r.stderr, "not this node's CA") {
		t.Fatalf("another cluster's key archive: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !maps.Equal(before, treeSums(t, foreign)) {
		t.Error("a refused import changed a file")
	}
}

// treeSums is every file's content under root, by path; the audit log
// (which records refusals too) left out.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.HasPrefix(fi.Name(), "audit.db") {
			return err
		}
		if !fi.Mode().IsRegular() {
			target, err := os.Readlink(p)
			out[p] = "-> " + target
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = string(data) + fi.Mode().String()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCARotateChangesASigningFlagInAUnitsEnvironmentFile: a binary-install
// controller-manager, a systemd unit whose ExecStart expands $KCM_ARGS from
// its EnvironmentFile: the flag is changed there (the unit untouched) for
// phases 1 and 2, and put back in phase 3.
func TestCARotateChangesASigningFlagInAUnitsEnvironmentFile(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	if err := os.Remove(filepath.Join(root, layout.ManifestsDir, layout.KubeControllerManager+".yaml")); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(root, "etc/systemd/system/kube-controller-manager.service")
	env := filepath.Join(root, "etc/kubernetes/controller-manager.env")
	unitText := "[Unit]\nDescription=Kubernetes Controller Manager\n\n[Service]\nEnvironmentFile=/etc/kubernetes/controller-manager.env\n" +
		"ExecStart=/usr/local/bin/kube-controller-manager $KCM_ARGS\nRestart=always\n"
	envText := "# the controller-manager's flags\nKCM_ARGS=\"--kubeconfig=/etc/kubernetes/controller-manager.conf --root-ca-file=/etc/kubernetes/pki/ca.crt " +
		"--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt --cluster-signing-key-file=/etc/kubernetes/pki/ca.key\"\n"
	testpki.WriteFile(t, unit, []byte(unitText), 0o644)
	testpki.WriteFile(t, env, []byte(envText), 0o640)
	for n := 1; n <= 3; n++ {
		r := runAt(t, testpki.Epoch, "", "--root", root, "ca", "rotate", "ca", "--until", strconv.Itoa(n), "--restart", "none")
		if r.code != 0 {
			t.Fatalf("phase %d: exit %d\n%s\n%s", n, r.code, r.stdout, r.stderr)
		}
		got, _ := os.ReadFile(env)
		want := envText
		if n < 3 {
			want = strings.Replace(envText, "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt", "--cluster-signing-cert-file=/etc/kubernetes/pki/ca-signing.crt", 1)
		}
		if string(got) != want {
			t.Fatalf("phase %d: the environment file:\n%s\nwant\n%s", n, got, want)
		}
		if fi, err := os.Stat(env); err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("phase %d: the environment file's mode: %v %v", n, fi, err)
		}
		if got, _ := os.ReadFile(unit); string(got) != unitText {
			t.Fatalf("phase %d: the unit changed:\n%s", n, got)
		}
		if !strings.Contains(r.stdout, layout.KubeControllerManager) {
			t.Errorf("phase %d: the controller-manager is not among the restarts:\n%s", n, r.stdout)
		}
	}
}
