// Package layout is the map of a kubeadm control-plane node: which certificate,
// key and kubeconfig lives where, which CA signs it, what it is used for and which
// component must restart when it changes. It is data only, no IO.
//
// Paths are absolute node paths (/etc/kubernetes/pki/...); callers put them
// under --root. Names are kubeadm's (as `kubeadm certs check-expiration` and
// `kubeadm certs renew` spell them), plus kubelet.conf and kubelet-client, which
// kubeadm leaves out.
package layout
