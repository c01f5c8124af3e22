// Package layout is the map of a kubeadm control-plane node: which certificate,
// key and kubeconfig lives where, which CA signs it, what it is used for, which
// component must restart when it changes, and what kubeadm puts in it (each
// role's identity: CN, O, key usages and SAN rule, from the node's name,
// advertise address, service IP and control-plane endpoint; Role.Identity).
// It is data only, no IO. Renewal, evaluation's identity rules, the demo
// sandbox and testpki (through internal/kubeadm) all read identities here.
//
// Paths are absolute node paths (/etc/kubernetes/pki/...); callers put them
// under --root. Names are kubeadm's (as `kubeadm certs check-expiration` and
// `kubeadm certs renew` spell them), plus kubelet.conf and kubelet-client, which
// kubeadm leaves out.
package layout
