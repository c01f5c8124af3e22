// Package revocation keeps the list of certificates a CA has revoked and signs
// CRLs from it.
//
// Inputs: a CA (certificate and signer), serials or certificates to revoke with
// an RFC 5280 reason, the time. Outputs: the state file and a PEM CRL (X.509 v2,
// CRL number, one entry per revoked serial with its date and reason code).
//
// The state of a CA is a JSON file beside its certificate (ca.pem ->
// ca-revoked.json), written atomically, bound to the CA by its SHA-256
// fingerprint so two CAs' lists never mix, holding the last CRL number issued
// so numbers only grow. It is the source of the CRL; every revocation is also
// an audit event (REVOKE) in the audit log, recorded by the command layer.
//
// It does not distribute CRLs, answer OCSP, or unrevoke (certificateHold is not
// offered). Kubernetes components do not read CRLs; the list serves the other
// TLS clients of the CA and the auditors. A CA without the crl sign key usage
// (kubeadm's) is refused, since verifiers would reject its CRLs.
package revocation
