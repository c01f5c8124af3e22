// Package pki is certrescue's certificate core: keys (generate, parse, encode),
// PEM certificates and CSRs, a CA (certificate plus crypto.Signer) and signing of
// templates into certificates.
//
// Inputs are bytes and explicit times; outputs are parsed objects and DER/PEM
// bytes. Its only file IO is reading: ReadFile and ReadFileLimit (a regular
// file, capped in size, which the other packages' host-path reads use) and
// LoadCA, which reads a CA's certificate and key with ReadFile (LoadCAFrom
// takes the reader, such as a node's view of its disk). It writes no file,
// takes "now" from its caller and never prints. Its errors name no command
// flags: a CA outside its validity is a *ValidityError (ErrCAExpired), and
// the command layer says which flag goes ahead anyway. It knows nothing of cfssl's JSON (package cfssl) or of Kubernetes roles.
//
// Keys from cfssl, openssl and kubeadm are accepted: PKCS#1 ("RSA PRIVATE KEY"),
// PKCS#8 ("PRIVATE KEY") and SEC1 ("EC PRIVATE KEY", with or without openssl's
// "EC PARAMETERS" block), RSA, ECDSA and Ed25519. Keys are written the way cfssl
// and kubeadm write them: PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for Ed25519.
package pki
