package renewal

import (
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/signer"
)

// caSigner is a node's CA certificate and who signs for it: its key on the
// node (signer.Local) or the remote signer whose CA it is.
type caSigner struct {
	signer.Signer
	cert          *x509.Certificate
	intermediates []*x509.Certificate
	remote        bool
}

// remoteName names a remote signer; "" for the node's CA key.
func (c *caSigner) remoteName() string {
	if !c.remote {
		return ""
	}
	return c.String()
}

// loadSigner returns the signer for r's CA: with o.Signers the one whose CA
// is the node's CA certificate (the CA key is never read), else the node's
// CA key (loadCA).
func loadSigner(o Options, n Node, r layout.Role, cache map[string]*caSigner) (*caSigner, error) {
	if cs, ok := cache[r.CA]; ok {
		return cs, nil
	}
	if o.Signers == nil {
		ca, err := loadCA(n, o.Roles, r, o.Now)
		if err != nil {
			return nil, err
		}
		cr := o.Roles[slices.IndexFunc(o.Roles, func(x layout.Role) bool { return x.Name == r.CA })]
		cs := &caSigner{Signer: signer.Local{Key: ca, Where: cr.KeyPath}, cert: ca.Cert}
		cache[r.CA] = cs
		return cs, nil
	}
	i := slices.IndexFunc(o.Roles, func(x layout.Role) bool { return x.Name == r.CA })
	if i < 0 {
		return nil, fmt.Errorf("%s: its CA %q is not in the node's layout", r.Name, r.CA)
	}
	cr := o.Roles[i]
	data, err := n.Read(cr.CertPath)
	if err != nil {
		return nil, fmt.Errorf("%s is signed by %s: read %s: %w", r.Name, r.CA, cr.CertPath, err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s is signed by %s: %s: %w", r.Name, r.CA, cr.CertPath, err)
	}
	ca := &pki.CA{Cert: certs[0]}
	if err := ca.CheckValidAt(o.Now, false); err != nil {
		return nil, fmt.Errorf("%s is signed by %s (%s): %w", r.Name, r.CA, cr.CertPath, err)
	}
	m, err := o.Signers.For(o.Context, certs[0])
	if err != nil {
		return nil, fmt.Errorf("%s is signed by %s (%s): %w", r.Name, r.CA, cr.CertPath, err)
	}
	cs := &caSigner{Signer: m.Signer, cert: certs[0], intermediates: m.Intermediates, remote: true}
	cache[r.CA] = cs
	return cs, nil
}
