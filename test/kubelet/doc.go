// Package kubelet tests certrescue's worker credential rescue against real
// peers: the testbed's binary-install control plane (etcd, kube-apiserver
// with --authorization-mode=Node,RBAC and the NodeRestriction admission
// plugin, kube-controller-manager, kube-scheduler, run by the testbed's
// supervisor in a network namespace) and kubemark's hollow kubelets (the
// kubelet's own code with a fake container runtime), each a worker node with
// its own root, name and system:node certificate, registering with the API
// server through the Node authorizer.
//
// The real kubelet with containerd also runs on this machine (see
// /work/shared/testbed.md); the credential rescue needs only the kubelet's
// client side, which the hollow kubelet is, so these tests use it: tens of
// them fit on two cores.
package kubelet
