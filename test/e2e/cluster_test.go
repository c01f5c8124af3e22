package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
)

// Addresses inside the test's network namespace.
const (
	advertise = "10.0.0.1"
	nodeName  = "e2e-node"
)

// cluster is a control plane running in a network namespace under a node root.
type cluster struct {
	t    *testing.T
	ns   string // network namespace
	root string // node root: etc/kubernetes, var/lib/etcd, var/lib/certrescue
	run  string // scripts, pidfiles, logs
	bins map[string]string
	kctl string
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

func (c *cluster) path(nodePath string) string { return filepath.Join(c.root, nodePath) }

// components the test runs; the kubelet is not one of them (no container
// runtime here), so rescues restart it with `true` and skip its gate.
var components = []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler}

// newCluster makes the namespace and lays the PKI out with real kubeadm. It
// skips (or, under make test, fails) without root or the testbed binaries.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	return newClusterWith(t, clusterOptions{})
}

var clusterSeq int

func newClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	bins := map[string]string{}
	for _, b := range []string{"kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		bins[b] = testbed.Bin(t, "k8s", b)
	}
	bins["etcd"] = testbed.Bin(t, "etcd", "etcd")
	if os.Geteuid() != 0 {
		if testbed.Require() {
			t.Fatal("the end-to-end test needs root to create a network namespace")
		}
		t.Skip("the end-to-end test needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) not found: %v", err)
	}
	clusterSeq++
	c := &cluster{t: t, ns: fmt.Sprintf("crtest-%d-%d", os.Getpid(), clusterSeq), root: t.TempDir(), run: t.TempDir(), bins: bins, kctl: bins["kubectl"], opts: o}
	c.netns()
	c.kubeadm()
	c.scripts()
	t.Cleanup(c.killAll)
	return c
}

func (c *cluster) netns() {
	t := c.t
	mustRun(t, "ip", "netns", "add", c.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", c.ns).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		{"addr", "add", advertise + "/24", "dev", "veth0"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
		{"route", "add", "default", "via", "10.0.0.254", "dev", "veth0"},
	} {
		mustRun(t, "ip", append([]string{"-n", c.ns}, args...)...)
	}
}

