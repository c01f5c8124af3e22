package renewal

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// TemplateFrom is what a renewal keeps of an old certificate: the subject
// (attribute order included), SANs, key usages, extended key usages and the
// AIA/CRL pointers. Validity is set by the caller.
func TemplateFrom(c *x509.Certificate) pki.Template {
	return pki.Template{
		// ExtraNames carries every attribute in its original order; the named
		// fields are set too (ExtraNames overrides them when marshalling), so
		// callers and messages can read CommonName and Organization.
		Subject: pkix.Name{
			CommonName:   c.Subject.CommonName,
			Organization: c.Subject.Organization,
			ExtraNames:   slices.Clone(c.Subject.Names),
		},
		DNSNames:       slices.Clone(c.DNSNames),
		IPAddresses:    slices.Clone(c.IPAddresses),
		EmailAddresses: slices.Clone(c.EmailAddresses),
		URIs:           slices.Clone(c.URIs),
		KeyUsage:       c.KeyUsage,
		ExtKeyUsage:    slices.Clone(c.ExtKeyUsage),
		OCSPServer:     c.OCSPServer,
		IssuingURLs:    c.IssuingCertificateURL,
		CRLURLs:        c.CRLDistributionPoints,
	}
}

// ownTemplate is a client certificate for a kubeconfig with the identity id.
func ownTemplate(id evaluation.Identity) pki.Template {
	return pki.Template{
		Subject:     pkix.Name{CommonName: id.CN, Organization: slices.Clone(id.Orgs)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// addSANs adds DNS names and IPs to a serving certificate's template, skipping
// those already there.
func addSANs(t *pki.Template, sans []string) {
	if !slices.Contains(t.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(t.IPAddresses, ip.Equal) {
				t.IPAddresses = append(t.IPAddresses, ip)
			}
		} else if !slices.Contains(t.DNSNames, s) {
			t.DNSNames = append(t.DNSNames, s)
		}
	}
}

// CheckSAN refuses what is neither an IP address nor a DNS name.
func CheckSAN(s string) error {
	if net.ParseIP(s) != nil {
		return nil
	}
	if s == "" || len(s) > 253 {
		return fmt.Errorf("--add-san %q: not an IP address or DNS name", s)
	}
	for _, label := range strings.Split(strings.TrimPrefix(s, "*."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("--add-san %q: not an IP address or DNS name", s)
		}
		for _, c := range label {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return fmt.Errorf("--add-san %q: %q is not allowed in a DNS name", s, c)
			}
		}
	}
	return nil
}

// legacyAdmin is admin.conf as kubeadm wrote it before v1.29: CN
// kubernetes-admin in system:masters. Renewing it into kubeadm:cluster-admins
// would lock the operator out of a cluster where that group is not bound.
func legacyAdmin(r layout.Role, c *x509.Certificate) bool {
	return r.Name == "admin.conf" && c.Subject.CommonName == "kubernetes-admin" &&
		slices.Contains(c.Subject.Organization, "system:masters") &&
		(len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth))
}
