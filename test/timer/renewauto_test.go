package timer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/lease"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// kubeadmNode makes a node's PKI and kubeconfigs with the real kubeadm, in a
// network namespace of the test's own (kubeadm needs a default route).
func kubeadmNode(t *testing.T) (root string, check func() string) {
	t.Helper()
	kubeadm := testbed.Bin(t, "k8s", "kubeadm")
	ns := testbed.NewNetNS(t, "10.0.0.1")
	root = t.TempDir()
	cfg := filepath.Join(t.TempDir(), "kubeadm.yaml")
	config := func(pkiDir string) []byte {
		return []byte(fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.1
  bindPort: 6443
nodeRegistration:
  name: node1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: %s
controlPlaneEndpoint: k8s-api.example.com:6443
networking:
  serviceSubnet: 10.96.0.0/12
`, pkiDir))
	}
	testpki.WriteFile(t, cfg, config(filepath.Join(root, "etc/kubernetes/pki")), 0o600)
	// kubeadm certs check-expiration --rootfs reads a config inside the root.
	testpki.WriteFile(t, filepath.Join(root, "kubeadm-chroot.yaml"), config("/etc/kubernetes/pki"), 0o600)
	for _, args := range [][]string{
		{"init", "phase", "certs", "all", "--config", cfg},
		{"init", "phase", "kubeconfig", "all", "--config", cfg, "--kubeconfig-dir", filepath.Join(root, "etc/kubernetes")},
	} {
		if out, err := ns.Run(kubeadm, args...); err != nil {
			t.Fatalf("kubeadm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return root, func() string {
		out, err := ns.Run(kubeadm, "certs", "check-expiration", "--rootfs", root, "--config", "/kubeadm-chroot.yaml")
		if err != nil {
			t.Fatalf("kubeadm certs check-expiration: %v\n%s", err, out)
		}
		return out
	}
}

// snapshot hashes every file of the node but certrescue's own state.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "var/lib/certrescue") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func changed(before, after map[string]string) []string {
	var out []string
	for p, h := range after {
		if before[p] != h {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p+" (removed)")
		}
	}
	return out
}

func readCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", p)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRenewAutoRenewsTheOneCertificateDueOnARealKubeadmNode(t *testing.T) {
	testbed.NeedRoot(t, "kubeadm in a network namespace")
	certrescue := testbed.Certrescue(t)
	root, kubeadmCheck := kubeadmNode(t)
	auto := []string{"--root", root, "renew", "--auto", "--lease", "off", "--restart", "none"}

	// Fresh from kubeadm: a year left of a year, nothing due, nothing touched.
	before := snapshot(t, root)
	out := run(t, certrescue, auto...)
	if !strings.Contains(out, "renew --auto: nothing due") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("fresh node:\n%s", out)
	}
	if c := changed(before, snapshot(t, root)); len(c) != 0 {
		t.Errorf("nothing due, yet %v changed", c)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/certrescue/backups")); err == nil {
		t.Error("nothing due, yet a backup was taken")
	}

	// The apiserver certificate has 60 of its 360 days left: due (less
	// than a third), where every other certificate has a year.
	now := time.Now()
	testpki.AgeKubeadmTree(t, root, now.Add(-300*24*time.Hour), now.Add(60*24*time.Hour), testpki.AgeOnly("apiserver"))
	before = snapshot(t, root)
	out = run(t, certrescue, auto...)
	if !strings.Contains(out, "renew --auto: 1 due") || !strings.Contains(out, "result: manual-restart") {
		t.Fatalf("one due:\n%s", out)
	}
	if c := changed(before, snapshot(t, root)); len(c) != 1 || c[0] != "etc/kubernetes/pki/apiserver.crt" {
		t.Errorf("changed %v, want etc/kubernetes/pki/apiserver.crt only", c)
	}
	renewed := readCert(t, filepath.Join(root, "etc/kubernetes/pki/apiserver.crt"))
	if renewed.NotAfter.Before(now.Add(364 * 24 * time.Hour)) {
		t.Errorf("renewed apiserver valid until %s", renewed.NotAfter)
	}
	if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(root, "etc/kubernetes/pki/ca.crt"),
		filepath.Join(root, "etc/kubernetes/pki/apiserver.crt")).CombinedOutput(); err != nil {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
	if out := run(t, certrescue, auto...); !strings.Contains(out, "nothing due") {
		t.Errorf("after the renewal:\n%s", out)
	}
	// The real kubeadm reads the renewed tree: the apiserver has a year again.
	out = kubeadmCheck()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 6 && f[0] == "apiserver" && f[6] != "364d" && f[6] != "365d" {
			t.Errorf("kubeadm certs check-expiration: %s", line)
		}
	}
	if !strings.Contains(out, "apiserver ") {
		t.Errorf("kubeadm certs check-expiration does not list the apiserver:\n%s", out)
	}
}

// leaseKubeconfig writes the testbed API server's admin credentials, embedded,
// as a kubeconfig on the node.
func leaseKubeconfig(t *testing.T, api *testbed.APIServer, root, nodePath string) {
	t.Helper()
	enc := func(name string) string {
		b, err := os.ReadFile(filepath.Join(api.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: {server: %s, certificate-authority-data: %s}
users:
- name: admin
  user: {client-certificate-data: %s, client-key-data: %s}
contexts:
- name: testbed
  context: {cluster: testbed, user: admin}
current-context: testbed
`, api.URL, enc("ca.crt"), enc("user-certrescue-test-admin.crt"), enc("user-certrescue-test-admin.key"))
	testpki.WriteFile(t, filepath.Join(root, nodePath), []byte(kc), 0o600)
}

func TestRenewAutoWaitsForTheLeaseAnotherNodeHolds(t *testing.T) {
	certrescue := testbed.Certrescue(t)
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	root := t.TempDir()
	now := time.Now()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		CANotBefore: now.Add(-time.Hour), CANotAfter: now.Add(10 * 365 * 24 * time.Hour)})
	testpki.AgeKubeadmTree(t, tr.Root, now.Add(-300*24*time.Hour), now.Add(60*24*time.Hour), testpki.AgeOnly("apiserver"))
	leaseKubeconfig(t, api, root, "/etc/certrescue/lease.conf")
	auto := []string{"--root", root, "renew", "--auto", "--restart", "none", "--lease", "required",
		"--lease-kubeconfig", "/etc/certrescue/lease.conf", "--lease-holder", "cp-1"}

	// cp-2 is renewing: cp-1 changes nothing and exits 0.
	c := leaseCreds(t, api)
	cl, err := lease.Client(c)
	if err != nil {
		t.Fatal(err)
	}
	other, err := lease.Acquire(context.Background(), lease.Options{Client: cl, Holder: "cp-2", Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	out := run(t, certrescue, auto...)
	if !strings.Contains(out, "not now: Lease kube-system/certrescue-renew is held by cp-2") {
		t.Errorf("while cp-2 holds the Lease:\n%s", out)
	}
	if ch := changed(before, snapshot(t, root)); len(ch) != 0 {
		t.Errorf("while cp-2 holds the Lease, %v changed", ch)
	}

	// cp-2 is done: cp-1 takes the Lease, renews, and gives it back.
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	out = run(t, certrescue, auto...)
	if !strings.Contains(out, "lease: kube-system/certrescue-renew taken by cp-1") || !strings.Contains(out, "renew --auto: 1 due") {
		t.Errorf("after cp-2 released it:\n%s", out)
	}
	if ch := changed(before, snapshot(t, root)); len(ch) != 1 || ch[0] != "etc/kubernetes/pki/apiserver.crt" {
		t.Errorf("changed %v, want the apiserver certificate only", ch)
	}
	l, err := cl.Leases("kube-system").Get(context.Background(), "certrescue-renew", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity != nil || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
		t.Errorf("after the renewal the Lease is %+v, want given back after one transition", l.Spec)
	}

	// An API server that does not answer: --lease required refuses, auto
	// goes ahead (the renewal may be what brings the API server back).
	testpki.AgeKubeadmTree(t, tr.Root, now.Add(-300*24*time.Hour), now.Add(60*24*time.Hour), testpki.AgeOnly("apiserver"))
	down := append(append([]string{}, auto...), "--lease-server", "https://127.0.0.1:1")
	if out, code := runCode(t, certrescue, down...); code != 1 || !strings.Contains(out, "did not answer") || !strings.Contains(out, "nothing was changed (--lease required)") {
		t.Errorf("--lease required, API down: exit %d\n%s", code, out)
	}
	down[slicesIndex(down, "required")] = "auto"
	if out, code := runCode(t, certrescue, down...); code != 0 || !strings.Contains(out, "renewing without the Lease (--lease auto)") || !strings.Contains(out, "result: manual-restart") {
		t.Errorf("--lease auto, API down: exit %d\n%s", code, out)
	}
}

func leaseCreds(t *testing.T, api *testbed.APIServer) lease.Credentials {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(api.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return lease.Credentials{Server: api.URL, CA: read("ca.crt"), Cert: read("user-certrescue-test-admin.crt"), Key: read("user-certrescue-test-admin.key")}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
