// Package carescue rescues a real kubeadm control plane whose CAs expired:
// etcd v3.6.16, kube-apiserver, kube-controller-manager, kube-scheduler and
// kubeadm v1.37.2 (scripts/testbed.sh), run as processes inside a network
// namespace the test creates (testbed.KubeadmPlane), the PKI laid out by real
// kubeadm, then every CA and leaf aged to expired but for a few leaves kept
// valid under the old CA certificates.
//
// `certrescue rescue` must then renew the three CAs on their keys first,
// then the expired leaves; kubectl works, a service-account token issued
// before the incident still authenticates (sa.key untouched), the leaves
// still valid under the old CA certificate are byte for byte the same, and
// kube-public/cluster-info and kube-system/kube-apiserver-ca hold the renewed
// CA. The kubelet is a stand-in serving its healthz (TestHelperKubelet): no
// container runtime here.
//
// The tests need root and the testbed binaries; without them they skip, and
// under CERTRESCUE_REQUIRE_TESTBED=1 (make test) they fail. Run with -v for
// the figure (expired CA to healthy plane, wall time).
package carescue
