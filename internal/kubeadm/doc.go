// Package kubeadm renders what `kubeadm init` writes on a control-plane node,
// from layout's identity table: each role's certificate template (subject,
// usages, SANs from the node's name, advertise address, service IP and
// control-plane endpoint) and the four static pod manifests. The sandbox of
// `certrescue demo` and the test helper testpki both build their nodes with
// it, so the two are the same node.
//
// Inputs: a layout.Role or ManifestOptions. Outputs: pki.Template values and
// manifest bytes with their node paths. It does no IO, generates no keys and
// sets no validity: callers sign and write.
package kubeadm
