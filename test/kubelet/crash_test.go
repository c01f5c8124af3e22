package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// storeSyscalls are the calls that change the kubelet's store: the dated
// file's rename into place, the -updated link, its rename over the current one.
const storeSyscalls = "rename,renameat,renameat2,symlink,symlinkat"

// TestASIGKILLDuringTheStoreSwapLeavesAKubeletThatStarts kills kubelet
// install after each call that changes the store, in turn; each time the
// current link names a pair the kubelet loads (the old one or the new one),
// the kubelet starts with it and its Node goes Ready; a rerun finishes.
func TestASIGKILLDuringTheStoreSwapLeavesAKubeletThatStarts(t *testing.T) {
	strace := testbed.Strace(t)
	bin := testbed.Certrescue(t)
	p := newPlane(t)
	start := time.Now()
	w := p.workers(t, 1, testbed.KubeletOptions{Names: []string{"worker-k"}})[0]
	p.waitNode(t, w.Name, "Ready", 4*time.Minute, readyAfter(start))
	stopKubelet(t, w)
	old := currentPair(t, w.Root).Leaf

	work := t.TempDir()
	p.mustRun(t, work, bin, "--root", w.Root, "kubelet", "csr", "--out", "w.csr")
	p.mustRun(t, work, bin, "--audit-dsn", filepath.Join(work, "cp-audit.db"), "sign",
		"-ca", p.node.Path(testbed.SSL("ca.pem")), "-ca-key", p.node.Path(testbed.SSL("ca-key.pem")),
		"-config", filepath.Join(p.node.CSRDir, "ca-config.json"), "-profile", "kubernetes", "--bare", "w", "w.csr")
	pki := filepath.Join(w.Root, testbed.KubeletPKIDir)
	snap := filepath.Join(t.TempDir(), "pki")
	cpTree(t, pki, snap)
	install := []string{"ip", "netns", "exec", p.ns.Name, bin, "--root", w.Root, "kubelet", "install", "w.pem",
		"--restart", "none", "--healthz", "none", "--node-gate=false"}

	total := killAfter(t, strace, 0, work, install...)
	if total < 3 {
		t.Fatalf("a whole install made %d store calls (%s), want at least 3: strace saw nothing?", total, storeSyscalls)
	}
	for k := 1; k <= total; k++ {
		restoreTree(t, snap, pki)
		killAfter(t, strace, k, work, install...)
		got := currentPair(t, w.Root) // fails unless the kubelet can load it
		which := "old"
		if !got.Leaf.Equal(old) {
			which = "new"
		}
		t.Logf("SIGKILL after store call %d of %d: current -> %s (the %s pair)", k, total, got.Target, which)
		since := time.Now()
		if out, err := w.Sup.Ctl("start", "kubelet.service"); err != nil {
			t.Fatalf("start the kubelet: %v\n%s", err, out)
		}
		took := p.waitNode(t, w.Name, fmt.Sprintf("Ready after a SIGKILL at store call %d", k), 4*time.Minute, readyAfter(since))
		fmt.Printf("FIGURE crash-then-start call=%d/%d pair=%s ready-seconds=%.1f\n", k, total, which, took.Seconds())
		stopKubelet(t, w)
		out, err := p.run(t, work, install[4], install[5:]...)
		if err != nil {
			t.Fatalf("rerun after a SIGKILL at store call %d: %v\n%s", k, err, out)
		}
		if got := currentPair(t, w.Root); got.Leaf.Equal(old) {
			t.Fatalf("after the rerun the current link still names the old pair (%s)", got.Target)
		}
		if _, err := os.Lstat(filepath.Join(pki, "kubelet-client-updated.pem")); err == nil {
			t.Errorf("the rerun left kubelet-client-updated.pem")
		}
	}
}

func stopKubelet(t *testing.T, w *testbed.HollowKubelet) {
	t.Helper()
	if out, err := w.Sup.Ctl("stop", "kubelet.service"); err != nil {
		t.Fatalf("stop the kubelet: %v\n%s", err, out)
	}
}

// killAfter runs argv under strace and SIGKILLs it once n store calls have
// returned (n <= 0: run to the end, which must succeed); see
// testbed.KillAfter.
func killAfter(t *testing.T, strace string, n int, dir string, argv ...string) int {
	t.Helper()
	seen, trace, err := testbed.KillAfter(t, strace, storeSyscalls, n, dir, argv...)
	if n <= 0 && err != nil {
		t.Fatalf("install under strace: %v\n%s", err, trace)
	}
	return seen
}

func cpTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", from, to, err, out)
	}
}

// restoreTree puts the snapshot back in place of dir.
func restoreTree(t *testing.T, snap, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	cpTree(t, snap, dir)
}
