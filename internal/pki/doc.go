// Package pki is certrescue's certificate core: keys (generate, parse, encode),
// PEM certificates and CSRs, a CA (certificate plus crypto.Signer) and signing of
// templates into certificates.
//
// Inputs are bytes and explicit times; outputs are parsed objects and DER/PEM
// bytes. It does no file IO except LoadCA, takes "now" from its caller and never
// prints. It knows nothing of cfssl's JSON (package cfssl) or of Kubernetes roles.
//
// Keys from cfssl, openssl and kubeadm are accepted: PKCS#1 ("RSA PRIVATE KEY"),
// PKCS#8 ("PRIVATE KEY") and SEC1 ("EC PRIVATE KEY", with or without openssl's
// "EC PARAMETERS" block), RSA, ECDSA and Ed25519. Keys are written the way cfssl
// and kubeadm write them: PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for Ed25519.
package pki
