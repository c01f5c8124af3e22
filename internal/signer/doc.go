// Package signer is the seam between what certrescue issues and who signs
// it: a Signer takes what renewal, gencert and sign have (a pki.Template and
// the leaf's key or CSR) and returns the certificate and the chain above it.
//
// Three signers: Local, a pki.CA whose key is on this machine (what every
// command did before, unchanged); CFSSL, a remote `cfssl serve` through its
// /api/v1/cfssl/sign or, with the HMAC key, /api/v1/cfssl/authsign endpoint
// (the profile and label are sent; the server's profile decides usages and
// lifetime); and Vault, a PKI secrets engine through
// github.com/hashicorp/vault/api: sign-verbatim by default (it keeps the
// CSR's whole subject, kubeadm's O=system:masters and O=system:nodes, and
// every SAN), sign/ROLE as an option, with token or AppRole login and Vault's
// own CA bundle for TLS.
//
// A remote signer never sees a private key: it gets a CSR, made here with the
// leaf's key when the caller has no CSR. Every answer is checked before it is
// returned (Check): a certificate for another key, another subject, fewer
// SANs or, when asked, fewer usages than requested, or bytes that are no
// certificate, are errors that name the signer; nothing is written by this
// package at all. Set picks, for each CA certificate a node trusts, the
// remote signer whose CA it is (asked once per signer), so a renewal is
// signed by the right CA and no CA key is read from the node.
//
// Inputs: templates, keys or CSRs, explicit times and contexts; credentials
// as bytes (package cli reads them from files or the environment). Outputs:
// parsed certificates. It never prints and never logs a credential.
package signer
