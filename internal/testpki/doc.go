// Package testpki makes certificates for tests, during the test: a CA
// (MustCA), leaves signed by it (MustLeaf), a kubeadm-shaped node tree
// (KubeadmTree) and the aging of an existing kubeadm tree (AgeKubeadmTree),
// which re-signs every certificate with its own CA and key and a validity
// window the test chooses, as testbed.md describes for making a real control
// plane's certificates expire.
//
// Inputs are a testing.TB and options; outputs are parsed certificates and keys
// and files under a directory the test owns. Every failure is t.Fatal. It is
// imported by tests only and never by the certrescue binary; no certificate it
// makes is ever committed.
package testpki
