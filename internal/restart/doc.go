// Package restart restarts control-plane components after their credentials
// change, through a Restarter chosen per node:
//
//   - auto (the default): each component the way the node starts it, from the
//     inventory (Targets): a static pod manifest as static-pod, a systemd unit
//     (binary installs, the kubelet, kubespray's etcd) with systemctl restart
//     UNIT, a k3s or RKE2 server with k3s.service or rke2-server.service;
//   - static-pod (kubeadm): stop the component's container with crictl so the
//     kubelet recreates it from its manifest; with none running (the kubelet's
//     crash-loop back-off), stop and remove its pod sandbox so the kubelet
//     recreates the pod at once; or, with MoveManifest, move the manifest out
//     of /etc/kubernetes/manifests until the kubelet has stopped the pod and
//     move it back. crictl gets the node's runtime endpoint (RuntimeEndpoint:
//     /etc/crictl.yaml, else the kubelet's containerRuntimeEndpoint). The
//     kubelet itself (not a static pod) is restarted with systemctl;
//   - systemd: `systemctl restart UNIT`;
//   - command: a shell command per component (--restart-command NAME=CMD);
//   - none: nothing is restarted; Restart returns ErrManual and the caller
//     prints what must be restarted.
//
// Each strategy can bound the old process's stop (GraceRestarter,
// RestartWith): crictl stop --timeout, systemctl kill (SIGTERM, then
// SIGKILL after the grace) before systemctl restart, CERTRESCUE_STOP_GRACE in
// a command's environment.
//
// auto, static-pod and systemd restart this machine's processes: CheckRoot
// refuses them for a node mounted at a --root other than "/".
//
// Every external program runs through an Exec seam: the strategies are
// tested here with a recording fake (no systemd as PID 1 on a build
// machine), the command strategy with real shell commands, and static-pod
// also end to end against a real kubelet, containerd and crictl in
// test/staticpod (docs/static-pods.md). Inputs: a component name and a context; outputs:
// an error naming the command and its output. It never prints.
package restart
