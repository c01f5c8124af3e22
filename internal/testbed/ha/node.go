package ha

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
)

// Node is one control-plane node of the testbed.
type Node struct {
	Name string // cp1, cp2, cp3: its hostname and kubeadm node name
	Addr string // its address on the bridge
	Root string // its root directory: what its mount namespace shows at /etc/kubernetes, ...
	NS   *testbed.NetNS
	Sup  *testbed.Supervisor
	// Units is where its unit files live (outside Root: a kubeadm node has
	// static pods, not units; the supervisor runs their commands).
	Units string
}

// Components are the units each node runs, in start order; a component's
// unit is named after it (restart it with Restart(name)).
var Components = []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler}

// Binds are the node directories its processes see at their node paths.
var Binds = []string{"/etc/kubernetes", "/var/lib/etcd", "/var/lib/certrescue", "/run/sshd"}

// Path is where node path p is under the node's root.
func (n *Node) Path(p string) string { return filepath.Join(n.Root, p) }

// RestartCommand is the shell command that restarts component c on the node
// (the testbed's systemctl restart), for certrescue's --restart-command.
func (n *Node) RestartCommand(c string) string { return n.Sup.RestartCommand(c) }

// Exec runs a command in the node's namespaces (network, mount, UTS: as a
// shell on the node would) with a bound of a minute.
func (n *Node) Exec(name string, args ...string) (string, error) {
	return n.Sup.Exec(name, args...)
}

func (n *Node) mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.NS.Run(name, args...)
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// manifestCommand is the static pod's command line.
func manifestCommand(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Command) == 0 {
		t.Fatalf("%s: want one container with a command", path)
	}
	return pod.Spec.Containers[0].Command
}

// initialCluster is etcd's --initial-cluster for the whole cluster.
func (c *Cluster) initialCluster() string {
	var parts []string
	for _, n := range c.Nodes {
		parts = append(parts, n.Name+"=https://"+n.Addr+":2380")
	}
	return strings.Join(parts, ",")
}

// units writes node n's units: each component's ExecStart is
// static-pod.sh, which reads the static pod's command from its manifest at
// each start (so a restart sees a rewrite of the manifest, as the kubelet
// recreates a static pod whose manifest changed) and runs it with the
// testbed's binary (etcd's --initial-cluster names the three members: its
// manifest is made to say so, as kubeadm's stacked-etcd join writes it);
// sshd is Debian's.
func (c *Cluster) units(t testing.TB, n *Node) {
	t.Helper()
	script := writeStaticPodScript(t, n.Units)
	for _, comp := range Components {
		manifest := n.Path(layout.ManifestsDir + "/" + comp + ".yaml")
		env := ""
		if comp == layout.Etcd {
			data, err := os.ReadFile(manifest)
			if err != nil {
				t.Fatal(err)
			}
			old := "--initial-cluster=" + n.Name + "=https://" + n.Addr + ":2380"
			if !strings.Contains(string(data), old) {
				t.Fatalf("%s: no %s", manifest, old)
			}
			writeFile(t, manifest, strings.Replace(string(data), old, "--initial-cluster="+c.initialCluster(), 1), 0o600)
			// A loaded two-core machine misses etcd's default heartbeats;
			// etcd reads these from its environment (the manifest's flags
			// are left as kubeadm wrote them).
			env = "Environment=ETCD_HEARTBEAT_INTERVAL=250 ETCD_ELECTION_TIMEOUT=2500\n"
		}
		checkManifestCommand(t, n.Units, manifest)
		writeFile(t, filepath.Join(n.Units, "etc/systemd/system", comp+".service"), fmt.Sprintf(`[Unit]
Description=%s of %s (the static pod's command, read from its manifest at each start)

[Service]
Type=simple
%sExecStart=/bin/sh %s %s %s
Restart=always
RestartSec=%d
TimeoutStopSec=%d
`, comp, n.Name, env, script, layout.ManifestsDir+"/"+comp+".yaml", c.bins[comp], testbed.UnitRestartSec, testbed.UnitTimeoutStopSec), 0o644)
	}
	writeFile(t, filepath.Join(n.Units, "etc/systemd/system/sshd.service"), fmt.Sprintf(`[Unit]
Description=OpenBSD Secure Shell server of %s

[Service]
ExecStart=/usr/sbin/sshd -D -e -f %s
Restart=always
`, n.Name, c.sshdConfig(t, n)), 0o644)
}

