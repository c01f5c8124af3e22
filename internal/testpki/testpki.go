package testpki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/pki"
)

// Epoch is the default "now" of certificates made here: a fixed instant, so
// tests that pass it to the code under test get reproducible results.
var Epoch = time.Date(2030, time.January, 15, 12, 0, 0, 0, time.UTC)

// Leaf is a certificate and its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

type options struct {
	tmpl     pki.Template
	key      crypto.Signer
	spec     pki.KeySpec
	validSet bool
	signer   *pki.CA // overrides the CA given to MustLeaf (wrong-CA tests)
}

// Option changes what MustCA or MustLeaf makes.
type Option func(*options)

// WithCN sets the subject common name.
func WithCN(cn string) Option { return func(o *options) { o.tmpl.Subject.CommonName = cn } }

// WithOrg sets the subject organization (Kubernetes groups).
func WithOrg(org ...string) Option { return func(o *options) { o.tmpl.Subject.Organization = org } }

// WithValidity sets NotBefore and NotAfter.
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(o *options) { o.tmpl.NotBefore, o.tmpl.NotAfter, o.validSet = notBefore, notAfter, true }
}

// WithDNS sets the DNS SANs.
func WithDNS(names ...string) Option { return func(o *options) { o.tmpl.DNSNames = names } }

// WithIPs sets the IP SANs.
func WithIPs(ips ...string) Option {
	return func(o *options) {
		o.tmpl.IPAddresses = nil
		for _, s := range ips {
			o.tmpl.IPAddresses = append(o.tmpl.IPAddresses, net.ParseIP(s))
		}
	}
}

// WithUsage sets the extended key usages (default: server and client auth).
func WithUsage(eku ...x509.ExtKeyUsage) Option { return func(o *options) { o.tmpl.ExtKeyUsage = eku } }

// WithKey uses an existing key instead of generating one.
func WithKey(key crypto.Signer) Option { return func(o *options) { o.key = key } }

// WithKeySpec generates a key of this spec (default ECDSA P-256, which is fast).
func WithKeySpec(spec pki.KeySpec) Option { return func(o *options) { o.spec = spec } }

// WithTemplate starts from a whole template (other options still apply after it).
func WithTemplate(t pki.Template) Option { return func(o *options) { o.tmpl = t; o.validSet = true } }

func build(t testing.TB, isCA bool, opts []Option) *options {
	t.Helper()
	o := &options{spec: pki.DefaultKeySpec}
	o.tmpl.Subject = pkix.Name{CommonName: "testpki"}
	if isCA {
		o.tmpl.Subject.CommonName = "testpki-ca"
		o.tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		o.tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		o.tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	for _, opt := range opts {
		opt(o)
	}
	if !o.validSet {
		o.tmpl.NotBefore = Epoch.Add(-time.Hour)
		o.tmpl.NotAfter = Epoch.Add(365 * 24 * time.Hour)
		if isCA {
			o.tmpl.NotAfter = Epoch.Add(10 * 365 * 24 * time.Hour)
		}
	}
	o.tmpl.IsCA = isCA
	if o.key == nil {
		k, err := pki.GenerateKey(o.spec)
		if err != nil {
			t.Fatalf("testpki: generate key: %v", err)
		}
		o.key = k
	}
	return o
}

// MustCA makes a self-signed CA, valid from an hour before Epoch for ten years
// unless WithValidity says otherwise.
func MustCA(t testing.TB, opts ...Option) *pki.CA {
	t.Helper()
	o := build(t, true, opts)
	cert, err := pki.SelfSign(o.key, o.tmpl)
	if err != nil {
		t.Fatalf("testpki: self-sign: %v", err)
	}
	ca, err := pki.NewCA(cert, o.key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return ca
}

// MustLeaf makes a certificate signed by ca, valid from an hour before Epoch for
// a year unless WithValidity says otherwise.
func MustLeaf(t testing.TB, ca *pki.CA, opts ...Option) *Leaf {
	t.Helper()
	o := build(t, false, opts)
	cert, err := pki.Sign(ca, o.tmpl, o.key.Public())
	if err != nil {
		t.Fatalf("testpki: sign: %v", err)
	}
	return &Leaf{Cert: cert, Key: o.key}
}

// MustIntermediate makes a CA signed by parent.
func MustIntermediate(t testing.TB, parent *pki.CA, opts ...Option) *pki.CA {
	t.Helper()
	o := build(t, true, opts)
	cert, err := pki.Sign(parent, o.tmpl, o.key.Public())
	if err != nil {
		t.Fatalf("testpki: sign intermediate: %v", err)
	}
	ca, err := pki.NewCA(cert, o.key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return ca
}

// TemplateFrom copies what a certificate says into a template, so it can be
// re-signed unchanged except for its validity.
func TemplateFrom(c *x509.Certificate) pki.Template {
	subject := c.Subject
	subject.ExtraNames = nil
	return pki.Template{
		Subject:        subject,
		DNSNames:       c.DNSNames,
		IPAddresses:    c.IPAddresses,
		EmailAddresses: c.EmailAddresses,
		URIs:           c.URIs,
		KeyUsage:       c.KeyUsage,
		ExtKeyUsage:    c.ExtKeyUsage,
		IsCA:           c.IsCA,
		MaxPathLen:     c.MaxPathLen,
		MaxPathLenZero: c.MaxPathLenZero,
		NotBefore:      c.NotBefore,
		NotAfter:       c.NotAfter,
		OCSPServer:     c.OCSPServer,
		IssuingURLs:    c.IssuingCertificateURL,
		CRLURLs:        c.CRLDistributionPoints,
	}
}

// CertPEM encodes certificates as PEM, in order.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pki.EncodeCertificatePEM(c.Raw)...)
	}
	return out
}

// KeyPEM encodes a private key as kubeadm writes it.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	b, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatalf("testpki: marshal key: %v", err)
	}
	return b
}

// WriteFile writes data to path with mode, creating parent directories.
func WriteFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	if err := atomicfile.Write(path, data, mode, true); err != nil {
		t.Fatalf("testpki: %v", err)
	}
}

// WriteCert writes certificates as PEM (0644).
func WriteCert(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	WriteFile(t, path, CertPEM(certs...), atomicfile.CertMode)
}

// WriteKey writes a private key as PEM (0600).
func WriteKey(t testing.TB, path string, key crypto.Signer) {
	t.Helper()
	WriteFile(t, path, KeyPEM(t, key), atomicfile.KeyMode)
}
