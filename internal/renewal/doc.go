// Package renewal renews a node's leaf certificates the way kubeadm's
// `certs renew` does, and the two kubeadm leaves out (kubelet.conf and the
// kubelet's client certificate): each from the existing certificate as its
// template (subject, SANs, key usages, key algorithm), signed by the CA
// certificate of the node that verifies it, as check's chain analysis finds it
// (evaluation.Signers; RolesFromInventory), on every layout check reads.
//
// Prepare reads the node (under a root), signs, verifies and returns a Plan:
// per credential the old and new certificate and the exact bytes of every file
// to write. It writes nothing: package deploy writes a Plan's files, so a
// rescue can back up, show the plan and stop (--dry-run) before anything
// changes. Keys are kept unless RotateKeys is set; new keys keep the old key's
// algorithm and size and are generated in parallel.
//
// Kubeconfigs are updated through client-go's clientcmd codec (package
// kubeconfig): embedded data stays embedded, file references stay references.
// A kubeconfig whose client certificate is not its own (evaluation.ForeignClient,
// check's foreign_client_certificate: the field guide's sed line points
// admin.conf at the API server's serving certificate) is given its own
// credential instead, with a new key, embedded, keeping the previous identity:
// Options.ClientNames (--client-name), else the node's client certificate whose
// key the kubeconfig holds, else its role's standard identity. Inspect reports
// such kubeconfigs in Current.Foreign; NeedsFix says a rescue renews them. Symlinks (kubelet-client-current.pem) are followed under the root
// and the file they point to is rewritten; the link stays.
//
// Signing goes through package signer: the CA key on the node by default
// (signer.Local), or, with Options.Signers, the remote signer (cfssl serve,
// Vault PKI) whose CA is the credential's CA certificate on the node; then no
// CA key is read, CA certificates the signer has between it and the node's
// CA are written after each leaf, and Item.Signer names it for the audit log.
//
// Inputs: the node root, its roles (layout.Kubeadm, or a layout found by the
// inventory), names, "now" and options. It never prints and never logs key
// bytes.
package renewal
