package evaluation

import "crypto/x509"

// chainsTo says whether a file's own certificates lead from its leaf to ca:
// each signed by the one after it, the last signed by ca (or ca itself).
// A remote signer's intermediate travels after the leaf this way (Vault's
// issuer below the node's root CA).
func (x *caIndex) chainsTo(certs []*x509.Certificate, ca *x509.Certificate) bool {
	if len(certs) < 2 {
		return false
	}
	for i := 0; i+1 < len(certs); i++ {
		if certs[i+1].Equal(ca) {
			return x.signedBy(certs[i], ca)
		}
		if !certs[i+1].IsCA || !x.signedBy(certs[i], certs[i+1]) {
			return false
		}
	}
	return x.signedBy(certs[len(certs)-1], ca)
}
