package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
)

// KubeadmPlane is a real control plane (etcd v3.6.16, kube-apiserver,
// kube-controller-manager, kube-scheduler v1.37.2) laid out by real kubeadm
// under a node root and run as processes inside a network namespace the
// test creates, with the flags kubeadm's static pod manifests use. It is the
// harness of test/e2e, shared: start-COMPONENT.sh runs each component,
// restart.sh stops one by its pidfile and starts it again (a rescue's
// --restart command runs it), and every PID started is killed when the test
// ends, also on failure. The kubelet cannot run without a container runtime:
// PlaneOptions.KubeletStandIn answers its healthz (it proves nothing about a
// kubelet; the control plane's gates are the real ones).
type KubeadmPlane struct {
	T         testing.TB
	NS        string // network namespace
	Root      string // node root
	Run       string // scripts, pidfiles, logs
	Bins      map[string]string
	Advertise string
	NodeName  string
	opts      PlaneOptions
}

// PlaneOptions vary the plane.
type PlaneOptions struct {
	// KubeletStandIn is the command that serves http://127.0.0.1:10248/healthz
	// as the kubelet (the test binary running a helper test).
	KubeletStandIn []string
}

// PlaneComponents are the components a KubeadmPlane runs (and the kubelet's stand-in).
var PlaneComponents = []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet}

var planeSeq atomic.Int32

// NewKubeadmPlane makes the namespace and lays the PKI, kubeconfigs and
// static pod manifests out with real kubeadm. It skips (under make test:
// fails) without root or the testbed binaries.
func NewKubeadmPlane(t testing.TB, o PlaneOptions) *KubeadmPlane {
	t.Helper()
	bins := map[string]string{}
	for _, b := range []string{"kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		bins[b] = Bin(t, "k8s", b)
	}
	bins["etcd"] = Bin(t, "etcd", "etcd")
	if os.Geteuid() != 0 {
		if Require() {
			t.Fatal("a kubeadm plane needs root to create a network namespace")
		}
		t.Skip("a kubeadm plane needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) not found: %v", err)
	}
	c := &KubeadmPlane{T: t, NS: fmt.Sprintf("crplane-%d-%d", os.Getpid(), planeSeq.Add(1)), Root: t.TempDir(), Run: t.TempDir(),
		Bins: bins, Advertise: "10.0.0.1", NodeName: "plane-node", opts: o}
	c.netns()
	c.kubeadm()
	c.scripts()
	t.Cleanup(c.killAll)
	return c
}

// Path is the host path of a node path.
func (c *KubeadmPlane) Path(nodePath string) string { return filepath.Join(c.Root, nodePath) }

func (c *KubeadmPlane) netns() {
	t := c.T
	run(t, "ip", "netns", "add", c.NS)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", c.NS).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		{"addr", "add", c.Advertise + "/24", "dev", "veth0"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
		{"route", "add", "default", "via", "10.0.0.254", "dev", "veth0"},
	} {
		run(t, "ip", append([]string{"-n", c.NS}, args...)...)
	}
}

