package renewal

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"slices"
	"strings"

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

// identity is the subject kubeadm gives a kubeconfig's client certificate.
type identity struct {
	cn       string
	cnPrefix string // kubelet.conf: system:node:NODENAME
}

var kubeconfigIdentity = map[string]identity{
	"admin.conf":              {cn: "kubernetes-admin"},
	"super-admin.conf":        {cn: "kubernetes-super-admin"},
	"controller-manager.conf": {cn: "system:kube-controller-manager"},
	"scheduler.conf":          {cn: "system:kube-scheduler"},
	"kubelet.conf":            {cnPrefix: "system:node:"},
}

// foreignCredential says why a kubeconfig's client certificate is not its own
// (another component's file, no client auth usage, the wrong group or name),
// or "" when it is.
func foreignCredential(r layout.Role, c *x509.Certificate, certPath string, roles []layout.Role) string {
	for _, o := range roles {
		// A leaf's or CA's file is another component's credential; a bundle
		// (the kubelet's rotated client certificate) is what kubelet.conf
		// references on a kubeadm node, so only its identity is checked below.
		if o.Name != r.Name && o.Kind != layout.KindBundle && certPath != "" && (o.CertPath == certPath || o.KeyPath == certPath) {
			return fmt.Sprintf("its client-certificate is %s, the %s credential", certPath, o.Name)
		}
	}
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Sprintf("its client certificate %q has no client auth usage", c.Subject.CommonName)
	}
	if legacyAdmin(r, c) {
		return "" // kubeadm before 1.29: its own credential, in the group bound on that cluster
	}
	if r.Organization != "" && !slices.Contains(c.Subject.Organization, r.Organization) {
		return fmt.Sprintf("its client certificate %q is not in group %s (O=%s)", c.Subject.CommonName, r.Organization, strings.Join(c.Subject.Organization, ","))
	}
	if id, ok := kubeconfigIdentity[r.Name]; ok {
		if (id.cn != "" && c.Subject.CommonName != id.cn) || (id.cnPrefix != "" && !strings.HasPrefix(c.Subject.CommonName, id.cnPrefix)) {
			return fmt.Sprintf("its client certificate is %q, not %s's own", c.Subject.CommonName, r.Name)
		}
	}
	return ""
}

// ownTemplate is the client certificate kubeadm would issue for a kubeconfig
// role; nodeName is needed for kubelet.conf only.
func ownTemplate(r layout.Role, nodeName string) (pki.Template, error) {
	id, ok := kubeconfigIdentity[r.Name]
	if !ok {
		return pki.Template{}, fmt.Errorf("%s: no standard identity to issue it its own client certificate", r.Name)
	}
	cn := id.cn
	if id.cnPrefix != "" {
		if nodeName == "" {
			return pki.Template{}, fmt.Errorf("%s: cannot tell the node name to issue system:node:NAME", r.Name)
		}
		cn = id.cnPrefix + nodeName
	}
	t := pki.Template{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if r.Organization != "" {
		t.Subject.Organization = []string{r.Organization}
	}
	return t, nil
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
