package kubelet

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestAnExpiredWorkerIsRescuedWithTheCAOnlyOnTheControlPlane is the
// incident: a worker's kubelet client certificate expires, its Node goes
// NotReady; the worker makes a CSR with its own key, the control-plane node
// signs it with the CA key only it has, the worker installs it the kubelet's
// way, and the Node is Ready again.
func TestAnExpiredWorkerIsRescuedWithTheCAOnlyOnTheControlPlane(t *testing.T) {
	bin := testbed.Certrescue(t)
	p := newPlane(t)
	start := time.Now()
	w := p.workers(t, 1, testbed.KubeletOptions{Names: []string{"worker-a"}})[0]
	took := p.waitNode(t, w.Name, "Ready", 4*time.Minute, readyAfter(start))
	fmt.Printf("FIGURE hollow-kubelet-ready node=%s seconds=%.1f\n", w.Name, took.Seconds())

	now := time.Now() // the API server's clock
	w.Expire(t, p.node.CA(t), now.Add(-400*24*time.Hour), now.Add(-24*time.Hour))
	took = p.waitNode(t, w.Name, "NotReady", 5*time.Minute, notReady)
	fmt.Printf("FIGURE expired-to-notready node=%s seconds=%.1f\n", w.Name, took.Seconds())
	if out := logTail(t, w.Log(), "Unauthorized"); out == "" {
		t.Errorf("the kubelet's log does not say its requests are Unauthorized")
	}
	noCAKey(t, w.Root)

	work := t.TempDir()
	rescueStart := time.Now()
	out := p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "status")
	if !strings.Contains(out, "EXPIRED") {
		t.Errorf("kubelet status does not say EXPIRED:\n%s", out)
	}
	p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "csr", "--out", "worker-a.csr")
	// On the control-plane node: the CA key is there, and only there.
	p.mustRun(t, work, bin, "--audit-dsn", filepath.Join(work, "cp-audit.db"), "sign",
		"-ca", p.node.Path(testbed.SSL("ca.pem")), "-ca-key", p.node.Path(testbed.SSL("ca-key.pem")),
		"-config", filepath.Join(p.node.CSRDir, "ca-config.json"), "-profile", "kubernetes", "--bare", "worker-a", "worker-a.csr")
	out = p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "install", "worker-a.pem",
		"--restart", "command", "--restart-command", w.RestartCommand(), "--healthz", w.Healthz(), "--gate-timeout", "5m")
	wallTime := time.Since(rescueStart)
	t.Logf("kubelet install:\n%s", out)
	for _, want := range []string{"stored /var/lib/kubelet/pki/kubelet-client-", "gate kubelet http://127.0.0.1:", "gate node worker-a Ready in the API, lease renewed: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q", want)
		}
	}
	p.waitNode(t, w.Name, "Ready again", time.Minute, readyAfter(rescueStart))
	fmt.Printf("FIGURE worker-rescue node=%s seconds=%.1f (status, csr, sign, install, restart, gates)\n", w.Name, wallTime.Seconds())

	current := currentPair(t, w.Root)
	if time.Now().After(current.Leaf.NotAfter) {
		t.Errorf("the current certificate is valid until %s", current.Leaf.NotAfter)
	}
	noCAKey(t, w.Root)
	out = p.mustRun(t, work, bin, "--root", w.Root, "audit", "list", "-o", "json")
	for _, a := range []string{`"RENEW"`, `"RESTART"`} {
		if !strings.Contains(out, a) {
			t.Errorf("the worker's audit log has no %s event:\n%s", a, out)
		}
	}
}

