package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestRenewAutoOnARealControlPlane is the certrescue timer's run on a real,
// running plane with one certificate due: renew --auto renews the API
// server's certificate alone, restarts kube-apiserver alone behind its health
// gate (which wants the renewed certificate served), and holds the
// kube-system/certrescue-renew Lease on that very API server while it does.
func TestRenewAutoOnARealControlPlane(t *testing.T) {
	c := newCluster(t)
	bin := testbed.Certrescue(t)
	c.start()
	testbed.Eventually(t, "the API server becomes ready", 90*time.Second, func() error { return c.ready("super-admin.conf") })
	if out, err := c.kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
		"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		t.Fatalf("create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	testbed.Eventually(t, "admin.conf works", 30*time.Second, func() error { return c.ready("admin.conf") })

	auto := append([]string{"--root", c.root, "renew", "--auto", "--lease-holder", "cp-1"}, c.restartArgs()...)

	// Fresh from kubeadm: nothing due, nothing restarted, the API not asked.
	before := c.files(t)
	out, err := c.tryNS(bin, auto...)
	if err != nil || !strings.Contains(out, "nothing due") {
		t.Fatalf("fresh plane: %v\n%s", err, out)
	}
	if out, err := c.kubectl("admin.conf", "-n", "kube-system", "get", "lease", "certrescue-renew"); err == nil {
		t.Errorf("nothing due, yet the Lease was taken: %s", out)
	}
	for p, sum := range c.files(t) {
		if before[p] != sum {
			t.Errorf("nothing due, yet %s changed", p)
		}
	}

	// The API server's certificate: 60 of its 360 days left, due.
	now := time.Now()
	testpki.AgeKubeadmTree(t, c.root, now.Add(-300*24*time.Hour), now.Add(60*24*time.Hour), testpki.AgeOnly("apiserver"))
	before = c.files(t)
	start := time.Now()
	out, err = c.tryNS(bin, auto...)
	wall := time.Since(start)
	t.Logf("certrescue renew --auto:\n%s", out)
	if err != nil {
		t.Fatalf("renew --auto: %v", err)
	}
	for _, want := range []string{"renew --auto: 1 due", "lease: kube-system/certrescue-renew taken by cp-1", "reload   kube-apiserver", "gate     kube-apiserver", "result: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("renew --auto lacks %q", want)
		}
	}
	// The serving certificate is one the API server reloads by itself
	// (docs/reload.md): it is gated on being served, and nothing restarts.
	for _, not := range []string{"restart  kube-apiserver", "restart  etcd", "restart  kube-controller-manager", "restart  kube-scheduler"} {
		if strings.Contains(out, not) {
			t.Errorf("renew --auto restarted what was not renewed: %q", not)
		}
	}
	after := c.files(t)
	for p, sum := range after {
		if before[p] != sum && !strings.HasSuffix(p, "/pki/apiserver.crt") {
			t.Errorf("%s changed: only the apiserver certificate should", p)
		}
	}
	if before[c.path("/etc/kubernetes/pki/apiserver.crt")] == after[c.path("/etc/kubernetes/pki/apiserver.crt")] {
		t.Error("the apiserver certificate was not renewed")
	}
	if err := c.ready("admin.conf"); err != nil {
		t.Fatal(err)
	}
	// The Lease was taken and given back.
	if out, err := c.kubectl("admin.conf", "-n", "kube-system", "get", "lease", "certrescue-renew", "-o", "jsonpath={.spec.holderIdentity}|{.spec.leaseTransitions}"); err != nil || strings.TrimSpace(out) != "|0" {
		t.Errorf("the Lease after the run: %v %q, want no holder", err, out)
	}
	c.kubeadmSaysAllValid(t)
	t.Logf("FIGURE renew --auto with one certificate due on a running plane: %.1fs wall, the reload gate and the API server gates included", wall.Seconds())
}
