package ha

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/layout"
)

// kubeadmConfig is node n's kubeadm configuration with certificatesDir pki:
// its own advertise address and name, the VIP as controlPlaneEndpoint (an
// address: admin.conf then names it, and the API server certificates carry
// it as a SAN).
func kubeadmConfig(n *Node, pki string) string {
	return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: %s
  bindPort: 6443
nodeRegistration:
  name: %s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: %s
clusterName: kubernetes
controlPlaneEndpoint: %s:6443
networking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
`, n.Addr, n.Name, pki, VIP)
}

// sharedCA are the files `kubeadm join --control-plane` copies from the
// first node (kubeadm's certificate key upload does the same).
var sharedCA = []string{"ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key", "sa.key", "sa.pub"}

// kubeadmLayout lays node n out with the real kubeadm: certificates (from
// first's CA set, unless n is first), kubeconfigs (no kubelet.conf: no
// kubelet runs on these nodes) and the static pod manifests.
func (c *Cluster) kubeadmLayout(t testing.TB, n, first *Node) {
	t.Helper()
	kubeadm := c.bins["kubeadm"]
	cfg := filepath.Join(c.Dir, n.Name+"-kubeadm.yaml")
	writeFile(t, cfg, kubeadmConfig(n, n.Path(layout.PKIDir)), 0o600)
	writeFile(t, n.Path("/kubeadm-chroot.yaml"), kubeadmConfig(n, layout.PKIDir), 0o600)
	if n != first {
		for _, f := range sharedCA {
			data, err := os.ReadFile(first.Path(layout.PKIDir + "/" + f))
			if err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(f, ".key") {
				mode = 0o600
			}
			writeFile(t, n.Path(layout.PKIDir+"/"+f), string(data), mode)
		}
	}
	n.mustRun(t, kubeadm, "init", "phase", "certs", "all", "--config", cfg)
	for _, kc := range []string{"admin", "super-admin", "controller-manager", "scheduler"} {
		n.mustRun(t, kubeadm, "init", "phase", "kubeconfig", kc, "--config", cfg, "--kubeconfig-dir", n.Path(layout.KubernetesDir))
	}
	n.mustRun(t, kubeadm, "init", "phase", "control-plane", "all", "--rootfs", n.Root, "--config", "/kubeadm-chroot.yaml")
	n.mustRun(t, kubeadm, "init", "phase", "etcd", "local", "--rootfs", n.Root, "--config", "/kubeadm-chroot.yaml")
}

func writeFile(t testing.TB, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