// TestTheInitNodesEmbeddedKubeletConfIsPointedAtTheStore: where the CA key
// is (a control-plane node), kubelet renew signs and installs in one step,
// and a kubelet.conf that embeds its certificate (kubeadm init's) ends up
// naming kubelet-client-current.pem, so the kubelet's rotation takes over.
func TestTheInitNodesEmbeddedKubeletConfIsPointedAtTheStore(t *testing.T) {
	bin := testbed.Certrescue(t)
	p := newPlane(t)
	start := time.Now()
	w := p.workers(t, 1, testbed.KubeletOptions{Names: []string{"cp-kubelet"}, Embedded: true})[0]
	p.waitNode(t, w.Name, "Ready", 4*time.Minute, readyAfter(start))
	work := t.TempDir()
	out := p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "status")
	if !strings.Contains(out, "embeds its client certificate") {
		t.Errorf("kubelet status does not say kubelet.conf embeds its certificate:\n%s", out)
	}
	// The kubelet stored the embedded certificate and has not rotated it.
	if out, _ := p.run(t, work, bin, "--root", w.Root, "check", "-o", "json"); !strings.Contains(out, `"kubelet_client_embedded"`) {
		t.Errorf("check does not report kubelet_client_embedded:\n%s", out)
	}
	// The CA as the operator's own files (relative paths: not the node's,
	// whose paths --root maps).
	for name, from := range map[string]string{"ca.pem": p.node.Path(testbed.SSL("ca.pem")), "ca-key.pem": p.node.Path(testbed.SSL("ca-key.pem")),
		"ca-config.json": filepath.Join(p.node.CSRDir, "ca-config.json")} {
		if err := os.Symlink(from, filepath.Join(work, name)); err != nil {
			t.Fatal(err)
		}
	}
	renewStart := time.Now()
	out = p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "renew",
		"-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "ca-config.json", "-profile", "kubernetes",
		"--restart", "command", "--restart-command", w.RestartCommand(), "--healthz", w.Healthz())
	renewWall := time.Since(renewStart)
	t.Logf("kubelet renew:\n%s", out)
	conf, err := os.ReadFile(filepath.Join(w.Root, testbed.KubeletConf))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "client-certificate-data") || !strings.Contains(string(conf), "client-certificate: "+testbed.KubeletCurrentPEM) {
		t.Errorf("kubelet.conf still embeds its certificate or does not name the current link:\n%s", conf)
	}
	p.waitNode(t, w.Name, "Ready with the renewed certificate", time.Minute, readyAfter(renewStart))
	if out, _ := p.run(t, work, bin, "--root", w.Root, "check", "-o", "json"); strings.Contains(out, `"kubelet_client_embedded"`) || strings.Contains(out, `"kubelet_rotation_stuck"`) {
		t.Errorf("check still reports a kubelet finding after the renewal:\n%s", out)
	}
	fmt.Printf("FIGURE kubelet-renew-with-ca node=%s seconds=%.1f (sign, install, restart, gates)\n", w.Name, renewWall.Seconds())
}

type loadedPair struct {
	Leaf   *x509.Certificate
	Target string
}

// currentPair loads kubelet-client-current.pem as the kubelet does
// (tls.LoadX509KeyPair of the file for both), the link resolved inside root.
func currentPair(t *testing.T, root string) loadedPair {
	t.Helper()
	target, err := os.Readlink(filepath.Join(root, testbed.KubeletCurrentPEM))
	if err != nil {
		t.Fatalf("%s: %v", testbed.KubeletCurrentPEM, err)
	}
	p := filepath.Join(root, target)
	if !filepath.IsAbs(target) {
		p = filepath.Join(root, testbed.KubeletPKIDir, target)
	}
	pair, err := tls.LoadX509KeyPair(p, p)
	if err != nil {
		t.Fatalf("%s -> %s: the kubelet could not load it: %v", testbed.KubeletCurrentPEM, target, err)
	}
	return loadedPair{Leaf: pair.Leaf, Target: target}
}

// noCAKey fails if the worker's root holds a CA private key.
func noCAKey(t *testing.T, root string) {
	t.Helper()
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		n := strings.ToLower(fi.Name())
		if strings.Contains(n, "ca-key") || n == "ca.key" {
			t.Errorf("the worker holds a CA key: %s", p)
		}
		return nil
	})
}

// logTail returns the last line of a log holding s ("" when none does).
func logTail(t *testing.T, path, s string) string {
	t.Helper()
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}