// staticPodScript is static-pod.sh MANIFEST BINARY: it runs the command of
// the static pod MANIFEST's container as that manifest is now (read with
// testbed.ManifestCommandAWK, beside it), with BINARY (the testbed's build of
// the image's program) in place of the command's first item. It runs in the
// node's mount namespace, so MANIFEST is a node path. Without a command in
// the manifest it exits 1, saying so in the unit's log (the supervisor tries
// again after RestartSec, as systemd would).
const staticPodScript = `#!/bin/sh
# static-pod.sh MANIFEST BINARY: run the static pod's command, read from
# MANIFEST at this start, with BINARY in place of its first item.
set -u
manifest=$1 bin=$2
cmd=$(awk -f "$(dirname "$0")/manifest-command.awk" "$manifest") || {
  echo "static-pod.sh: $manifest: no container command to start (want a \"command:\" list of \"- ITEM\" lines)" >&2
  exit 1
}
set --
first=true
while IFS= read -r item; do
  if $first; then first=false; continue; fi
  set -- "$@" "$item"
done <<EOF
$cmd
EOF
echo "static-pod.sh: $manifest: $bin $*" >&2
exec "$bin" "$@"
`

// writeStaticPodScript writes static-pod.sh and the awk program it reads
// manifests with into dir, and returns the script's path.
func writeStaticPodScript(t testing.TB, dir string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "manifest-command.awk"), testbed.ManifestCommandAWK, 0o644)
	script := filepath.Join(dir, "static-pod.sh")
	writeFile(t, script, staticPodScript, 0o755)
	return script
}

// checkManifestCommand fails the test unless the awk program of dir reads
// the same command from manifest as the YAML parser: the scripts start
// every component with what it reads.
func checkManifestCommand(t testing.TB, dir, manifest string) {
	t.Helper()
	out, err := exec.Command("awk", "-f", filepath.Join(dir, "manifest-command.awk"), manifest).CombinedOutput()
	if err != nil {
		t.Fatalf("ha: read the command of %s with manifest-command.awk: %v\n%s", manifest, err, out)
	}
	want := manifestCommand(t, manifest)
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, want) {
		t.Fatalf("ha: %s: manifest-command.awk reads the command %q, the YAML parser %q", manifest, got, want)
	}
}

// startNode starts the node's supervisor (its units, sshd last).
func (c *Cluster) startNode(t testing.TB, n *Node) {
	t.Helper()
	for _, d := range Binds {
		if err := os.MkdirAll(n.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(n.Path("/var/lib/etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, c := range Components {
		units = append(units, c+".service")
	}
	n.Sup = testbed.StartSupervisor(t, n.NS, testbed.SupervisorSpec{
		Root: n.Root, UnitRoot: n.Units, Hostname: n.Name,
		Units: append(units, "sshd.service"), Binds: Binds, FreshHome: true,
	})
}

// Restart restarts component c of the node as certrescue's restart command
// does.
func (n *Node) Restart(c string) error {
	out, err := n.Sup.Ctl("restart", c)
	if err != nil {
		return fmt.Errorf("%s: restart %s: %w: %s", n.Name, c, err, out)
	}
	return nil
}

// Kubectl runs the testbed's kubectl on the node with one of its kubeconfigs
// (admin.conf talks to the VIP).
func (n *Node) Kubectl(ctx context.Context, kubectl, conf string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	flags := []string{"--kubeconfig", layout.KubernetesDir + "/" + conf, "--cache-dir", "/var/lib/certrescue/kube-cache", "--request-timeout=10s"}
	cmd := n.Sup.Command(ctx, kubectl, append(flags, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
