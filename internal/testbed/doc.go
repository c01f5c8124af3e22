// Package testbed runs certrescue's tests against real peers, for tests only.
//
// Bin finds the peer binaries (cfssl, cfssljson, kubeadm, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl, etcd, kubemark, kubelet) that
// scripts/testbed.sh builds from the Go module proxy. On top of them it
// starts what a test needs: a real kube-apiserver with etcd (StartAPIServer),
// a network namespace with a node address (NewNetNS), a supervisor that runs
// a node's systemd units inside it like systemctl would, on an overlay so the
// host's disk is never written (StartSupervisor, Main; with a hostname of its
// own when the spec names one, and units read from a directory of their own
// when a kubeadm node's root has none), a binary-install node built with the
// real cfssl (NewBinaryInstall), worker nodes running kubemark's hollow
// kubelet under their own system:node certificates, each from its
// kubelet.service under a supervisor of its own (StartHollowKubelets), the
// exporter as a process whose scrapes and memory are measured
// (MeasureExporter), and a kubeadm control plane laid out by real kubeadm, its
// components run with the flags of kubeadm's manifests (NewKubeadmPlane,
// shared by test/e2e, test/reload, test/carescue and test/carotate); the HA
// testbed of three such nodes is package ha. NetNS.Listen and
// NetNS.DialContext let the test process itself listen and dial inside a
// namespace (a socket keeps the namespace of the thread that made it).
//
// Under `make test` CERTRESCUE_REQUIRE_TESTBED=1 is set and a missing binary
// (or root, for namespaces and mounts) fails the test; a plain `go test` skips
// instead, so a quick run on a laptop works without the seven-minute
// Kubernetes build. Unlike product code it reads the wall clock: it waits for
// real processes.
package testbed
