package signer

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/pki"
)

// ErrNoSigner is wrapped when none of a Set's signers holds a CA.
var ErrNoSigner = errors.New("none of the signers holds this CA")

// Set is the remote signers of one run. For finds, for a CA certificate
// of the node, the signer whose CA it is.
type Set struct {
	Signers []Signer
}

// Match is a signer for a node's CA and the certificates between them.
type Match struct {
	Signer Signer
	// Intermediates are the CA certificates below the node's CA that the
	// signer signs with (its issuing CA first), written after each leaf so
	// verifiers that trust the node's CA can build the chain. Empty when
	// the signer's CA is the node's CA.
	Intermediates []*x509.Certificate
}

// For returns the signer whose CA, or a CA above it in its chain, is ca.
func (s *Set) For(ctx context.Context, ca *x509.Certificate) (*Match, error) {
	var have []string
	var errs []error
	for _, sg := range s.Signers {
		chain, err := sg.CA(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, c := range chain {
			if sameCA(c, ca) {
				return &Match{Signer: sg, Intermediates: chain[:i]}, nil
			}
		}
		have = append(have, fmt.Sprintf("%s signs as %q", sg, chain[0].Subject.CommonName))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nil, fmt.Errorf("%w (%q): %s", ErrNoSigner, ca.Subject.CommonName, strings.Join(have, "; "))
}

// sameCA says whether two certificates are the same CA: the same subject
// and public key (a re-issued CA certificate with the same key counts).
func sameCA(a, b *x509.Certificate) bool {
	return bytes.Equal(a.RawSubject, b.RawSubject) && pki.PublicKeysEqual(a.PublicKey, b.PublicKey)
}
