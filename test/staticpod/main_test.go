package staticpod

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Main() // the supervisor and its control client are this binary
	os.Exit(m.Run())
}

func certrescue(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return testbed.BuildCertrescue(t, filepath.Join(filepath.Dir(file), "..", ".."))
}

// startNode starts the node and waits for its static pods and the API server.
func startNode(t *testing.T) *testbed.StaticPodNode {
	t.Helper()
	start := time.Now()
	n := testbed.StartStaticPodNode(t, testbed.StaticPodOptions{})
	n.WaitStaticPods(3 * time.Minute)
	t.Logf("static pods running and /readyz ok %.1fs after the start", time.Since(start).Seconds())
	return n
}

// onNode runs a program in the node's namespaces (its files at their node
// paths) with the node's crictl and systemctl first on PATH.
func onNode(n *testbed.StaticPodNode, name string, args ...string) (string, error) {
	return n.Sup.Exec("env", append([]string{"PATH=" + n.Bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", name}, args...)...)
}

func TestStaticPodNodeStarts(t *testing.T) {
	n := startNode(t)
	out, err := n.CrictlCmd("ps")
	if err != nil {
		t.Fatalf("crictl ps: %v\n%s", err, out)
	}
	t.Logf("crictl ps:\n%s", out)
	for _, c := range testbed.PlaneComponents {
		if !strings.Contains(out, c) {
			t.Errorf("crictl ps does not list %s", c)
		}
	}
	pods, err := n.CrictlCmd("pods", "--name", "kube-apiserver-"+testbed.NodeName, "-q")
	if err != nil || strings.TrimSpace(pods) == "" {
		t.Errorf("crictl pods --name kube-apiserver-%s: %v %q", testbed.NodeName, err, pods)
	}
}
