package signer

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/certrescue/certrescue/internal/pki"
)

// Local signs with a CA whose key (Key) is on this machine: pki.Sign, as every
// command signed before the seam.
type Local struct {
	Key *pki.CA
	// Where names the CA for output and audit, such as its key file; "" for
	// the CA certificate's common name.
	Where string
}

// Sign issues the template for the request's public key.
func (l Local) Sign(_ context.Context, r Request) (*Result, error) {
	pub, err := r.PublicKey()
	if err != nil {
		return nil, err
	}
	cert, err := pki.Sign(l.Key, r.Template, pub)
	if err != nil {
		return nil, err
	}
	return &Result{Cert: cert}, nil
}

// CA returns the CA certificate.
func (l Local) CA(context.Context) ([]*x509.Certificate, error) {
	return []*x509.Certificate{l.Key.Cert}, nil
}

func (l Local) String() string {
	if l.Where != "" {
		return "local CA key " + l.Where
	}
	return fmt.Sprintf("local CA %q", l.Key.Cert.Subject.CommonName)
}
