// Package carotation rotates a CA to a new key in three phases, each read
// from the node's certificates and files themselves, so that a rerun after
// a crash at any point continues where the node stands:
//
//  1. trust both: every trust consumer of the CA (package catrust: the CA
//     file and the flags that read it, every copy and bundle, every
//     kubeconfig's certificate-authority-data) holds the old and the new CA
//     certificate;
//  2. re-issue: every leaf the CA signs is re-issued by the new CA (with
//     Options.CrossSign, its file also carries the new CA certificate signed
//     by the old key, for clients that only know the old CA), and the CA
//     file and key become the new ones (the CA file keeps the old
//     certificate after the new one, so every consumer still trusts both);
//  3. new only: the old certificate is dropped from every consumer.
//
// The new CA (certificate and key) is made once, before phase 1, and kept
// under Dir with the old certificate (Pending); what phase the node is in is
// then computed from what every consumer holds (catrust.StateOf), which key
// the CA file pairs with and which CA signed each leaf (Status). A node whose
// consumers disagree (some hold both, some the old only; a leaf signed by
// the new key while the CA key is still the old one; a certificate with the
// CA's subject that is neither) is refused with a *DisagreeError that names
// each file and what it holds.
//
// With Options.RotateSAKey the service-account key pair rotates alongside:
// phase 1 puts a new public key in front of the old one in the file
// --service-account-key-file names (both trusted, so tokens signed before
// keep working), phase 2 makes the new private key the signing key; phase 3
// keeps both public keys.
//
// Plan returns, for a set of CAs, the plan of the next phase of each as a
// renewal.Plan (what rescue's transaction deploys: backup, journaled atomic
// deploy, restarts behind gates, rollback, audit). It writes nothing but the
// pending CA (Prepare, through nodefs WriteSet). Private keys never leave the
// files they are written to: not in errors, statuses or plans' descriptions.
package carotation
