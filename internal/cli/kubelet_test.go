package cli

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubelet"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// workerNode lays out a joined worker (testbed.LayoutWorker: the kubelet's store
// and a kubelet.conf naming its current link) whose certificate expired.
func workerNode(t *testing.T, ca *pki.CA, name string, now time.Time, embedded bool) string {
	t.Helper()
	root := t.TempDir()
	testbed.LayoutWorker(t, root, name, "/nonexistent/kubemark", 10250, testbed.KubeletOptions{
		Server: "https://10.0.0.1:6443", CA: ca, NotBefore: now.Add(-400 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour), Embedded: embedded})
	return root
}

func caFiles(t *testing.T, ca *pki.CA) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	testpki.WriteCert(t, cert, ca.Cert)
	testpki.WriteKey(t, key, ca.Signer)
	return cert, key
}

// signed signs the worker's CSR as the control-plane node would.
func signed(t *testing.T, now time.Time, caCert, caKey, csr string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "node.csr")
	if err := os.WriteFile(p, []byte(csr), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runAt(t, now, "", "sign", "-ca", caCert, "-ca-key", caKey, "--out-dir", dir, "--bare", "node", p)
	if r.code != 0 {
		t.Fatalf("sign: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "node.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestKubeletCSRSignInstallSwitchesTheStore(t *testing.T) {
	now := time.Now()
	ca := testpki.MustCA(t, testpki.WithValidity(now.Add(-500*24*time.Hour), now.Add(5*365*24*time.Hour)))
	root := workerNode(t, ca, "worker-1", now, false)
	caCert, caKey := caFiles(t, ca)
	r := runAt(t, now, "", "--root", root, "kubelet", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "EXPIRED") {
		t.Fatalf("status: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, now, "", "--root", root, "kubelet", "csr")
	if r.code != 0 || !strings.Contains(r.stdout, "BEGIN CERTIFICATE REQUEST") {
		t.Fatalf("csr: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cert := signed(t, now, caCert, caKey, r.stdout)
	conf := readFile(t, filepath.Join(root, testbed.KubeletConf))
	r = runAt(t, now, cert, "--root", root, "kubelet", "install", "-", "--restart", "none", "--healthz", "none", "--node-gate=false")
	if r.code != 0 {
		t.Fatalf("install: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	target, err := os.Readlink(filepath.Join(root, testbed.KubeletCurrentPEM))
	if err != nil || !strings.HasPrefix(target, testbed.KubeletPKIDir+"/kubelet-client-"+now.UTC().Format("2006-01-02")) {
		t.Errorf("current link names %q (%v), want today's dated file", target, err)
	}
	if got := readFile(t, filepath.Join(root, testbed.KubeletConf)); got != conf {
		t.Errorf("kubelet.conf already named the current link and was rewritten:\n%s", got)
	}
	r = runAt(t, now, "", "--root", root, "kubelet", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "valid until") {
		t.Errorf("status after install: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestKubeletInstallRefusesACertificateThatIsNotTheNodesAndChangesNothing(t *testing.T) {
	now := time.Now()
	ca := testpki.MustCA(t, testpki.WithValidity(now.Add(-500*24*time.Hour), now.Add(5*365*24*time.Hour)))
	other := testpki.MustCA(t, testpki.WithValidity(now.Add(-time.Hour), now.Add(24*time.Hour)))
	root := workerNode(t, ca, "worker-1", now, true)
	otherCert, otherKey := caFiles(t, other)
	csr := runAt(t, now, "", "--root", root, "kubelet", "csr").stdout
	stranger := testpki.MustLeaf(t, ca, testpki.WithCN("system:node:worker-2"), testpki.WithOrg("system:nodes"),
		testpki.WithUsage(x509.ExtKeyUsageClientAuth), testpki.WithValidity(now.Add(-time.Hour), now.Add(24*time.Hour)))
	before := snapshot(t, root)
	for _, c := range []struct {
		name, cert, want string
	}{
		{"another node's certificate", string(testpki.CertPEM(stranger.Cert)), `is for "system:node:worker-2"`},
		{"signed by another CA", signed(t, now, otherCert, otherKey, csr), "does not chain to the cluster CA"},
		{"not a certificate", "hello", "certificate -"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runAt(t, now, c.cert, "--root", root, "kubelet", "install", "-", "--restart", "none", "--healthz", "none", "--node-gate=false")
			if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, c.want)
			}
			if after := snapshot(t, root); after != before {
				t.Fatalf("a refused install changed the node:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot lists the kubelet's files with their link targets and sizes.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range []string{testbed.KubeletPKIDir, "/etc/kubernetes"} {
		entries, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(root, d, e.Name())
			target, _ := os.Readlink(p)
			fi, _ := os.Lstat(p)
			b.WriteString(e.Name() + ">" + target + ":" + fi.Mode().String() + "=" + readFile(t, p) + "; ")
		}
	}
	return b.String()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

func TestKubeletRenewServingRenewsTheSelfSignedPairWithItsNames(t *testing.T) {
	now := time.Now()
	ca := testpki.MustCA(t, testpki.WithValidity(now.Add(-500*24*time.Hour), now.Add(5*365*24*time.Hour)))
	root := workerNode(t, ca, "worker-1", now, false)
	old, oldKey, err := kubelet.SelfSignedServing(kubelet.ServingNames{Host: "worker-1", IPs: []net.IP{net.ParseIP("192.0.2.10")}}, now.Add(-400*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, filepath.Join(root, testbed.KubeletPKIDir, "kubelet.crt"), old, 0o644)
	testpki.WriteFile(t, filepath.Join(root, testbed.KubeletPKIDir, "kubelet.key"), oldKey, 0o600)
	r := runAt(t, now, "", "--root", root, "kubelet", "renew-serving", "--restart", "none", "--healthz", "none", "--node-gate=false")
	if r.code != 0 {
		t.Fatalf("renew-serving: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	crt, key := filepath.Join(root, testbed.KubeletPKIDir, "kubelet.crt"), filepath.Join(root, testbed.KubeletPKIDir, "kubelet.key")
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	if !now.Before(pair.Leaf.NotAfter) || !strings.HasPrefix(pair.Leaf.Subject.CommonName, "worker-1@") || len(pair.Leaf.IPAddresses) != 1 {
		t.Errorf("renewed %s valid until %s with IPs %v", pair.Leaf.Subject.CommonName, pair.Leaf.NotAfter, pair.Leaf.IPAddresses)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubelet.key is %v, want 0600", fi.Mode().Perm())
	}
}