// kubeadmConfig is the cluster's kubeadm configuration with certificatesDir
// pki and, when endpoint is not empty, that controlPlaneEndpoint.
func kubeadmConfig(pki, endpoint string) string {
	cpe := ""
	if endpoint != "" {
		cpe = "controlPlaneEndpoint: " + endpoint + "\n"
	}
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
%snetworking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
`, advertise, nodeName, pki, cpe)
}

// kubeadm lays out the PKI and kubeconfigs as `kubeadm init` does, and puts
// the in-root copy of the configuration `kubeadm certs --rootfs` needs.
func (c *cluster) kubeadm() {
	t := c.t
	cfg := filepath.Join(c.run, "kubeadm.yaml")
	write(t, cfg, kubeadmConfig(c.path(layout.PKIDir), c.opts.endpoint))
	write(t, c.path("/kubeadm-chroot.yaml"), kubeadmConfig(layout.PKIDir, c.opts.endpoint))
	c.inNS(t, c.bins["kubeadm"], "init", "phase", "certs", "all", "--config", cfg)
	c.inNS(t, c.bins["kubeadm"], "init", "phase", "kubeconfig", "all", "--config", cfg, "--kubeconfig-dir", c.path(layout.KubernetesDir))
	// The static pod manifests, as kubeadm writes them on a node (chrooted
	// into the root, so they name /etc/kubernetes/pki/...): certrescue
	// derives its health gates from their flags. The kubelet that would run
	// them cannot run here; start-COMPONENT.sh runs the same flags instead.
	c.inNS(t, c.bins["kubeadm"], "init", "phase", "control-plane", "all", "--rootfs", c.root, "--config", "/kubeadm-chroot.yaml")
	c.inNS(t, c.bins["kubeadm"], "init", "phase", "etcd", "local", "--rootfs", c.root, "--config", "/kubeadm-chroot.yaml")
	// The kubelet's unit as the kubernetes packages install it, with
	// kubeadm's drop-in and KubeletConfiguration.
	write(t, c.path("/usr/lib/systemd/system/kubelet.service"), kubeletUnit)
	write(t, c.path("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"), kubeadmDropIn)
	write(t, c.path("/var/lib/kubelet/config.yaml"), kubeletConfig)
}

// scripts writes start-COMPONENT.sh with the flags kubeadm's static pod
// manifests use, and restart.sh, which stops a component by its pidfile and
// starts it again. The rescue's --restart-command runs restart.sh; every PID
// it starts is appended to all.pids for the cleanup.
func (c *cluster) scripts() {
	p := func(f string) string { return c.path(layout.PKIDir + "/" + f) }
	conf := func(f string) string { return c.path(layout.KubernetesDir + "/" + f) }
	cmds := map[string][]string{
		layout.Etcd: {c.bins["etcd"], "--name=" + nodeName, "--data-dir=" + c.path("/var/lib/etcd"),
			"--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
			"--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=https://127.0.0.1:2380",
			"--initial-cluster=" + nodeName + "=https://127.0.0.1:2380", "--listen-metrics-urls=http://127.0.0.1:2381",
			"--cert-file=" + p("etcd/server.crt"), "--key-file=" + p("etcd/server.key"),
			"--client-cert-auth=true", "--trusted-ca-file=" + p("etcd/ca.crt"),
			"--peer-cert-file=" + p("etcd/peer.crt"), "--peer-key-file=" + p("etcd/peer.key"),
			"--peer-client-cert-auth=true", "--peer-trusted-ca-file=" + p("etcd/ca.crt")},
		layout.KubeAPIServer: {c.bins["kube-apiserver"], "--advertise-address=" + advertise, "--secure-port=6443",
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
		layout.KubeControllerManager: {c.bins["kube-controller-manager"],
			"--authentication-kubeconfig=" + conf("controller-manager.conf"), "--authorization-kubeconfig=" + conf("controller-manager.conf"),
			"--kubeconfig=" + conf("controller-manager.conf"), "--bind-address=127.0.0.1", "--client-ca-file=" + p("ca.crt"),
			"--cluster-name=kubernetes", "--cluster-signing-cert-file=" + p("ca.crt"), "--cluster-signing-key-file=" + p("ca.key"),
			"--leader-elect=true", "--requestheader-client-ca-file=" + p("front-proxy-ca.crt"), "--root-ca-file=" + p("ca.crt"),
			"--service-account-private-key-file=" + p("sa.key"), "--use-service-account-credentials=true"},
		layout.KubeScheduler: {c.bins["kube-scheduler"],
			"--authentication-kubeconfig=" + conf("scheduler.conf"), "--authorization-kubeconfig=" + conf("scheduler.conf"),
			"--kubeconfig=" + conf("scheduler.conf"), "--bind-address=127.0.0.1", "--leader-elect=true"},
	}
	if c.opts.externalCA {
		cm := cmds[layout.KubeControllerManager][:0:0]
		for _, a := range cmds[layout.KubeControllerManager] {
			if !strings.HasPrefix(a, "--cluster-signing-") {
				cm = append(cm, a)
			}
		}
		cmds[layout.KubeControllerManager] = cm
	}
	// The kubelet cannot run here without a container runtime; a stand-in
	// (TestHelperKubelet) answers its healthz so the kubelet's health gate,
	// derived from the node's kubelet unit, has its endpoint. It proves
	// nothing about a kubelet: the control plane's gates are the real ones.
	cmds[layout.Kubelet] = []string{"env", "E2E_KUBELET_STANDIN=1", os.Args[0], "-test.run=^TestHelperKubelet$"}
	for name, argv := range cmds {
		write(c.t, filepath.Join(c.run, "start-"+name+".sh"), "exec "+strings.Join(argv, " ")+"\n")
	}
	write(c.t, filepath.Join(c.run, "restart.sh"), `#!/bin/sh
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

const (
	kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`
	kubeadmDropIn = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
	kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
healthzBindAddress: 127.0.0.1
healthzPort: 10248
staticPodPath: /etc/kubernetes/manifests
`
)

// restartArgs are the rescue's --restart-command flags for this cluster.
func (c *cluster) restartArgs() []string {
	args := []string{"--restart", "command"}
	for _, comp := range append(components, layout.Kubelet) {
		args = append(args, "--restart-command", comp+"=sh "+filepath.Join(c.run, "restart.sh")+" "+comp)
	}
	return args
}

func (c *cluster) restartCommands() map[string]string {
	m := map[string]string{layout.Kubelet: "true"}
	for _, comp := range components {
		m[comp] = "sh " + filepath.Join(c.run, "restart.sh") + " " + comp
	}
	return m
}

// start starts every component.
func (c *cluster) start() {
	for _, comp := range append(components, layout.Kubelet) {
		c.inNS(c.t, "sh", filepath.Join(c.run, "restart.sh"), comp)
	}
}

// killAll kills every process the test started, by PID.
func (c *cluster) killAll() {
	data, _ := os.ReadFile(filepath.Join(c.run, "all.pids"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if c.t.Failed() {
		for _, comp := range components {
			log, _ := os.ReadFile(filepath.Join(c.run, comp+".log"))
			if len(log) > 3000 {
				log = log[len(log)-3000:]
			}
			c.t.Logf("--- last lines of %s's log:\n%s", comp, log)
		}
	}
}

// inNS runs a command inside the namespace and fails the test if it fails.
func (c *cluster) inNS(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := c.tryNS(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) tryNS(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.ns, name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// kubectl runs kubectl with a kubeconfig of the node. With a
// controlPlaneEndpoint (a name that does not resolve here) it asks the
// advertise address instead, as an operator on the node would
// (--server; the address is a SAN of the serving certificate).
func (c *cluster) kubectl(conf string, args ...string) (string, error) {
	// --cache-dir: kubectl's discovery cache would otherwise go to the host's ~/.kube.
	flags := []string{"--kubeconfig", c.path(layout.KubernetesDir + "/" + conf), "--cache-dir", filepath.Join(c.run, "kube-cache"), "--request-timeout=5s"}
	if c.opts.endpoint != "" {
		flags = append(flags, "--server=https://"+advertise+":6443")
	}
	return c.tryNS(c.kubectlBin(), append(flags, args...)...)
}

func (c *cluster) kubectlBin() string { return c.kctl }

// eventually retries f every interval until it returns nil or limit passes:
// real processes take real time, bounded.
func eventually(t *testing.T, what string, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// buildCertrescue builds the binary under test.
func buildCertrescue(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certrescue")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/certrescue")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
