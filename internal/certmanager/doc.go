// Package certmanager writes the cert-manager side of the long-term set-up:
// a ClusterIssuer for Vault PKI (server, path, caBundle, Kubernetes or
// AppRole auth) and Certificate resources for workloads, with the field
// guide's lifetimes (90 days, renewed 15 days before expiry); and it says
// which of the node's own certificates cert-manager cannot manage, and why:
// a kubeadm control plane's static pods read their certificates from the
// node's disk (a static pod cannot mount a Secret) and cert-manager needs a
// working API server, which those very certificates keep running. The
// certrescue timer (renew --auto) renews those.
//
// The manifests follow cert-manager v1.21's CRDs (cert-manager.io/v1); they
// are checked against the real CRD schemas on a real API server in
// test/certmanager. cert-manager's controller itself cannot be built here,
// so no test sees a certificate issued through it.
//
// Inputs: Issuer and Certificate values, the node's certificates as
// renewal.Inspect reads them. Outputs: YAML bytes (Manifests) and a list of
// Unmanaged certificates. It reads no file and prints nothing.
package certmanager
