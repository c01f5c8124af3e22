// Package carotate rotates the three CAs of a real kubeadm control plane to
// new keys: etcd v3.6.16, kube-apiserver, kube-controller-manager,
// kube-scheduler and kubeadm v1.37.2 (scripts/testbed.sh), run as processes
// inside a network namespace the test creates (testbed.KubeadmPlane), the
// PKI laid out by real kubeadm.
//
// A client (TestHelperClient, run inside the namespace) sends a request every
// 100 ms for the whole run, reading admin.conf afresh each time as kubectl
// does, and logs each result. `certrescue ca rotate all` runs phase by phase
// (--until 1, 2, 3, with --cross-sign and --rotate-sa-key); each phase's wall
// time and failed requests are logged as FIGURE lines, and a failure outside
// the restart (and gate) of etcd or the API server fails the test. Then
// kube-system/extension-apiserver-authentication holds the new requestheader
// CA, cluster-info and kube-apiserver-ca hold the new CA only, a
// service-account token issued before the rotation still authenticates, and
// kubeadm certs check-expiration finds nothing invalid.
//
// Then another rotation (--again) is SIGKILLed at each phase boundary (the
// process is killed when it prints that a phase is done, and once right after
// a phase's deploy, before its restarts); each rerun continues, and the last
// ends healthy with the new CAs everywhere.
//
// CAROTATE_RUNS=3 rotates three times without crashes first, for the figures'
// medians. The tests need root and the testbed binaries; without them they
// skip, and under CERTRESCUE_REQUIRE_TESTBED=1 (make test) they fail.
package carotate
