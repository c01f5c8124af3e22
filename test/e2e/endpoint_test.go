package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// unresolvable is a controlPlaneEndpoint that resolves nowhere (.invalid is
// reserved for that, RFC 6761), as an HA cluster's load balancer name does
// on a node cut off from its DNS.
const unresolvable = "k8s-api.certrescue.invalid"

// TestRescueWithAnUnresolvableControlPlaneEndpoint rescues a kubeadm plane
// whose admin.conf names a controlPlaneEndpoint that does not resolve inside
// the test's namespace: the health gates ask the components on their own
// local addresses (from their flags), never admin.conf's server, so the
// rescue passes without any --gate flag for the control plane.
func TestRescueWithAnUnresolvableControlPlaneEndpoint(t *testing.T) {
	c := newClusterWith(t, clusterOptions{endpoint: unresolvable + ":6443"})
	bin := testbed.Certrescue(t)
	kc, err := kubeconfig.Load(c.path(layout.KubernetesDir + "/admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if server := kc.Config.Clusters[kc.Cluster].Server; !strings.Contains(server, unresolvable) {
		t.Fatalf("admin.conf's server is %s, want the controlPlaneEndpoint", server)
	}
	if out, err := c.tryNS("timeout", "10", "getent", "hosts", unresolvable); err == nil {
		t.Fatalf("%s resolves inside the namespace: %s", unresolvable, out)
	}
	c.bootstrap(t)
	c.expireAll(t)

	start := time.Now()
	out, err := c.tryNS(bin, append([]string{"--root", c.root, "rescue"}, c.restartArgs()...)...)
	wall := time.Since(start)
	t.Logf("certrescue rescue:\n%s", out)
	if err != nil {
		t.Fatalf("rescue failed: %v", err)
	}
	if !strings.Contains(out, "result: ok") {
		t.Fatal("the rescue did not report ok")
	}
	for _, comp := range components {
		if !regexp.MustCompile(`\] gate +` + comp + ` +ok\b`).MatchString(out) {
			t.Errorf("no passed gate for %s", comp)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "gate") && strings.Contains(line, unresolvable) {
			t.Errorf("a gate asks the load balancer name: %s", line)
		}
	}
	if out, err := c.kubectl("admin.conf", "get", "namespaces"); err != nil {
		t.Fatalf("kubectl with the renewed admin.conf: %v\n%s", err, out)
	}
	c.kubeadmSaysAllValid(t)
	t.Logf("FIGURE kubeadm with an unresolvable controlPlaneEndpoint, expired to healthy: %.1fs wall, gates included", wall.Seconds())
}

// TestFigureExpiredToHealthy repeats expire-then-rescue on one kubeadm plane
// CERTRESCUE_BENCH_PLANES times and prints each round's wall time for
// scripts/bench-planes.sh (beside the binary-install plane's). It asserts
// nothing about time.
func TestFigureExpiredToHealthy(t *testing.T) {
	var rounds int
	if _, err := fmt.Sscan(os.Getenv("CERTRESCUE_BENCH_PLANES"), &rounds); err != nil || rounds < 1 {
		t.Skip("a figure, not a test: scripts/bench-planes.sh sets CERTRESCUE_BENCH_PLANES=ROUNDS")
	}
	c := newCluster(t)
	bin := testbed.Certrescue(t)
	c.bootstrap(t)
	for i := range rounds {
		c.expireAll(t)
		start := time.Now()
		out, err := c.tryNS(bin, append([]string{"--root", c.root, "rescue"}, c.restartArgs()...)...)
		wall := time.Since(start)
		if err != nil || !strings.Contains(out, "result: ok") {
			t.Fatalf("round %d: %v\n%s", i+1, err, out)
		}
		testbed.Eventually(t, "admin.conf works", 60*time.Second, func() error { return c.ready("admin.conf") })
		fmt.Printf("ROUND plane=kubeadm round=%d seconds=%.2f\n", i+1, wall.Seconds())
	}
}

// TestHelperKubelet is not a test: the kubeadm plane's start-kubelet.sh
// runs the test binary with it, as the kubelet's stand-in (see scripts):
// http://127.0.0.1:10248/healthz answers "ok" until the process is killed.
func TestHelperKubelet(t *testing.T) {
	if os.Getenv("E2E_KUBELET_STANDIN") == "" {
		t.Skip("run by the kubeadm plane's restart.sh kubelet")
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	t.Fatal(http.ListenAndServe("127.0.0.1:10248", nil))
}

// bootstrap starts every component and binds kubeadm:cluster-admins (what
// `kubeadm init` does past the phases this plane runs).
func (c *cluster) bootstrap(t *testing.T) {
	t.Helper()
	c.start()
	testbed.Eventually(t, "the API server becomes ready", 90*time.Second, func() error { return c.ready("super-admin.conf") })
	if out, err := c.kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
		"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		t.Fatalf("create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	testbed.Eventually(t, "admin.conf works", 30*time.Second, func() error { return c.ready("admin.conf") })
}

// expireAll re-signs every leaf valid until yesterday and waits until
// kubectl says so.
func (c *cluster) expireAll(t *testing.T) {
	t.Helper()
	now := time.Now() // the real components' clock
	testpki.AgeKubeadmTree(t, c.root, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	testbed.Eventually(t, "kubectl fails with an x509 expiry error", 60*time.Second, func() error {
		out, err := c.kubectl("admin.conf", "get", "namespaces")
		if err != nil && strings.Contains(out, "x509: certificate has expired or is not yet valid") {
			return nil
		}
		return fmt.Errorf("kubectl: %v: %s", err, out)
	})
}
