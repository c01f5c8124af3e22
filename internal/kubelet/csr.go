package kubelet

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// Node identity, as the Node authorizer reads it.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// NodeName is the node a certificate is the identity of ("" when its
// subject is not system:node:NAME in system:nodes).
func NodeName(c *x509.Certificate) string {
	name, ok := strings.CutPrefix(c.Subject.CommonName, NodeUserPrefix)
	if !ok || name == "" || !slices.Contains(c.Subject.Organization, NodesGroup) {
		return ""
	}
	return name
}

// NodeCSR is a PEM certificate request for node's client certificate
// (CN=system:node:NAME, O=system:nodes) made with the node's existing key,
// for a CA elsewhere to sign (certrescue sign with a client profile).
func NodeCSR(p *Pair, node string) ([]byte, error) {
	if node == "" {
		return nil, errors.New("no node name")
	}
	der, err := pki.CreateCSR(p.Key, pki.Template{Subject: pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}}})
	if err != nil {
		return nil, fmt.Errorf("certificate request for node %s: %w", node, err)
	}
	return pki.EncodeCSRPEM(der), nil
}

// ClientProblem is a signed certificate that must not be installed as the
// node's client certificate.
type ClientProblem struct{ Why string }

func (e *ClientProblem) Error() string { return e.Why }

// CheckClient verifies a signed certificate before it is installed as node's
// client credential with key: its subject is the node's, it is a client
// certificate, it holds key's public key, it is valid at now, and it chains
// to one of the cluster CAs (caPEM, the kubeconfig's certificate-authority,
// which kubeadm's and binary installs' API servers also use as client CA).
func CheckClient(cert *x509.Certificate, chain []*x509.Certificate, p *Pair, node string, caPEM []byte, now time.Time) error {
	if got := NodeName(cert); got != node {
		return &ClientProblem{fmt.Sprintf("the certificate is for %q (O=%v), not system:node:%s in %s", cert.Subject.CommonName, cert.Subject.Organization, node, NodesGroup)}
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return &ClientProblem{"the certificate is not for client authentication (sign it with a client profile)"}
	}
	if !pki.PublicKeysEqual(cert.PublicKey, p.Key.Public()) {
		return &ClientProblem{"the certificate does not hold the node's key (sign the request certrescue kubelet csr wrote)"}
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return &ClientProblem{fmt.Sprintf("the certificate is valid from %s to %s, not now (%s)", cert.NotBefore.UTC().Format(time.RFC3339),
			cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	cas, err := pki.ParseCertificatesPEM(caPEM)
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	for _, c := range chain {
		if !bytes.Equal(c.Raw, cert.Raw) {
			inter.AddCert(c)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return &ClientProblem{fmt.Sprintf("the certificate does not chain to the cluster CA kubelet.conf trusts: %v", err)}
	}
	return nil
}
