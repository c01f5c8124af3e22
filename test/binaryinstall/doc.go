// Package binaryinstall rescues a real binary-install control plane, the
// field guide's kind of node: etcd v3.6.16 and kube-apiserver,
// kube-controller-manager and kube-scheduler v1.37.2 (scripts/testbed.sh)
// started from systemd unit files the test writes under a node root, with
// certificates issued by the real cfssl v1.6.5 in /etc/kubernetes/ssl and
// kubeconfigs referencing those .pem files (internal/testbed BinaryInstall).
//
// systemd cannot run here (it must be PID 1 of its own PID namespace with a
// writable cgroup tree), so the test reads each unit's ExecStart, drop-ins
// included, and runs it under the testbed's Supervisor, in a network
// namespace the test creates and a private mount namespace where the root's
// /etc/kubernetes, /var/lib/etcd and /usr/local/bin are bind-mounted over
// the node paths the units and kubeconfigs name. certrescue itself runs in
// the network namespace only and reads the node through --root, as it does
// on a mounted disk. Its --restart-command for each component is the
// supervisor's `supervisorctl restart UNIT`, the test's systemctl.
//
// The tests need root and the testbed binaries; without them they skip, and
// under CERTRESCUE_REQUIRE_TESTBED=1 (make test) they fail. Every process is
// killed by PID when the test ends, also on failure. Run with -v to see the
// figures; scripts/bench-planes.sh repeats them and prints medians.
package binaryinstall
