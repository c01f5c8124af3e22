// Package e2e rescues a real control plane: etcd v3.6.16 and kube-apiserver,
// kube-controller-manager, kube-scheduler and kubeadm v1.37.2 built from the
// Go module proxy (scripts/testbed.sh), run as processes inside a network
// namespace the test creates (ip netns), with the PKI and kubeconfigs laid out
// by real kubeadm and then aged until expired.
//
// The tests need root (network namespaces) and the testbed binaries; without
// them they skip, and under CERTRESCUE_REQUIRE_TESTBED=1 (make test) they
// fail. The plane is internal/testbed.KubeadmPlane (shared with test/reload).
// Every process is started through a restart script that records its
// PID, and every recorded PID is killed when the test ends, also on failure.
// The broken rescue runs the library without reload gates: every component
// restarts (the path of --reload=false); test/reload runs the same failure
// with them.
// Run with -v to see the figures (rescue wall time, API server downtime).
//
// A second plane has a controlPlaneEndpoint (a name under .invalid, which
// resolves nowhere) that admin.conf names as its server, as in an HA
// cluster: the rescue must pass on the components' local addresses alone.
// TestFigureExpiredToHealthy is what scripts/bench-planes.sh runs for the
// kubeadm figure; it skips otherwise.
package e2e
