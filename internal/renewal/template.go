package renewal

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
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
		KeyUsage:    layout.LeafKeyUsage,
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

// ErrNotSAN is wrapped by CheckSAN's errors.
var ErrNotSAN = errors.New("not an IP address or DNS name")

// SANError is a name CheckSAN refuses, and why.
type SANError struct {
	Value string
	Why   string // "" or what is wrong in it
}

func (e *SANError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%q: %s", e.Value, e.Why)
	}
	return fmt.Sprintf("%q: %s", e.Value, ErrNotSAN)
}

func (e *SANError) Unwrap() error { return ErrNotSAN }

// CheckSAN is the one rule for a name given to be put in, or expected in, a
// certificate (renew --add-san, check --expect-san): an IP address, or a DNS
// name of at most 253 characters whose labels are 1 to 63 letters, digits and
// hyphens, the first label possibly "*" (a wildcard). It returns a
// *SANError wrapping ErrNotSAN.
func CheckSAN(s string) error {
	if net.ParseIP(s) != nil {
		return nil
	}
	if s == "" || len(s) > 253 {
		return &SANError{Value: s}
	}
	for _, label := range strings.Split(strings.TrimPrefix(s, "*."), ".") {
		if label == "" || len(label) > 63 {
			return &SANError{Value: s}
		}
		for _, c := range label {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return &SANError{Value: s, Why: fmt.Sprintf("%q is not allowed in a DNS name", c)}
			}
		}
	}
	return nil
}

// legacyAdmin is admin.conf as kubeadm wrote it before v1.29: CN
// kubernetes-admin in system:masters. Renewing it into kubeadm:cluster-admins
// would lock the operator out of a cluster where that group is not bound.
func legacyAdmin(r layout.Role, c *x509.Certificate) bool {
	admin, _ := layout.KubeadmRole("admin.conf")
	return r.Name == admin.Name && c.Subject.CommonName == admin.CN &&
		slices.Contains(c.Subject.Organization, layout.LegacyAdminOrganization) &&
		(len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth))
}
