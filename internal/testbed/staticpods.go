package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
)

// StaticPodNode is a kubeadm control-plane node whose control plane runs as
// kubeadm's static pods under a real kubelet: the PKI, kubeconfigs and
// manifests are real kubeadm's (NewKubeadmPlane, whose start scripts are not
// used), the kubelet is v1.37.2 on containerd v2 and Debian's runc, and the
// images are built offline from the testbed's own static binaries (an empty
// image plus one layer with the program, test/tools/images), with the names
// and tags of kubeadm's manifests, and a sandbox image of our own.
//
// containerd and the kubelet run as units under a Supervisor (standing in
// for systemd) in the plane's network namespace and a private mount
// namespace where the node root's directories are at their node paths
// (StaticPodBinds), so the kubelet reads /etc/kubernetes/manifests and the
// containers mount /etc/kubernetes/pki as on a node. Each starts through the
// with-cgroups wrapper (see withCgroups), which mounts the cgroup
// hierarchies `ip netns exec` hides and puts it under a cgroup root of the
// test's own (Cgroup), which is also the kubelet's cgroupRoot: containerd,
// its shims and every container live below it. When the test ends, also on
// failure, the kubelet is stopped, then every pod, then containerd; every
// process left under Cgroup is killed by PID and the cgroups are removed.
//
// Bin is a directory for an operator's PATH on that node: crictl and a
// systemctl stand-in (restart kubelet through the supervisor).
type StaticPodNode struct {
	*KubeadmPlane
	Sup      *Supervisor
	Dir      string // containerd's root and state, the image archive, the wrapper
	Socket   string // containerd's socket
	Endpoint string // unix://Socket, the kubelet's containerRuntimeEndpoint
	Cgroup   string // the cgroup root, for example /crtb-1234-1
	Bin      string // crictl and systemctl for the node's PATH
	Crictl   string
}

// StaticPodOptions vary the node.
type StaticPodOptions struct {
	Plane PlaneOptions // Kubelet is ignored: the kubelet is real
}

// StaticPodBinds are the node directories the kubelet, containerd and the
// static pods see at their node paths (kubeadm's hostPath volumes included).
var StaticPodBinds = []string{
	"/etc/kubernetes", "/var/lib/etcd", "/var/lib/kubelet", "/var/log", "/var/lib/certrescue",
	"/run/containerd", "/etc/pki", "/etc/ca-certificates", "/usr/local/share/ca-certificates",
	"/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
}

var cgroupSeq atomic.Int32

