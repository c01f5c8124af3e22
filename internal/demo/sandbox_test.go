package demo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
)

func TestBuildMakesAnExpiredKubeadmNode(t *testing.T) {
	now := time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC)
	root := t.TempDir()
	if _, err := Build(root, Options{Now: now, FieldGuideSed: true}); err != nil {
		t.Fatal(err)
	}
	current := renewal.Inspect(root, layout.Kubeadm)
	if len(current) != 13 {
		t.Fatalf("%d renewable credentials, want 13", len(current))
	}
	for _, c := range current {
		if c.Err != nil {
			t.Errorf("%s: %v", c.Role.Name, c.Err)
			continue
		}
		if !c.Cert.NotAfter.Before(now) {
			t.Errorf("%s: valid until %s, want expired", c.Role.Name, c.Cert.NotAfter)
		}
	}
	for _, p := range []string{"/etc/kubernetes/pki/ca.key", "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/sa.key"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", p, err)
		}
	}
	plan, err := renewal.Prepare(renewal.Options{Root: root, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var own, shared int
	for _, it := range plan.Items {
		if it.Own != "" {
			own++
		}
		if it.SharedWith != "" {
			shared++
		}
	}
	if own != 1 || shared != 1 {
		t.Errorf("own credentials %d (admin.conf after the sed line), shared %d (kubelet.conf), want 1 and 1", own, shared)
	}
}
