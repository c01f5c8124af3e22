package testbed

import (
	"encoding/json"
	"fmt"
)

// PauseImage is the sandbox image the static pod node's containerd runs
// every pod's sandbox from: our own pause program (test/tools/images/pause).
const PauseImage = "registry.k8s.io/pause:3.10.1"

// containerdConfig is containerd v2's configuration (version 3) for a node
// whose every directory is the test's: root, state, socket, the runc root
// (under state), the opt and CNI directories. restrict_oom_score_adj: this
// machine drops CAP_SYS_RESOURCE, and without it every sandbox fails (runc:
// failed to update /proc/self/oom_score_adj: Permission denied). There is no
// CNI: only hostNetwork pods (kubeadm's static pods are) can run.
func containerdConfig(dir, sock, runc string) string {
	return fmt.Sprintf(`version = 3
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[2]q

[ttrpc]
  address = %[3]q

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %[5]q
        Root = %[6]q
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[7]q]
    conf_dir = %[8]q

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[9]q

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, dir, sock, sock+".ttrpc", dir+"/opt", runc, dir+"/runc", dir+"/cni/bin", dir+"/cni/net.d", PauseImage)
}

// staticPodKubeletConfig is the node's /var/lib/kubelet/config.yaml: kubeadm's
// settings plus what this machine needs. failCgroupV1: false, because it
// mounts cgroup v1 (kubelet 1.35 and later refuse it otherwise); cgroupfs
// under a cgroup root of the test's own; relaxed eviction thresholds (a
// shared build machine's disk is fuller than a node's).
func staticPodKubeletConfig(endpoint, cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
containerRuntimeEndpoint: %s
staticPodPath: /etc/kubernetes/manifests
healthzBindAddress: 127.0.0.1
healthzPort: 10248
address: 127.0.0.1
readOnlyPort: 0
failSwapOn: false
rotateCertificates: true
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
serializeImagePulls: false
`, cgroupRoot, endpoint)
}

// withCgroups is the wrapper containerd and the kubelet start through, as
// /RUN/with-cgroups NAME PROGRAM ARGS...: `ip netns exec` remounts /sys
// without the cgroup hierarchies, so it mounts this machine's (read from
// PID 1's mounts) on /sys/fs/cgroup of the supervisor's mount namespace,
// once; makes CGROOT/NAME in each and moves itself there (containerd's
// shims and every container then live under CGROOT, which the test removes
// when it ends), and execs the program. The kubelet's wrapper also imports
// the node's images into containerd the first time (the kubelet must find
// them before it syncs its static pods: imagePullPolicy IfNotPresent and no
// registry).
const withCgroups = `#!/bin/sh
set -eu
name=$1; shift
cgroot=%[1]s
exec 9>"$(dirname "$0")/with-cgroups.lock"
flock 9 # containerd's and the kubelet's wrappers start together
if ! grep -q ' /sys/fs/cgroup/memory cgroup ' /proc/self/mounts; then
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
  awk '$3=="cgroup"||$3=="cgroup2" {print $2, $3, $4}' /proc/1/mounts | while read -r dir type opts; do
    mkdir -p "$dir"
    mount -t "$type" -o "$opts" "$type" "$dir"
  done
fi
for h in /sys/fs/cgroup/*/; do
  d="$h${cgroot#/}/$name"
  mkdir -p "$d"
  case "$h" in
  */cpuset/)
    for f in cpuset.cpus cpuset.mems; do
      cat "$h$f" > "$h${cgroot#/}/$f"
      cat "$h$f" > "$d/$f"
    done ;;
  esac
  echo $$ > "$d/cgroup.procs"
done
exec 9>&-
export PATH=%[2]s:$PATH
if [ "$name" = kubelet ] && [ ! -e %[3]s.done ]; then
  i=0
  until ctr --address %[4]s version >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 600 ] || { echo "with-cgroups: containerd did not answer within 60s" >&2; exit 1; }
    sleep 0.1
  done
  ctr --address %[4]s -n k8s.io images import %[3]s
  touch %[3]s.done
fi
exec "$@"
`

// systemctlStandIn is the node's systemctl for certrescue's static-pod
// restarter (systemctl restart kubelet): the supervisor's control client.
const systemctlStandIn = `#!/bin/sh
# systemctl stand-in: restart|stop|start|is-active UNIT through the test's supervisor.
while [ $# -gt 0 ]; do
  case "$1" in
  --quiet|-q|--no-pager|--no-block) shift ;;
  *) break ;;
  esac
done
verb=$1; unit=${2%%.service}
case "$verb" in
restart|stop|start) exec %[1]s "$verb" "$unit" ;;
is-active) %[1]s status | grep -q "^$unit active" ;;
kill) exit 0 ;;
*) echo "systemctl stand-in: $verb not supported" >&2; exit 1 ;;
esac
`

// parseCrictlPS reads `crictl ps -o json`: container name to ID.
func parseCrictlPS(out string) (map[string]string, error) {
	var ps struct {
		Containers []struct {
			ID       string `json:"id"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("crictl ps -o json: %w", err)
	}
	m := map[string]string{}
	for _, c := range ps.Containers {
		m[c.Metadata.Name] = c.ID
	}
	return m, nil
}
