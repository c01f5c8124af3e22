// Package health decides whether a restarted control-plane component is back:
// a Gate is an HTTP(S) probe retried with backoff until it passes or its
// timeout runs out.
//
// ForNode derives the gates from each component's own flags, as the node's
// inventory finds them (static pod manifests, systemd units with drop-ins and
// EnvironmentFile=, k3s/RKE2 configuration), for every layout:
//
//   - etcd: /health on a --listen-client-urls URL (loopback first, every
//     interface probed on 127.0.0.1), answering {"health":"true"}, with a
//     client certificate signed by its --trusted-ca-file (kubeadm's
//     healthcheck-client, else the API server's --etcd-certfile, else etcd's
//     own if it has client auth), serving the --cert-file now on disk;
//   - kube-apiserver: /livez and /readyz on its --bind-address (when
//     specific), else --advertise-address, else 127.0.0.1, and --secure-port
//     (6443); never the server a kubeconfig names (in HA a load balancer,
//     where another node may answer). Its client is the first of admin.conf,
//     the controller-manager's and scheduler's --kubeconfig and
//     --kubelet-client-certificate that --client-ca-file signed; the server
//     name checked is the one of the certificate before renewal (the address,
//     else 127.0.0.1 or "kubernetes"); it must serve --tls-cert-file;
//   - kube-controller-manager and kube-scheduler: /healthz on --secure-port
//     (10257, 10259) and --bind-address; their certificate is made in memory
//     unless --tls-cert-file names one, which they must then serve;
//   - kubelet: healthzBindAddress:healthzPort of its KubeletConfiguration
//     (127.0.0.1:10248 by default);
//   - k3s and RKE2: the server's API server on 127.0.0.1 (or bind-address) and
//     https-listen-port (6443) with the admin kubeconfig it writes; RKE2's
//     must serve serving-kube-apiserver.crt.
//
// The controller-manager and scheduler also get a leader lease gate
// (LeaseProbe, read with a coordination/v1-only REST client): the process
// started by the restart must hold kube-system's Lease; the lease the stopped
// process of this node held is released after its restart (Gate.Restarted),
// as its own graceful stop would, so the new one need not wait out the lease
// duration.
//
// ReloadGate builds the gate of a credential a component takes up without a
// restart (internal/reload): the certificate served on a fresh connection
// compared with the disk (ErrNotTakenUp while it is the old one), or the peer
// the component presents a client certificate to accepting a fresh
// connection presenting the file on disk. A served certificate that is the
// file on disk and fails verification is a PermanentError: Wait stops at once.
//
// A component without a gate gets a Note saying why; the rescue reports its
// restart as not verified. Credentials are read through the node's view of
// its disk when each attempt starts, so a gate run after a deployment uses the
// new files; Gate.Ready checks beforehand that they can be read (the dry run).
// Time comes from the caller (Options.Clock for TLS verification, a
// clock.Clock for Wait's timeout and pauses), so tests control it. It never prints.
package health
