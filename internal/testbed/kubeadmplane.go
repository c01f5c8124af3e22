package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// KubeadmPlane is a real kubeadm control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) running as processes in a network
// namespace the test made, with the PKI, kubeconfigs and static pod manifests
// laid out under a node root by real kubeadm (`kubeadm init phase certs,
// kubeconfig, control-plane, etcd`). The kubelet that would run the manifests
// cannot run here; start-COMPONENT.sh runs each with the flags of kubeadm's
// manifest instead (node paths under the root), and the kubelet is a stand-in
// the test names (PlaneOptions.Kubelet). The controller-manager's
// --cluster-signing-*-file flags are read from its manifest at each start
// (ManifestCommandAWK), so a restart sees certrescue's rewrite of them, as
// the kubelet recreates a static pod whose manifest changed; the other flags
// are fixed when the plane is made. restart.sh stops a component by its
// pidfile (SIGTERM, SIGKILL after CERTRESCUE_STOP_GRACE seconds, 10 by
// default, as a unit's TimeoutStopSec) and starts it again; certrescue's
// --restart-command runs it. Every PID it starts is killed when the test
// ends, also on failure. Shared by test/e2e and test/reload.
type KubeadmPlane struct {
	T    testing.TB
	NS   *NetNS
	Root string // node root: etc/kubernetes, var/lib/etcd, var/lib/certrescue
	Run  string // scripts, pidfiles, logs
	Bins map[string]string
	Opts PlaneOptions
}

// PlaneOptions vary the plane.
type PlaneOptions struct {
	// Endpoint is kubeadm's controlPlaneEndpoint (HOST:PORT); admin.conf,
	// super-admin.conf and kubelet.conf then name it as their server.
	Endpoint string
	// Kubelet is the argv of the kubelet's stand-in (it should answer
	// http://127.0.0.1:10248/healthz); `sleep infinity` when nil.
	Kubelet []string
	// Extra flags per component, appended to kubeadm's (a repeated flag's
	// last value wins).
	Extra map[string][]string
	// ExternalCA leaves --cluster-signing-* out of the controller-manager's
	// manifest, as kubeadm does when ca.key is not on the node, so it starts
	// without a CA key (its CSR signer stays off).
	ExternalCA bool
}

// Advertise and NodeName are the plane's node address and name.
const (
	Advertise = "10.0.0.1"
	NodeName  = "e2e-node"
)

// PlaneComponents are the components the plane runs (the kubelet is a stand-in).
var PlaneComponents = []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler}

// NewKubeadmPlane makes the namespace and lays out the PKI with real
// kubeadm; Start starts the components. It skips (or, under make test,
// fails) without root or the testbed binaries.
func NewKubeadmPlane(t testing.TB, o PlaneOptions) *KubeadmPlane {
	t.Helper()
	bins := map[string]string{}
	for _, b := range []string{"kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		bins[b] = Bin(t, "k8s", b)
	}
	bins["etcd"] = Bin(t, "etcd", "etcd")
	NeedRoot(t, "a kubeadm plane")
	p := &KubeadmPlane{T: t, NS: NewNetNS(t, Advertise), Root: t.TempDir(), Run: t.TempDir(), Bins: bins, Opts: o}
	p.kubeadm()
	p.scripts()
	t.Cleanup(p.killAll)
	return p
}

// Path is a node path under the root.
func (p *KubeadmPlane) Path(nodePath string) string { return filepath.Join(p.Root, nodePath) }

