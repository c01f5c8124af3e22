// Package catrust is the trust-consumer view of a node: for each CA, every
// file, flag and kubeconfig that trusts it and what each holds now, and the
// plan of edits that puts a given bundle into every one of them.
//
// Consumers (Find, Build) come from the node's inventory as check finds it
// (package inventory): CA files, with the flags that name them (the API
// server's --client-ca-file and --requestheader-client-ca-file, etcd's
// --trusted-ca-file and --peer-trusted-ca-file, the controller-manager's
// --root-ca-file, the kubelet's clientCAFile, ...) and every copy of the
// CA certificate; kubeconfigs whose certificate-authority-data embeds it;
// plus the kubeconfigs the inventory does not list (bootstrap-kubelet.conf,
// root's ~/.kube/config). In the cluster (cluster.go, client-go), when the
// API answers: kube-public/cluster-info and the field guide's
// kube-system/kube-apiserver-ca ConfigMap.
//
// A consumer holds a CA when it holds a certificate with that CA's subject
// and public key (SameCA): a renewal on the same key is the same CA, a
// rotation is not. State says where one consumer stands between an old and
// a new CA certificate (old only, both, new only), so a rotation can advance
// a phase only when every consumer holds what that phase needs.
//
// Replace is the one edit: in every consumer, the certificates of the Old
// CAs are taken out and Bundle is put where the first of them was; other
// certificates and text stay byte for byte. The phases of a rotation are
// three Replaces: {Old: [old], Bundle: [old, new]} (trust both),
// {Old: [old, new], Bundle: [new]} (new only); a renewal on the same key is
// {Old: [old], Bundle: [renewed]}. Replaces are idempotent: a rerun changes
// nothing more. PlanEdits computes the new bytes of every file from what a
// reader returns (the disk, or a plan's staged bytes); it writes nothing:
// the caller deploys them through nodefs WriteSet (a rescue's deploy).
//
// It never reads or returns private keys: trust consumers hold certificates.
package catrust