// StartStaticPodNode lays the node out and starts containerd and the kubelet;
// it returns once both processes have started (WaitStaticPods waits for the
// pods). It needs root, runc and the testbed's k8s, etcd, kubelet and
// containerd sets.
func StartStaticPodNode(t testing.TB, o StaticPodOptions) *StaticPodNode {
	t.Helper()
	bins := map[string]string{
		"kubelet": Bin(t, "kubelet", "kubelet"), "containerd": Bin(t, "containerd", "containerd"),
		"ctr": Bin(t, "containerd", "ctr"), "shim": Bin(t, "containerd", "containerd-shim-runc-v2"),
		"crictl": Bin(t, "crictl", "crictl"), "mkimage": Bin(t, "images", "mkimage"), "pause": Bin(t, "images", "pause"),
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		if Require() {
			t.Fatalf("runc not found (%v): scripts/test-deps.d/50-runc.sh installs it", err)
		}
		t.Skipf("runc not found (%v): scripts/test-deps.d/50-runc.sh installs it", err)
	}
	o.Plane.Kubelet = nil
	p := NewKubeadmPlane(t, o.Plane)
	dir, err := os.MkdirTemp("", "crsp") // short: containerd's socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &StaticPodNode{KubeadmPlane: p, Dir: dir, Socket: filepath.Join(dir, "containerd.sock"),
		Cgroup: fmt.Sprintf("/crtb-%d-%d", os.Getpid(), cgroupSeq.Add(1)), Bin: filepath.Join(dir, "bin"), Crictl: bins["crictl"]}
	n.Endpoint = "unix://" + n.Socket
	for _, d := range StaticPodBinds {
		if err := os.MkdirAll(p.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.images(bins)
	writeFile(t, filepath.Join(dir, "crictl.yaml"), "runtime-endpoint: "+n.Endpoint+"\nimage-endpoint: "+n.Endpoint+"\n")
	writeFile(t, p.Path("/var/lib/kubelet/config.yaml"), staticPodKubeletConfig(n.Endpoint, n.Cgroup))
	writeExec(t, filepath.Join(dir, "with-cgroups"), fmt.Sprintf(withCgroups, n.Cgroup, filepath.Dir(bins["containerd"]),
		filepath.Join(dir, "images.tar"), n.Socket))
	writeFile(t, filepath.Join(dir, "containerd.toml"), containerdConfig(filepath.Join(dir, "containerd"), n.Socket, runc))
	units := filepath.Join(dir, "units")
	wrap := filepath.Join(dir, "with-cgroups")
	writeFile(t, filepath.Join(units, BinUnitDir, "containerd.service"), unitFile("containerd container runtime",
		wrap+" containerd "+bins["containerd"]+" --config "+filepath.Join(dir, "containerd.toml")))
	writeFile(t, filepath.Join(units, BinUnitDir, "kubelet.service"), unitFile("kubelet: The Kubernetes Node Agent",
		wrap+" kubelet "+bins["kubelet"]+" --config=/var/lib/kubelet/config.yaml --kubeconfig="+layout.KubernetesDir+"/kubelet.conf"+
			" --hostname-override="+NodeName+" --node-ip="+Advertise+" --v=2"))
	// Registered before the supervisor's own cleanup, so it runs after it:
	// the last word, for whatever the orderly stop below left.
	t.Cleanup(n.removeCgroups)
	n.Sup = StartSupervisor(t, p.NS, SupervisorSpec{Root: p.Root, UnitRoot: units,
		Units: []string{"containerd.service", "kubelet.service"}, Binds: StaticPodBinds})
	t.Cleanup(n.stop) // runs before the supervisor's stop
	writeExec(t, filepath.Join(n.Bin, "systemctl"), fmt.Sprintf(systemctlStandIn, shellQuote(n.Sup.ctl)))
	if err := os.Symlink(bins["crictl"], filepath.Join(n.Bin, "crictl")); err != nil {
		t.Fatal(err)
	}
	return n
}

func unitFile(desc, exec string) string {
	return fmt.Sprintf("[Unit]\nDescription=%s\n\n[Service]\nType=simple\nExecStart=%s\nRestart=always\nRestartSec=%d\nTimeoutStopSec=%d\n",
		desc, exec, UnitRestartSec, UnitTimeoutStopSec)
}

var imageRe = regexp.MustCompile(`(?m)^\s*image:\s*(\S+)\s*$`)

// images writes one archive with an image per manifest (the image kubeadm's
// manifest names, holding the testbed's binary of that component) and the
// pause image.
func (n *StaticPodNode) images(bins map[string]string) {
	t := n.T
	args := []string{"-o", filepath.Join(n.Dir, "images.tar")}
	for _, comp := range PlaneComponents {
		data, err := os.ReadFile(n.Path(layout.KubernetesDir + "/manifests/" + comp + ".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		m := imageRe.FindSubmatch(data)
		if m == nil {
			t.Fatalf("manifest of %s names no image", comp)
		}
		args = append(args, string(m[1])+"="+n.Bins[comp])
	}
	args = append(args, PauseImage+"="+bins["pause"])
	if out, err := exec.Command(bins["mkimage"], append([]string{"-entrypoint", "/usr/local/bin/pause"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
}

// CrictlCmd runs crictl against the node's containerd, in its namespaces,
// and returns what it printed on stdout (and, on failure, stderr after it).
func (n *StaticPodNode) CrictlCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.Sup.Command(ctx, n.Crictl, append([]string{"--config", filepath.Join(n.Dir, "crictl.yaml"), "--timeout", "10s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// Running returns the running containers' names.
func (n *StaticPodNode) Running() (map[string]string, error) {
	out, err := n.CrictlCmd("ps", "--state", "running", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("crictl ps: %w: %s", err, out)
	}
	return parseCrictlPS(out)
}

// WaitStaticPods waits until a container of every component runs and the
// API server's /readyz answers ok with super-admin.conf.
func (n *StaticPodNode) WaitStaticPods(limit time.Duration) {
	n.T.Helper()
	Eventually(n.T, "the four static pods run", limit, func() error {
		run, err := n.Running()
		if err != nil {
			return err
		}
		var missing []string
		for _, c := range PlaneComponents {
			if _, ok := run[c]; !ok {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not running: %s", strings.Join(missing, ", "))
		}
		return nil
	})
	Eventually(n.T, "the API server becomes ready", limit, func() error { return n.Ready("super-admin.conf") })
}

// stop stops the kubelet (so it recreates nothing), every pod, then containerd.
func (n *StaticPodNode) stop() {
	t := n.T
	if t.Failed() {
		out, _ := n.CrictlCmd("ps", "-a")
		t.Logf("--- crictl ps -a:\n%s", out)
		for _, comp := range PlaneComponents {
			if id, _ := n.CrictlCmd("ps", "-a", "-q", "--latest", "--name", "^"+comp+"$"); strings.TrimSpace(id) != "" {
				log, _ := n.CrictlCmd("logs", "--tail", "30", strings.TrimSpace(id))
				t.Logf("--- last lines of %s's container log:\n%s", comp, log)
			}
		}
	}
	_, _ = n.Sup.Ctl("stop", "kubelet")
	_, _ = n.CrictlCmd("rmp", "-a", "-f")
	_, _ = n.Sup.Ctl("stop", "containerd")
}

// removeCgroups kills, by PID, every process still under the node's cgroup
// root (shims, containers, a containerd or kubelet the orderly stop missed),
// and removes the cgroups, deepest first.
func (n *StaticPodNode) removeCgroups() {
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	var dirs []string
	for _, h := range hier {
		root := filepath.Join(h, n.Cgroup)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	deadline := time.Now().Add(20 * time.Second)
	for _, d := range dirs {
		for {
			pids := cgroupPIDs(d)
			if len(pids) == 0 || time.Now().After(deadline) {
				break
			}
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL) // under this test's own cgroup root: ours
			}
			time.Sleep(50 * time.Millisecond) // the kernel reaps them
		}
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			n.T.Logf("testbed: remove cgroup %s: %v", d, err)
		}
	}
}

func cgroupPIDs(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func writeExec(t testing.TB, path, data string) {
	t.Helper()
	writeFile(t, path, data)
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// BindAdmins binds kubeadm:cluster-admins to cluster-admin with
// super-admin.conf (what `kubeadm init` does past the phases the plane
// runs), so admin.conf works.
func (n *StaticPodNode) BindAdmins() {
	n.T.Helper()
	Eventually(n.T, "create the kubeadm:cluster-admins binding", time.Minute, func() error {
		out, err := n.Kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
			"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins")
		if err != nil && !strings.Contains(out, "AlreadyExists") {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	Eventually(n.T, "admin.conf works", 30*time.Second, func() error { return n.Ready("admin.conf") })
}
