package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	"github.com/certrescue/certrescue/internal/pki"
)

// Request is one certificate to sign.
type Request struct {
	Name     string       // what is signed, for errors ("apiserver", the -bare name)
	Template pki.Template // subject, SANs, usages, validity
	// Key is the leaf's private key: the public key to certify and, for a
	// remote signer when CSR is nil, the key that signs the CSR. It never
	// leaves this process.
	Key crypto.Signer
	// CSR is the leaf's request when there is one (sign's input); its public
	// key is certified when Key is nil.
	CSR *x509.CertificateRequest
	// RequireUsages makes Check refuse a certificate that lacks one of the
	// template's extended key usages (renewal needs them; gencert and sign
	// through a remote profile take the profile's).
	RequireUsages bool
}

// PublicKey is the key the certificate is for.
func (r Request) PublicKey() (crypto.PublicKey, error) {
	switch {
	case r.Key != nil:
		return r.Key.Public(), nil
	case r.CSR != nil:
		return r.CSR.PublicKey, nil
	}
	return nil, fmt.Errorf("%s: neither a key nor a CSR to sign", r.Name)
}

// CSRPEM returns the request's CSR, or one made with its key carrying the
// template's subject and SANs, PEM-encoded.
func (r Request) CSRPEM() ([]byte, error) {
	if r.CSR != nil && r.Key == nil {
		return pki.EncodeCSRPEM(r.CSR.Raw), nil
	}
	if r.Key == nil {
		return nil, fmt.Errorf("%s: neither a key nor a CSR to sign", r.Name)
	}
	der, err := pki.CreateCSR(r.Key, r.Template)
	if err != nil {
		return nil, err
	}
	return pki.EncodeCSRPEM(der), nil
}

// Result is a signed certificate and the CA certificates the signer returned
// with it (issuing CA first), if any.
type Result struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate
}

// Signer signs requests.
type Signer interface {
	// Sign issues the request's certificate. The result has passed Check.
	Sign(ctx context.Context, r Request) (*Result, error)
	// CA returns the signing CA's certificate first, then the chain above it
	// as the signer knows it.
	CA(ctx context.Context) ([]*x509.Certificate, error)
	// String names the signer for output and the audit log: its kind and
	// where it is, never a credential.
	String() string
}

// Errors of a signer's answer; errors.Is tells them apart.
var (
	// ErrBadAnswer: the signer answered something that is not a certificate
	// (garbage, an HTML page, an error document).
	ErrBadAnswer = errors.New("the signer's answer is not a certificate")
	// ErrMismatch: the certificate is not what was asked for (another key,
	// subject, fewer SANs or usages).
	ErrMismatch = errors.New("the signed certificate does not match the request")
	// ErrRefused: the signer refused (authentication, policy, a bad request).
	ErrRefused = errors.New("the signer refused the request")
)

// Check refuses a certificate that is not the one requested: another public
// key, another common name, organizations or organizational units, a SAN of
// the template missing, or (with RequireUsages) an extended key usage missing.
func Check(r Request, cert *x509.Certificate) error {
	pub, err := r.PublicKey()
	if err != nil {
		return err
	}
	if !pki.PublicKeysEqual(cert.PublicKey, pub) {
		return fmt.Errorf("%w: it is for another public key than the request's", ErrMismatch)
	}
	want, got := r.Template.Subject, cert.Subject
	if want.CommonName != got.CommonName {
		return fmt.Errorf("%w: common name %q, requested %q", ErrMismatch, got.CommonName, want.CommonName)
	}
	if !sameSet(want.Organization, got.Organization) {
		return fmt.Errorf("%w: organization (O) %q, requested %q (a Vault role sets O itself: use sign-verbatim)", ErrMismatch, got.Organization, want.Organization)
	}
	if !sameSet(want.OrganizationalUnit, got.OrganizationalUnit) {
		return fmt.Errorf("%w: organizational unit (OU) %q, requested %q", ErrMismatch, got.OrganizationalUnit, want.OrganizationalUnit)
	}
	for _, d := range r.Template.DNSNames {
		if !slices.Contains(cert.DNSNames, d) {
			return fmt.Errorf("%w: DNS SAN %s is missing", ErrMismatch, d)
		}
	}
	for _, ip := range r.Template.IPAddresses {
		if !slices.ContainsFunc(cert.IPAddresses, func(o net.IP) bool { return o.Equal(ip) }) {
			return fmt.Errorf("%w: IP SAN %s is missing", ErrMismatch, ip)
		}
	}
	for _, e := range r.Template.EmailAddresses {
		if !slices.Contains(cert.EmailAddresses, e) {
			return fmt.Errorf("%w: e-mail SAN %s is missing", ErrMismatch, e)
		}
	}
	for _, u := range r.Template.URIs {
		if !slices.ContainsFunc(cert.URIs, func(o *url.URL) bool { return o.String() == u.String() }) {
			return fmt.Errorf("%w: URI SAN %s is missing", ErrMismatch, u)
		}
	}
	if r.RequireUsages && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		for _, u := range r.Template.ExtKeyUsage {
			if !slices.Contains(cert.ExtKeyUsage, u) {
				return fmt.Errorf("%w: extended key usage %s is missing (the signer's profile or role does not grant it)", ErrMismatch, usageName(u))
			}
		}
	}
	if cert.IsCA && !r.Template.IsCA {
		return fmt.Errorf("%w: it is a CA certificate, a leaf was requested", ErrMismatch)
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// parsePEMChain parses a signer's PEM answer (leaf or chain), refusing
// anything else with ErrBadAnswer.
func parsePEMChain(what string, data []byte) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrBadAnswer, what)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadAnswer, what, err)
	}
	return certs, nil
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	case x509.ExtKeyUsageCodeSigning:
		return "code signing"
	case x509.ExtKeyUsageEmailProtection:
		return "email protection"
	case x509.ExtKeyUsageTimeStamping:
		return "time stamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSP signing"
	}
	return fmt.Sprintf("%d", u)
}
