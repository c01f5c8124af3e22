package e2e

import (
	"os"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// Addresses inside the test's network namespace.
const advertise = testbed.Advertise

// cluster is the shared kubeadm plane (internal/testbed.KubeadmPlane) with
// the names this package's tests use.
type cluster struct {
	*testbed.KubeadmPlane
	t    *testing.T
	ns   string // network namespace
	root string // node root: etc/kubernetes, var/lib/etcd, var/lib/certrescue
	run  string // scripts, pidfiles, logs
	bins map[string]string
	opts clusterOptions
}

// clusterOptions vary the plane.
type clusterOptions struct {
	// endpoint is kubeadm's controlPlaneEndpoint (HOST:PORT); admin.conf,
	// super-admin.conf and kubelet.conf then name it as their server.
	endpoint string
	// externalCA starts the controller-manager without a CA key, as kubeadm
	// does when ca.key is not on the node (its CSR signer stays off).
	externalCA bool
}

func (c *cluster) path(nodePath string) string { return c.Path(nodePath) }

// components the test runs; the kubelet is not one of them (no container
// runtime here): a stand-in (TestHelperKubelet) answers its healthz so the
// kubelet's gate, derived from the node's kubelet unit, has its endpoint. It
// proves nothing about a kubelet: the control plane's gates are the real ones.
var components = testbed.PlaneComponents

// newCluster makes the namespace and lays the PKI out with real kubeadm. It
// skips (or, under make test, fails) without root or the testbed binaries.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	return newClusterWith(t, clusterOptions{})
}

func newClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	p := testbed.NewKubeadmPlane(t, testbed.PlaneOptions{Endpoint: o.endpoint, ExternalCA: o.externalCA,
		Kubelet: []string{"env", "E2E_KUBELET_STANDIN=1", os.Args[0], "-test.run=^TestHelperKubelet$"}})
	return &cluster{KubeadmPlane: p, t: t, ns: p.NS.Name, root: p.Root, run: p.Run, bins: p.Bins, opts: o}
}

// restartArgs are the rescue's --restart-command flags for this cluster.
func (c *cluster) restartArgs() []string { return c.RestartArgs() }

func (c *cluster) restartCommands() map[string]string { return c.RestartCommands() }

// start starts every component.
func (c *cluster) start() { c.Start() }

// inNS runs a command inside the namespace and fails the test if it fails.
func (c *cluster) inNS(t *testing.T, name string, args ...string) string {
	t.Helper()
	return c.MustNS(name, args...)
}

func (c *cluster) tryNS(name string, args ...string) (string, error) { return c.InNS(name, args...) }

// kubectl runs kubectl with a kubeconfig of the node.
func (c *cluster) kubectl(conf string, args ...string) (string, error) {
	return c.Kubectl(conf, args...)
}
