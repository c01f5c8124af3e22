package kubeadm

import (
	"crypto/x509/pkix"
	"slices"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// Template is the certificate kubeadm issues for role r on node n (its
// layout.Role.Identity), without validity.
func Template(r layout.Role, n layout.Node) pki.Template {
	id := r.Identity(n)
	return pki.Template{
		Subject:     pkix.Name{CommonName: id.CommonName, Organization: slices.Clone(id.Organization)},
		KeyUsage:    id.KeyUsage,
		ExtKeyUsage: id.ExtKeyUsage,
		IsCA:        id.IsCA,
		DNSNames:    id.DNSNames,
		IPAddresses: id.IPAddresses,
	}
}
