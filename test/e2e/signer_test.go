package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// TestRescueARealControlPlaneThroughCFSSLServe expires a real kubeadm plane
// whose CA keys are then taken off the node (kubeadm's external CA mode:
// the controller-manager runs without a signing key) and rescues it with
// `certrescue rescue --signer cfssl`, each certificate signed by the real
// cfssl serve of its CA, running in the plane's network namespace. The
// components restart behind their health gates, kubectl works, and openssl
// verifies every renewed certificate against the node's CA certificates.
func TestRescueARealControlPlaneThroughCFSSLServe(t *testing.T) {
	c := newClusterWith(t, clusterOptions{externalCA: true})
	bin := testbed.Certrescue(t)
	c.bootstrap(t)
	c.expireAll(t) // re-signed with the CA keys, while they are still on the node

	args := []string{"--root", c.root, "rescue", "--signer", "cfssl"}
	for i, r := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		role := layout.Kubeadm[roleIndex(r)]
		ca, err := pki.LoadCA(c.path(role.CertPath), c.path(role.KeyPath))
		if err != nil {
			t.Fatal(err)
		}
		srv := testbed.StartCFSSLServe(t, ca, testbed.CFSSLServeOptions{NetNS: c.ns, Port: 8881 + i})
		args = append(args, "--signer-url", srv.URL)
		if err := os.Remove(c.path(role.KeyPath)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	out, err := c.tryNS(bin, append(args, c.restartArgs()...)...)
	wall := time.Since(start)
	t.Logf("certrescue rescue --signer cfssl:\n%s", out)
	if err != nil {
		t.Fatalf("rescue through cfssl serve: %v", err)
	}
	if !strings.Contains(out, "result: ok") {
		t.Fatal("the rescue did not report ok")
	}
	for _, r := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		if !strings.Contains(out, r+": signed by cfssl http://127.0.0.1:888") {
			t.Errorf("the plan does not name the cfssl signer of %s", r)
		}
		if _, err := os.Stat(c.path(layout.Kubeadm[roleIndex(r)].KeyPath)); err == nil {
			t.Errorf("%s's key is on the node", r)
		}
	}
	noKeyBytes(t, c.root, out)
	if out, err := c.kubectl("admin.conf", "get", "namespaces"); err != nil {
		t.Fatalf("kubectl with the renewed admin.conf: %v\n%s", err, out)
	}
	c.kubeadmSaysAllValid(t)
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindLeaf {
			continue
		}
		ca := c.path(layout.Kubeadm[roleIndex(r.CA)].CertPath)
		if out, err := exec.Command("openssl", "verify", "-CAfile", ca, c.path(r.CertPath)).CombinedOutput(); err != nil {
			t.Errorf("openssl verify %s: %v\n%s", r.Name, err, out)
		}
	}
	t.Logf("FIGURE expired to healthy through cfssl serve (no CA key on the node): %.1fs wall, restarts and gates included", wall.Seconds())
}

func roleIndex(name string) int {
	for i, r := range layout.Kubeadm {
		if r.Name == name {
			return i
		}
	}
	panic(fmt.Sprintf("no kubeadm role %q", name))
}
