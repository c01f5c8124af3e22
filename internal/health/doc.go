// Package health decides whether a restarted control-plane component is back:
// a Gate is an HTTP(S) probe retried with backoff until it passes or its
// timeout runs out.
//
// The kubeadm gates (KubeadmGates) are: etcd https://127.0.0.1:2379/health with
// the etcd health-check client certificate, answering {"health":"true"} and
// serving the etcd server certificate now on disk; the API server's /livez and
// /readyz with admin.conf's (renewed) credentials, serving the API server
// certificate now on disk; the controller-manager's https://127.0.0.1:10257/healthz
// and the scheduler's https://127.0.0.1:10259/healthz (their serving
// certificates are self-signed in memory at start, so only the answer "ok" is
// checked); the kubelet's http://127.0.0.1:10248/healthz.
//
// Credentials are read from the node when each attempt starts, so a gate run
// after a deployment uses the new files. Time comes from the caller (a Now
// function and a Sleep function), so tests control it. It never prints.
package health
