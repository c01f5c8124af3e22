// Package signer tests the signer seam end to end on a kubeadm-shaped node
// whose CA keys are not on it: `certrescue renew all` and `certrescue
// rescue` signed by the testbed's real cfssl serve (one per kubeadm CA, each
// on a loopback port, killed by PID), and by the fake Vault of
// internal/signer/signertest (no Vault server builds here); the real openssl
// verifies every renewed certificate against the node's CA certificates.
package signer
