// Package vaultsetup says which Vault calls make a PKI secrets engine the
// cluster's CA the way the field guide's long-term set-up wants it, with
// the root CA's key kept offline:
//
//	phase 1  mount the PKI engine, generate the intermediate's key inside
//	         Vault and return its CSR (the key never leaves Vault);
//	         the operator signs the CSR offline: certrescue sign with the root
//	phase 2  import the signed intermediate (with the root above it), create
//	         the field guide's k8s-cluster role (pki/sign/k8s-cluster, 90-day
//	         certificates) and a policy for nodes that renew through
//	         sign-verbatim.
//
// Plan returns the calls (method, path, JSON body and the equivalent vault
// CLI line) without making them; Apply makes them through
// github.com/hashicorp/vault/api and returns what they answered (the CSR).
// It reads and writes no file and never prints: package cli prints the plan
// or applies it.
package vaultsetup
