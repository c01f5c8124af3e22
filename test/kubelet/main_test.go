package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Main() // the supervisors and their control client are this binary
	code := m.Run()
	testbed.RemoveBuilt()
	os.Exit(code)
}

const advertise = "10.0.0.1"

// plane is the binary-install control plane the workers join.
type plane struct {
	ns    *testbed.NetNS
	node  *testbed.BinaryInstall
	sup   *testbed.Supervisor
	kctl  string
	cache string
}

func newPlane(t *testing.T) *plane {
	t.Helper()
	kctl := testbed.Bin(t, "k8s", "kubectl")
	testbed.Bin(t, "kubelet", "kubemark")
	testbed.NeedRoot(t, "the control plane and its workers")
	p := &plane{kctl: kctl, cache: t.TempDir()}
	p.ns = testbed.NewNetNS(t, advertise)
	p.node = testbed.NewBinaryInstall(t, t.TempDir(), advertise)
	p.sup = testbed.StartSupervisor(t, p.ns, testbed.SupervisorSpec{Root: p.node.Root, Units: testbed.BinaryInstallUnits, Binds: testbed.BinaryInstallBinds})
	testbed.Eventually(t, "kubectl with admin.conf works", 2*time.Minute, func() error {
		out, err := p.kubectl("get", "--raw", "/readyz")
		if err != nil || strings.TrimSpace(out) != "ok" {
			return fmt.Errorf("readyz: %v: %s", err, out)
		}
		return nil
	})
	return p
}

// kubectl runs the testbed's kubectl with the plane's admin.conf
// (system:masters), inside the plane's namespaces.
func (p *plane) kubectl(args ...string) (string, error) {
	return p.sup.Exec(p.kctl, append([]string{"--kubeconfig", testbed.BinAdminConf, "--cache-dir", p.cache, "--request-timeout=10s"}, args...)...)
}

// workers starts n hollow kubelets joined to the plane.
func (p *plane) workers(t *testing.T, n int, o testbed.KubeletOptions) []*testbed.HollowKubelet {
	t.Helper()
	o.Server = "https://" + advertise + ":6443"
	o.CA = p.node.CA(t)
	return testbed.StartHollowKubelets(t, p.ns, n, o)
}

// ready reads a node's Ready condition as the API server has it.
func (p *plane) ready(node string) (testbed.NodeCondition, error) {
	out, err := p.kubectl("get", "node", node, "-o", "jsonpath={range .status.conditions[?(@.type==\"Ready\")]}{.status} {.reason} {.lastHeartbeatTime}{end}")
	if err != nil {
		if strings.Contains(out, "NotFound") {
			return testbed.NodeCondition{}, nil
		}
		return testbed.NodeCondition{}, fmt.Errorf("kubectl get node %s: %v: %s", node, err, out)
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return testbed.NodeCondition{Status: "Unknown", Reason: "no Ready condition yet"}, nil
	}
	hb, _ := time.Parse(time.RFC3339, f[2])
	return testbed.NodeCondition{Status: f[0], Reason: f[1], LastHeartbeat: hb}, nil
}

// waitNode polls node's Ready condition until want holds and returns how
// long it took.
func (p *plane) waitNode(t *testing.T, node, what string, limit time.Duration, want func(testbed.NodeCondition) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last testbed.NodeCondition
	testbed.Eventually(t, "node "+node+" "+what, limit, func() error {
		c, err := p.ready(node)
		if err != nil {
			return err
		}
		last = c
		if !want(c) {
			return fmt.Errorf("Ready is %q (%s), heartbeat %s", c.Status, c.Reason, c.LastHeartbeat.Format(time.RFC3339))
		}
		return nil
	})
	_ = last
	return time.Since(start)
}

func readyAfter(since time.Time) func(testbed.NodeCondition) bool {
	return func(c testbed.NodeCondition) bool {
		return c.Status == "True" && !c.LastHeartbeat.Before(since.Truncate(time.Second))
	}
}

func notReady(c testbed.NodeCondition) bool { return c.Status == "Unknown" || c.Status == "False" }

// run runs certrescue (or another program) in the namespace, from dir.
func (p *plane) run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := p.ns.Command(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *plane) mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := p.run(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}
