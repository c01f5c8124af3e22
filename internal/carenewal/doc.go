// Package carenewal renews a CA certificate on its own key: a new
// certificate with the same subject (byte for byte), subject key ID, key,
// signature algorithm and extensions, a new serial number and a new validity
// window (DefaultValidity, ten years, unless told), as cfssl's
// `gencert -renewca` does. Every certificate the old CA certificate signed
// still verifies against the new one, so leaves valid under the old CA
// certificate need not be re-issued: the new certificate only has to reach
// every trust consumer (package catrust).
//
// Before anything is written, Renew proves it: every leaf certificate and
// kubeconfig client certificate of the node that names the CA as its issuer
// must verify against the renewed certificate (its signature, and at the
// given instant the whole chain when the leaf itself is within its window).
// Those that do not (a leaf signed by another key under the same name) are
// returned in a *VerifyError listing each, and nothing is renewed.
//
// Refused too, before anything: a CA key that does not match the certificate
// (ErrKeyMismatch), a "CA" that is not one (ErrNotCA: basicConstraints
// CA:FALSE or no certSign usage), a CA that is not self-signed (ErrNotRoot:
// its issuer's key would be needed), an unreadable certificate or key.
//
// Inputs: the node (a nodefs.FS), the CA's role (certificate and key paths),
// the node's inventory items (as check found them), the instant and the
// validity. Outputs: a *Renewal with the old and new certificates, the new
// certificate's PEM and a pki.CA to sign leaves with. It writes nothing,
// never reads the clock and never returns key bytes (the key is unchanged).
package carenewal
