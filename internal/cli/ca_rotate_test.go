package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestCARotatePhaseByPhaseWithManualRestarts(t *testing.T) {
	epoch := testpki.Epoch
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
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
