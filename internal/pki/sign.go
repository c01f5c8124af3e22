package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 5280 method 1 key identifier, not a security hash
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Template is what a certificate will say; it carries no key and no issuer.
type Template struct {
	Subject        pkix.Name
	DNSNames       []string
	IPAddresses    []net.IP
	EmailAddresses []string
	URIs           []*url.URL
	KeyUsage       x509.KeyUsage
	ExtKeyUsage    []x509.ExtKeyUsage
	IsCA           bool
	MaxPathLen     int
	MaxPathLenZero bool
	NotBefore      time.Time
	NotAfter       time.Time
	OCSPServer     []string
	IssuingURLs    []string
	CRLURLs        []string
}

// Window computes a validity window as cfssl does: NotBefore is now, rounded to
// the minute, minus backdate (so a node whose clock is a little behind accepts
// the certificate); NotAfter is NotBefore plus lifetime.
func Window(now time.Time, backdate, lifetime time.Duration) (notBefore, notAfter time.Time) {
	notBefore = now.UTC().Round(time.Minute).Add(-backdate)
	return notBefore, notBefore.Add(lifetime)
}

// DefaultBackdate is cfssl's and kubeadm's: five minutes.
const DefaultBackdate = 5 * time.Minute

func (t Template) x509(pub crypto.PublicKey) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	ski, err := SubjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	if !t.NotAfter.After(t.NotBefore) {
		return nil, fmt.Errorf("validity: NotAfter %s is not after NotBefore %s", t.NotAfter.Format(time.RFC3339), t.NotBefore.Format(time.RFC3339))
	}
	c := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               t.Subject,
		DNSNames:              t.DNSNames,
		IPAddresses:           t.IPAddresses,
		EmailAddresses:        t.EmailAddresses,
		URIs:                  t.URIs,
		KeyUsage:              t.KeyUsage,
		ExtKeyUsage:           t.ExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
		NotBefore:             t.NotBefore,
		NotAfter:              t.NotAfter,
		SubjectKeyId:          ski,
		OCSPServer:            t.OCSPServer,
		IssuingCertificateURL: t.IssuingURLs,
		CRLDistributionPoints: t.CRLURLs,
	}
	if t.IsCA {
		c.MaxPathLen = t.MaxPathLen
		c.MaxPathLenZero = t.MaxPathLenZero
		if t.MaxPathLen == 0 && !t.MaxPathLenZero {
			c.MaxPathLen = -1 // no pathlen constraint
		}
	}
	return c, nil
}

// Sign issues a certificate for pub from the template, signed by ca.
func Sign(ca *CA, t Template, pub crypto.PublicKey) (*x509.Certificate, error) {
	tmpl, err := t.x509(pub)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", t.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// SelfSign issues a self-signed (root CA) certificate for key.
func SelfSign(key crypto.Signer, t Template) (*x509.Certificate, error) {
	tmpl, err := t.x509(key.Public())
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign %q: %w", t.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// CreateCSR makes a PKCS#10 request for key carrying the template's subject and
// SANs, as cfssl writes beside every certificate it issues.
func CreateCSR(key crypto.Signer, t Template) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        t.Subject,
		DNSNames:       t.DNSNames,
		IPAddresses:    t.IPAddresses,
		EmailAddresses: t.EmailAddresses,
		URIs:           t.URIs,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for %q: %w", t.Subject.CommonName, err)
	}
	return der, nil
}

// NewSerial returns a random positive 159-bit serial number (RFC 5280 allows up
// to 20 octets; the top bit is cleared so the DER integer stays positive).
func NewSerial() (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	b[0] &= 0x7f
	if b[0] == 0 {
		b[0] = 1
	}
	return new(big.Int).SetBytes(b), nil
}

// SubjectKeyID is the SHA-1 of the subjectPublicKey bit string (RFC 5280 4.2.1.2).
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes) //nolint:gosec // see import
	return sum[:], nil
}