func (c *KubeadmPlane) config(pki string) string {
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
networking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
`, c.Advertise, c.NodeName, pki)
}

func (c *KubeadmPlane) kubeadm() {
	t := c.T
	cfg := filepath.Join(c.Run, "kubeadm.yaml")
	writeFile(t, cfg, c.config(c.Path(layout.PKIDir)))
	writeFile(t, c.Path("/kubeadm-chroot.yaml"), c.config(layout.PKIDir))
	c.InNS(c.Bins["kubeadm"], "init", "phase", "certs", "all", "--config", cfg)
	c.InNS(c.Bins["kubeadm"], "init", "phase", "kubeconfig", "all", "--config", cfg, "--kubeconfig-dir", c.Path(layout.KubernetesDir))
	c.InNS(c.Bins["kubeadm"], "init", "phase", "control-plane", "all", "--rootfs", c.Root, "--config", "/kubeadm-chroot.yaml")
	c.InNS(c.Bins["kubeadm"], "init", "phase", "etcd", "local", "--rootfs", c.Root, "--config", "/kubeadm-chroot.yaml")
	writeFile(t, c.Path("/usr/lib/systemd/system/kubelet.service"), "[Service]\nExecStart=/usr/bin/kubelet\n")
	writeFile(t, c.Path("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"), `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS
`)
	writeFile(t, c.Path("/var/lib/kubelet/config.yaml"), `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
healthzBindAddress: 127.0.0.1
healthzPort: 10248
staticPodPath: /etc/kubernetes/manifests
`)
}

func (c *KubeadmPlane) scripts() {
	p := func(f string) string { return c.Path(layout.PKIDir + "/" + f) }
	conf := func(f string) string { return c.Path(layout.KubernetesDir + "/" + f) }
	cmds := map[string][]string{
		layout.Etcd: {c.Bins["etcd"], "--name=" + c.NodeName, "--data-dir=" + c.Path("/var/lib/etcd"),
			"--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
			"--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=https://127.0.0.1:2380",
			"--initial-cluster=" + c.NodeName + "=https://127.0.0.1:2380", "--listen-metrics-urls=http://127.0.0.1:2381",
			"--cert-file=" + p("etcd/server.crt"), "--key-file=" + p("etcd/server.key"),
			"--client-cert-auth=true", "--trusted-ca-file=" + p("etcd/ca.crt"),
			"--peer-cert-file=" + p("etcd/peer.crt"), "--peer-key-file=" + p("etcd/peer.key"),
			"--peer-client-cert-auth=true", "--peer-trusted-ca-file=" + p("etcd/ca.crt")},
		layout.KubeAPIServer: {c.Bins["kube-apiserver"], "--advertise-address=" + c.Advertise, "--secure-port=6443",
			"--allow-privileged=true", "--authorization-mode=Node,RBAC", "--client-ca-file=" + p("ca.crt"),
			"--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
			"--etcd-cafile=" + p("etcd/ca.crt"), "--etcd-certfile=" + p("apiserver-etcd-client.crt"),
			"--etcd-keyfile=" + p("apiserver-etcd-client.key"), "--etcd-servers=https://127.0.0.1:2379",
			"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
			"--proxy-client-cert-file=" + p("front-proxy-client.crt"), "--proxy-client-key-file=" + p("front-proxy-client.key"),
			"--requestheader-allowed-names=front-proxy-client", "--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
			"--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("sa.key"),
			"--service-cluster-ip-range=10.96.0.0/12", "--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key")},
		layout.KubeControllerManager: {c.Bins["kube-controller-manager"],
			"--authentication-kubeconfig=" + conf("controller-manager.conf"), "--authorization-kubeconfig=" + conf("controller-manager.conf"),
			"--kubeconfig=" + conf("controller-manager.conf"), "--bind-address=127.0.0.1", "--client-ca-file=" + p("ca.crt"),
			"--cluster-name=kubernetes", "--cluster-signing-cert-file=" + p("ca.crt"), "--cluster-signing-key-file=" + p("ca.key"),
			"--leader-elect=true", "--requestheader-client-ca-file=" + p("front-proxy-ca.crt"), "--root-ca-file=" + p("ca.crt"),
			"--service-account-private-key-file=" + p("sa.key"), "--use-service-account-credentials=true"},
		layout.KubeScheduler: {c.Bins["kube-scheduler"],
			"--authentication-kubeconfig=" + conf("scheduler.conf"), "--authorization-kubeconfig=" + conf("scheduler.conf"),
			"--kubeconfig=" + conf("scheduler.conf"), "--bind-address=127.0.0.1", "--leader-elect=true"},
		layout.Kubelet: c.opts.KubeletStandIn,
	}
	if len(cmds[layout.Kubelet]) == 0 {
		cmds[layout.Kubelet] = []string{"sleep", "infinity"}
	}
	for name, argv := range cmds {
		writeFile(c.T, filepath.Join(c.Run, "start-"+name+".sh"), "exec "+strings.Join(argv, " ")+"\n")
	}
	writeFile(c.T, filepath.Join(c.Run, "restart.sh"), `#!/bin/sh
# restart.sh COMPONENT: stop the running one (SIGTERM, SIGKILL after 10s), start a new one.
set -u
c=$1; d=$(dirname "$0"); pidf="$d/$c.pid"
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  kill "$pid" 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -9 "$pid" 2>/dev/null
fi
sh "$d/start-$c.sh" >>"$d/$c.log" 2>&1 </dev/null &
echo $! > "$pidf"
echo $! >> "$d/all.pids"
`)
}

// RestartArgs are a rescue's --restart-command flags for this plane.
func (c *KubeadmPlane) RestartArgs() []string {
	args := []string{"--restart", "command"}
	for _, comp := range PlaneComponents {
		args = append(args, "--restart-command", comp+"=sh "+filepath.Join(c.Run, "restart.sh")+" "+comp)
	}
	return args
}

// Start starts every component.
func (c *KubeadmPlane) Start() {
	for _, comp := range PlaneComponents {
		c.InNS("sh", filepath.Join(c.Run, "restart.sh"), comp)
	}
}

// Bootstrap starts the plane and binds kubeadm:cluster-admins to
// cluster-admin (what kubeadm init does past the phases run here).
func (c *KubeadmPlane) Bootstrap() {
	c.T.Helper()
	c.Start()
	c.Eventually("the API server becomes ready", 120*time.Second, func() error { return c.Ready("super-admin.conf") })
	if out, err := c.Kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
		"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		c.T.Fatalf("create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	c.Eventually("admin.conf works", 60*time.Second, func() error { return c.Ready("admin.conf") })
}

// Ready checks /readyz with a kubeconfig of the node.
func (c *KubeadmPlane) Ready(conf string) error {
	out, err := c.Kubectl(conf, "get", "--raw", "/readyz")
	if err == nil && strings.TrimSpace(out) != "ok" {
		err = errors.New("not ok")
	}
	if err != nil {
		return fmt.Errorf("readyz with %s: %w: %s", conf, err, out)
	}
	return nil
}

// Kubectl runs the testbed's kubectl with a kubeconfig of the node (a node
// path under /etc/kubernetes, or a host path).
func (c *KubeadmPlane) Kubectl(conf string, args ...string) (string, error) {
	if !filepath.IsAbs(conf) {
		conf = c.Path(layout.KubernetesDir + "/" + conf)
	}
	flags := []string{"--kubeconfig", conf, "--cache-dir", filepath.Join(c.Run, "kube-cache"), "--request-timeout=5s"}
	return c.TryNS(c.Bins["kubectl"], append(flags, args...)...)
}

// InNS runs a command inside the namespace and fails the test if it fails.
func (c *KubeadmPlane) InNS(name string, args ...string) string {
	c.T.Helper()
	out, err := c.TryNS(name, args...)
	if err != nil {
		c.T.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TryNS runs a command inside the namespace (at most 3 minutes).
func (c *KubeadmPlane) TryNS(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.NS, name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// Eventually retries f every 250ms until it returns nil or limit passes:
// real processes take real time, bounded.
func (c *KubeadmPlane) Eventually(what string, limit time.Duration, f func() error) {
	c.T.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (c *KubeadmPlane) killAll() {
	data, _ := os.ReadFile(filepath.Join(c.Run, "all.pids"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if c.T.Failed() {
		for _, comp := range PlaneComponents {
			log, _ := os.ReadFile(filepath.Join(c.Run, comp+".log"))
			if len(log) > 3000 {
				log = log[len(log)-3000:]
			}
			c.T.Logf("--- last lines of %s's log:\n%s", comp, log)
		}
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
