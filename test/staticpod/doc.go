// Package staticpod runs kubeadm's control plane as static pods under a
// real kubelet (v1.37.2 on containerd v2 and runc, images built offline from
// the testbed's binaries: testbed.StartStaticPodNode) and shows certrescue's
// `rescue --restart static-pod` taking that node from expired certificates
// to healthy, and rolling back when a gate fails after the restart. The
// tests need root and the testbed (scripts/testbed.sh k8s etcd kubelet
// containerd, and runc); they skip without them, and fail under
// CERTRESCUE_REQUIRE_TESTBED=1.
package staticpod
