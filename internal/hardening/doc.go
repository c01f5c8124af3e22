// Package hardening tightens the file modes of a node's PKI the way the field
// guide's compliance rules ask: private keys 0600 (or 0400), CA private keys
// 0400, directories 0700.
//
// Inputs: the node's view of its disk (a nodefs.FS; this machine's when nil),
// directories as node paths, and the target modes. Every stat, read and
// chmod goes through that view. Outputs: a plan of Changes (path, kind, old
// and new mode) and Skips (unreadable files, symbolic links to keys), and
// Apply, which makes one change after checking the file is still what the
// plan saw.
//
// A private key is a file that parses as one (pki.ParsePrivateKeyPEM) or holds
// a PEM block whose type ends in PRIVATE KEY (encrypted keys too). CA keys are
// named ca.key, front-proxy-ca.key (kubeadm, also etcd/ca.key) or *ca-key.pem
// (cfssl). Modes are only ever tightened: a key already 0400 stays 0400 under
// --key-mode 0600. Certificates, public keys and other files are left alone,
// and symbolic links are not followed. It neither prints nor records: the
// command layer audits every change (HARDEN).
package hardening
