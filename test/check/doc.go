// Package check holds the end-to-end tests of `certrescue check` against real
// peers: a PKI, kubeconfigs and static pod manifests made by kubeadm v1.37.2
// (built from the Go module proxy by scripts/testbed.sh), compared with what
// `kubeadm certs check-expiration` reports, before and after aging.
package check