// KubeadmConfig is the plane's kubeadm configuration with certificatesDir pki.
func KubeadmConfig(pki, endpoint string) string {
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
`, Advertise, NodeName, pki, cpe)
}

func (p *KubeadmPlane) kubeadm() {
	t := p.T
	cfg := filepath.Join(p.Run, "kubeadm.yaml")
	writeFile(t, cfg, KubeadmConfig(p.Path(layout.PKIDir), p.Opts.Endpoint))
	writeFile(t, p.Path("/kubeadm-chroot.yaml"), KubeadmConfig(layout.PKIDir, p.Opts.Endpoint))
	p.MustNS(p.Bins["kubeadm"], "init", "phase", "certs", "all", "--config", cfg)
	p.MustNS(p.Bins["kubeadm"], "init", "phase", "kubeconfig", "all", "--config", cfg, "--kubeconfig-dir", p.Path(layout.KubernetesDir))
	// The static pod manifests, as kubeadm writes them on a node (chrooted
	// into the root, so they name /etc/kubernetes/pki/...): certrescue
	// derives its gates and its reload decisions from their flags.
	p.MustNS(p.Bins["kubeadm"], "init", "phase", "control-plane", "all", "--rootfs", p.Root, "--config", "/kubeadm-chroot.yaml")
	p.MustNS(p.Bins["kubeadm"], "init", "phase", "etcd", "local", "--rootfs", p.Root, "--config", "/kubeadm-chroot.yaml")
	if p.Opts.ExternalCA {
		// kubeadm leaves --cluster-signing-* out of the manifest when ca.key
		// is not on the node; the start script reads them from there
		// (scripts), so it passes none.
		DropManifestFlags(t, p.Path(layout.KubernetesDir+"/manifests/kube-controller-manager.yaml"), "--cluster-signing-")
	}
	writeFile(t, p.Path("/usr/lib/systemd/system/kubelet.service"), kubeletUnit)
	writeFile(t, p.Path("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"), kubeadmDropIn)
	writeFile(t, p.Path("/var/lib/kubelet/config.yaml"), kubeletConfig)
}

// DropManifestFlags removes from a static pod manifest every command line
// flag that starts with prefix (one "- --flag=value" line each, as kubeadm
// writes them).
func DropManifestFlags(t testing.TB, manifest, prefix string) {
	t.Helper()
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	lines := slices.DeleteFunc(strings.Split(string(data), "\n"), func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), "- "+prefix)
	})
	fi, err := os.Stat(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(strings.Join(lines, "\n")), fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// ManifestCommandAWK is an awk program that prints the command of a static
// pod manifest's first container, one item a line, as the kubelet would run
// it: the "- ITEM" lines after "command:" (kubeadm writes "  - command:",
// then "    - --flag=value" for each item). The list ends at the first line
// that is not one of its items (a "- " at the key's indentation or deeper;
// blank and comment lines are skipped, as YAML does); an item's YAML quotes
// are removed (a doubled single quote inside single quotes is one; \" and \\
// inside double quotes are " and \), and an unquoted one's " # comment". It
// exits 3, printing nothing but a line on stderr, when the manifest has no
// such list (a flow list, "command: [...]", included). The testbeds' start
// scripts read their manifests with it at each start, so a restart sees a
// rewrite of the manifest, as the kubelet recreates a static pod whose
// manifest changed; the HA testbed checks it against the YAML parser on
// every manifest it starts.
const ManifestCommandAWK = `# manifest-command.awk MANIFEST: print the first container's command, one item a line.
function unquote(s,    q, out, i, c) {
	q = substr(s, 1, 1)
	if (length(s) >= 2 && q == "'" && substr(s, length(s)) == "'") {
		s = substr(s, 2, length(s) - 2)
		gsub(/''/, "'", s)
		return s
	}
	if (length(s) >= 2 && q == "\"" && substr(s, length(s)) == "\"") {
		s = substr(s, 2, length(s) - 2)
		out = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\" && i < length(s)) {
				i++
				c = substr(s, i, 1)
				if (c != "\"" && c != "\\") c = "\\" c
			}
			out = out c
		}
		return out
	}
	sub(/[ \t]+#.*$/, "", s)
	return s
}
{ sub(/\r$/, "") }
state == 1 {
	if ($0 ~ /^[ \t]*(#.*)?$/) next
	if (match($0, /^ *- /) && RLENGTH - 2 >= col) {
		item = substr($0, RLENGTH + 1)
		sub(/^[ \t]+/, "", item)
		sub(/[ \t]+$/, "", item)
		print unquote(item)
		n++
		next
	}
	exit
}
state == 0 && /^ *(- +)?command:[ \t]*(#.*)?$/ {
	col = index($0, "command:") - 1
	state = 1
}
END {
	if (n == 0) {
		print FILENAME ": no container command (a \"command:\" line, then one \"- ITEM\" line per item)" | "cat 1>&2"
		exit 3
	}
}
`

func (p *KubeadmPlane) scripts() {
	pk := func(f string) string { return p.Path(layout.PKIDir + "/" + f) }
	conf := func(f string) string { return p.Path(layout.KubernetesDir + "/" + f) }
	a := Advertise
	cmds := map[string][]string{
		// kubeadm's etcd manifest's URLs: clients on loopback and the node
		// address, peers on the node address.
		layout.Etcd: {p.Bins["etcd"], "--name=" + NodeName, "--data-dir=" + p.Path("/var/lib/etcd"),
			"--listen-client-urls=https://127.0.0.1:2379,https://" + a + ":2379", "--advertise-client-urls=https://" + a + ":2379",
			"--listen-peer-urls=https://" + a + ":2380", "--initial-advertise-peer-urls=https://" + a + ":2380",
			"--initial-cluster=" + NodeName + "=https://" + a + ":2380", "--listen-metrics-urls=http://127.0.0.1:2381",
			"--cert-file=" + pk("etcd/server.crt"), "--key-file=" + pk("etcd/server.key"),
			"--client-cert-auth=true", "--trusted-ca-file=" + pk("etcd/ca.crt"),
			"--peer-cert-file=" + pk("etcd/peer.crt"), "--peer-key-file=" + pk("etcd/peer.key"),
			"--peer-client-cert-auth=true", "--peer-trusted-ca-file=" + pk("etcd/ca.crt")},
		layout.KubeAPIServer: {p.Bins["kube-apiserver"], "--advertise-address=" + a, "--secure-port=6443",
			"--allow-privileged=true", "--authorization-mode=Node,RBAC", "--client-ca-file=" + pk("ca.crt"),
			"--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
			"--etcd-cafile=" + pk("etcd/ca.crt"), "--etcd-certfile=" + pk("apiserver-etcd-client.crt"),
			"--etcd-keyfile=" + pk("apiserver-etcd-client.key"), "--etcd-servers=https://127.0.0.1:2379",
			"--kubelet-client-certificate=" + pk("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pk("apiserver-kubelet-client.key"),
			"--proxy-client-cert-file=" + pk("front-proxy-client.crt"), "--proxy-client-key-file=" + pk("front-proxy-client.key"),
			"--requestheader-allowed-names=front-proxy-client", "--requestheader-client-ca-file=" + pk("front-proxy-ca.crt"),
			"--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pk("sa.pub"), "--service-account-signing-key-file=" + pk("sa.key"),
			"--service-cluster-ip-range=10.96.0.0/12", "--tls-cert-file=" + pk("apiserver.crt"), "--tls-private-key-file=" + pk("apiserver.key")},
		layout.KubeControllerManager: {p.Bins["kube-controller-manager"],
			"--authentication-kubeconfig=" + conf("controller-manager.conf"), "--authorization-kubeconfig=" + conf("controller-manager.conf"),
			"--kubeconfig=" + conf("controller-manager.conf"), "--bind-address=127.0.0.1", "--client-ca-file=" + pk("ca.crt"),
			"--cluster-name=kubernetes", // --cluster-signing-*-file: the manifest's, at each start (below)
			"--leader-elect=true", "--requestheader-client-ca-file=" + pk("front-proxy-ca.crt"), "--root-ca-file=" + pk("ca.crt"),
			"--service-account-private-key-file=" + pk("sa.key"), "--use-service-account-credentials=true"},
		layout.KubeScheduler: {p.Bins["kube-scheduler"],
			"--authentication-kubeconfig=" + conf("scheduler.conf"), "--authorization-kubeconfig=" + conf("scheduler.conf"),
			"--kubeconfig=" + conf("scheduler.conf"), "--bind-address=127.0.0.1", "--leader-elect=true"},
	}
	cmds[layout.Kubelet] = p.Opts.Kubelet
	if cmds[layout.Kubelet] == nil {
		cmds[layout.Kubelet] = []string{"sleep", "infinity"}
	}
	writeFile(p.T, filepath.Join(p.Run, "manifest-command.awk"), ManifestCommandAWK)
	// Each script's last line is its exec (test/reload appends flags to it).
	for name, argv := range cmds {
		script := ""
		if name == layout.KubeControllerManager {
			script = p.signingFlagsScript()
			argv = append(argv, `"$@"`)
		}
		argv = append(argv, p.Opts.Extra[name]...)
		writeFile(p.T, filepath.Join(p.Run, "start-"+name+".sh"), script+"exec "+strings.Join(argv, " ")+"\n")
	}
	writeFile(p.T, filepath.Join(p.Run, "restart.sh"), `#!/bin/sh
# restart.sh COMPONENT: stop the running one (SIGTERM, then SIGKILL after
# $CERTRESCUE_STOP_GRACE seconds, 10 by default), start a new one.
set -u
c=$1; d=$(dirname "$0"); pidf="$d/$c.pid"
tenths=$(awk -v g="${CERTRESCUE_STOP_GRACE:-10}" 'BEGIN { printf "%d", g * 10 }')
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  kill "$pid" 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt "$tenths" ]; do sleep 0.1; i=$((i+1)); done
  kill -9 "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
fi
sh "$d/start-$c.sh" >>"$d/$c.log" 2>&1 </dev/null &
echo $! > "$pidf"
echo $! >> "$d/all.pids"
`)
}

// signingFlagsScript is the head of the controller-manager's start script:
// it sets "$@" to the --cluster-signing-*-file flags of the manifest as it
// is now, each value that is a node path mapped under the root, and fails
// (the component not started, a line in its log) when the manifest has no
// command.
func (p *KubeadmPlane) signingFlagsScript() string {
	manifest := p.Path(layout.ManifestsDir + "/" + layout.KubeControllerManager + ".yaml")
	return fmt.Sprintf(`# The --cluster-signing-*-file flags are the manifest's at this start.
set -u
root=%s
manifest=%s
cmd=$(awk -f %s "$manifest") || {
  echo "start-kube-controller-manager.sh: $manifest: no container command (a \"command:\" list of \"- ITEM\" lines): not starting" >&2
  exit 1
}
set --
while IFS= read -r item; do
  case $item in
  --cluster-signing-*-file=/*) set -- "$@" "${item%%%%=*}=$root${item#*=}" ;;
  --cluster-signing-*-file=*) set -- "$@" "$item" ;;
  esac
done <<EOF
$cmd
EOF
echo "start-kube-controller-manager.sh: signing flags from $manifest: ${*:-none}" >&2
`, shellQuote(p.Root), shellQuote(manifest), shellQuote(filepath.Join(p.Run, "manifest-command.awk")))
}

// RestartArgs are the rescue's --restart-command flags for this plane.
func (p *KubeadmPlane) RestartArgs() []string {
	args := []string{"--restart", "command"}
	for _, comp := range append(PlaneComponents, layout.Kubelet) {
		args = append(args, "--restart-command", comp+"="+p.RestartCommand(comp))
	}
	return args
}

// RestartCommand restarts one component.
func (p *KubeadmPlane) RestartCommand(comp string) string {
	return "sh " + filepath.Join(p.Run, "restart.sh") + " " + comp
}

// RestartCommands are RestartArgs as a map.
func (p *KubeadmPlane) RestartCommands() map[string]string {
	m := map[string]string{}
	for _, comp := range append(PlaneComponents, layout.Kubelet) {
		m[comp] = p.RestartCommand(comp)
	}
	return m
}

// Start starts every component.
func (p *KubeadmPlane) Start() {
	for _, comp := range append(PlaneComponents, layout.Kubelet) {
		p.MustNS("sh", filepath.Join(p.Run, "restart.sh"), comp)
	}
}

// PID is a component's current process.
func (p *KubeadmPlane) PID(comp string) int {
	b, _ := os.ReadFile(filepath.Join(p.Run, comp+".pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Log is the path of a component's output.
func (p *KubeadmPlane) Log(comp string) string { return filepath.Join(p.Run, comp+".log") }

func (p *KubeadmPlane) killAll() {
	data, _ := os.ReadFile(filepath.Join(p.Run, "all.pids"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL) // by PID: only what restart.sh started
		}
	}
	if p.T.Failed() {
		for _, comp := range PlaneComponents {
			log, _ := os.ReadFile(p.Log(comp))
			if len(log) > 3000 {
				log = log[len(log)-3000:]
			}
			p.T.Logf("--- last lines of %s's log:\n%s", comp, log)
		}
	}
}

// MustNS runs a command inside the namespace and fails the test if it fails.
func (p *KubeadmPlane) MustNS(name string, args ...string) string {
	p.T.Helper()
	out, err := p.InNS(name, args...)
	if err != nil {
		p.T.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// InNS runs a command inside the namespace with a three-minute bound.
func (p *KubeadmPlane) InNS(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := p.NS.Command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Kubectl runs kubectl with a kubeconfig of the node (a name under
// /etc/kubernetes, or a host path). With an Endpoint (a
// name that may not resolve here) it asks the advertise address instead, as
// an operator on the node would.
func (p *KubeadmPlane) Kubectl(conf string, args ...string) (string, error) {
	if !filepath.IsAbs(conf) {
		conf = p.Path(layout.KubernetesDir + "/" + conf)
	}
	flags := []string{"--kubeconfig", conf, "--cache-dir", filepath.Join(p.Run, "kube-cache"), "--request-timeout=5s"}
	if p.Opts.Endpoint != "" {
		flags = append(flags, "--server=https://"+Advertise+":6443")
	}
	return p.InNS(p.Bins["kubectl"], append(flags, args...)...)
}

// Ready checks the API server's /readyz with a kubeconfig of the node.
func (p *KubeadmPlane) Ready(conf string) error {
	out, err := p.Kubectl(conf, "get", "--raw", "/readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		return fmt.Errorf("readyz with %s: %w: %s", conf, err, out)
	}
	return nil
}

// Bootstrap starts every component and binds kubeadm:cluster-admins (what
// `kubeadm init` does past the phases this plane runs).
func (p *KubeadmPlane) Bootstrap() {
	p.T.Helper()
	p.Start()
	Eventually(p.T, "the API server becomes ready", 90*time.Second, func() error { return p.Ready("super-admin.conf") })
	if out, err := p.Kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
		"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		p.T.Fatalf("create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	Eventually(p.T, "admin.conf works", 30*time.Second, func() error { return p.Ready("admin.conf") })
}

// ExpireAll re-signs every leaf valid until yesterday and waits until
// kubectl says so.
func (p *KubeadmPlane) ExpireAll() {
	p.T.Helper()
	now := time.Now() // the real components' clock
	testpki.AgeKubeadmTree(p.T, p.Root, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	Eventually(p.T, "kubectl fails with an x509 expiry error", 60*time.Second, func() error {
		out, err := p.Kubectl("admin.conf", "get", "namespaces")
		if err != nil && strings.Contains(out, "x509: certificate has expired or is not yet valid") {
			return nil
		}
		return fmt.Errorf("kubectl: %w: %s", err, out)
	})
}

// Eventually retries f every 250ms until it returns nil or limit passes:
// real processes take real time, bounded.
func Eventually(t testing.TB, what string, limit time.Duration, f func() error) {
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

// BuildCertrescue builds the binary under test (CGO_ENABLED=0, as shipped).
func BuildCertrescue(t testing.TB, repo string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certrescue")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/certrescue")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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
