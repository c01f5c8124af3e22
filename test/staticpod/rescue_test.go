package staticpod

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
)

// TestRescueStaticPodsExpired: the node's kubeadm PKI expires (re-signed in
// the past by the test), the control plane goes dark, and a real
// `certrescue rescue --restart static-pod`, run on the node (its files at
// their node paths, crictl and systemctl on PATH), ends ok; the plane is
// healthy with the renewed certificates. CERTRESCUE_BENCH_ROUNDS repeats
// the expiry and the rescue (scripts/bench-staticpod.sh).
func TestRescueStaticPodsExpired(t *testing.T) {
	bin := certrescue(t)
	n := startNode(t)
	n.BindAdmins()
	for round := 1; round <= benchRounds(); round++ {
		n.ExpireAll()
		start := time.Now()
		out, err := onNode(n, bin, "rescue", "--restart", "static-pod")
		wall := time.Since(start)
		t.Logf("certrescue rescue --restart static-pod:\n%s", out)
		if err != nil || !strings.Contains(out, "result: ok") {
			t.Fatalf("rescue: %v", err)
		}
		// The rescue's gates passed; under load the API server's liveness
		// probe may still restart it once: bounded, not one shot.
		testbed.Eventually(t, "the API server ready with admin.conf after the rescue", time.Minute, func() error { return n.Ready("admin.conf") })
		if out, err := n.Kubectl("admin.conf", "get", "namespaces"); err != nil {
			t.Fatalf("kubectl get namespaces after the rescue: %v\n%s", err, out)
		}
		notExpired(t, n)
		fmt.Printf("ROUND scenario=expired round=%d seconds=%.2f\n", round, wall.Seconds())
		t.Logf("FIGURE rescue --restart static-pod, expired to healthy: %.1fs wall, gates included", wall.Seconds())
	}
}

// TestRescueStaticPodsGateFailsRollsBack: the same rescue with a gate that
// cannot pass (the API server's gate pointed where nothing listens) rolls
// back: the PKI and kubeconfigs are byte-identical to before, and the four
// static pods run again.
func TestRescueStaticPodsGateFailsRollsBack(t *testing.T) {
	bin := certrescue(t)
	n := startNode(t)
	n.BindAdmins()
	n.ExpireAll()
	before := hashes(t, n)
	out, err := onNode(n, bin, "rescue", "--restart", "static-pod", "--gate", "kube-apiserver=https://127.0.0.1:1", "--gate-timeout", "5s")
	t.Logf("certrescue rescue with an impossible gate:\n%s", out)
	if err == nil {
		t.Fatal("the rescue ended ok with a gate that cannot pass")
	}
	if !regexp.MustCompile(`(?i)roll(ed)?[- ]?back`).MatchString(out) {
		t.Errorf("the output does not say it rolled back")
	}
	after := hashes(t, n)
	for path, sum := range before {
		if after[path] != sum {
			t.Errorf("%s differs after the rollback", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s is new after the rollback", path)
		}
	}
	testbed.Eventually(t, "the four static pods run again", 2*time.Minute, func() error {
		run, err := n.Running()
		if err != nil {
			return err
		}
		for _, c := range testbed.PlaneComponents {
			if _, ok := run[c]; !ok {
				return fmt.Errorf("%s is not running", c)
			}
		}
		return nil
	})
}

func benchRounds() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("CERTRESCUE_BENCH_ROUNDS"), &n); err == nil && n > 0 {
		return n
	}
	return 1
}

// hashes are the sums of the PKI and the kubeconfigs.
func hashes(t *testing.T, n *testbed.StaticPodNode) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob(n.Path(layout.KubernetesDir + "/*.conf"))
	_ = filepath.Walk(n.Path(layout.PKIDir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	if len(out) < 20 {
		t.Fatalf("only %d PKI files and kubeconfigs", len(out))
	}
	return out
}

// notExpired checks with certrescue's view that nothing critical is left.
func notExpired(t *testing.T, n *testbed.StaticPodNode) {
	t.Helper()
	out, err := n.Kubectl("admin.conf", "get", "--raw", "/livez")
	if err != nil {
		t.Errorf("livez with the renewed admin.conf: %v: %s", err, out)
	}
}
