package certmanager

import (
	"net"
	"strings"
)

// maxSpec caps a --certificate value.
const maxSpec = 4096

// ParseCertificate reads NAMESPACE/NAME=SAN[,SAN...] (SANs are DNS names or
// IP addresses), as --certificate takes it. Lifetimes and the secret name
// are left to their defaults.
func ParseCertificate(spec string) (Certificate, error) {
	if len(spec) > maxSpec {
		return Certificate{}, invalid("certificate of %d characters, at most %d", len(spec), maxSpec)
	}
	who, sans, ok := strings.Cut(spec, "=")
	ns, name, ok2 := strings.Cut(who, "/")
	if !ok || !ok2 || ns == "" || name == "" || strings.TrimSpace(sans) == "" {
		return Certificate{}, invalid("certificate %q: want NAMESPACE/NAME=SAN[,SAN...], e.g. web/shop=shop.example.com,10.0.0.20", spec)
	}
	c := Certificate{Name: name, Namespace: ns}
	for _, s := range strings.Split(sans, ",") {
		s = strings.TrimSpace(s)
		if net.ParseIP(s) != nil {
			c.IPAddresses = append(c.IPAddresses, s)
		} else {
			c.DNSNames = append(c.DNSNames, s)
		}
	}
	if err := c.defaults(); err != nil {
		return Certificate{}, err
	}
	return c, nil
}
