// Package reload measures, on the real components of the testbed (etcd
// v3.6.16; kube-apiserver, kube-controller-manager, kube-scheduler and
// kubeadm v1.37.2), which renewed credentials each takes up without a
// restart and how soon, and checks the answers against internal/reload's
// table (TestReloadTable: the table stays true when the versions change).
// It also runs the must-show rescues of issue 15 on the same kubeadm plane
// (TestMustShow): a planned `rescue --all` with a /readyz probe every 50ms
// (zero failed probes), expired to healthy, and a failed gate with its
// rollback; the figures are logged as FIGURE lines, and
// scripts/bench-planes.sh repeats them (CERTRESCUE_BENCH_ROUNDS) for medians.
//
// The plane is internal/testbed.KubeadmPlane in a network namespace; the
// tests dial and listen inside it from the test process (NetNS.DialContext,
// NetNS.Listen): the recording servers the components connect to (a node
// proxy target for the API server's kubelet client, an aggregated API for
// its front-proxy client, TLS-terminating proxies in front of etcd and of
// the API server that see which client certificate each new connection
// presents) are the test's own. They need root and the testbed binaries;
// without them they skip, and under CERTRESCUE_REQUIRE_TESTBED=1 fail.
package reload
