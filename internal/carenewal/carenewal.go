package carenewal

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// DefaultValidity is a renewed CA's lifetime: ten years (cfssl's default is
// five, kubeadm's ten).
const DefaultValidity = 10 * 365 * 24 * time.Hour

// Options of a renewal.
type Options struct {
	Now      time.Time     // the certificates' now
	Validity time.Duration // DefaultValidity when 0
	Backdate time.Duration // pki.DefaultBackdate when 0
	// Reissued are node paths of leaves that are re-issued by the same run
	// (a rescue renews them from the new CA): they need not verify.
	Reissued map[string]bool
}

// Errors callers branch on.
var (
	// ErrKeyMismatch: the CA's private key is not the certificate's.
	ErrKeyMismatch = errors.New("the CA private key does not match the CA certificate")
	// ErrNotCA: the certificate is not a CA (basicConstraints CA:FALSE, or
	// a key usage without certSign).
	ErrNotCA = errors.New("not a CA certificate")
	// ErrNotRoot: the CA is not self-signed; renewing it needs its issuer's key.
	ErrNotRoot = errors.New("not a self-signed CA: its issuer's key is needed to renew it")
	// ErrUnverified is wrapped by *VerifyError.
	ErrUnverified = errors.New("certificates of the node would not verify against the renewed CA")
)

// Renewal is one CA renewed in memory.
type Renewal struct {
	Role   layout.Role
	Old    *x509.Certificate
	New    *x509.Certificate
	NewPEM []byte
	// CA signs leaves with the new certificate and the unchanged key.
	CA *pki.CA
	// Verified are the certificates of the node that verify against New,
	// by node path (a kubeconfig: its client certificate).
	Verified []string
	// Warnings: a leaf that outlives the renewed CA.
	Warnings []string
}

// Unverified is a certificate of the node that names the CA as its issuer
// but does not verify against the renewed certificate.
type Unverified struct {
	Name string
	Path string
	Err  error
}

// VerifyError lists every certificate that would not verify (errors.Is
// ErrUnverified). Nothing was renewed.
type VerifyError struct {
	CA     string // the CA's role name
	Path   string // its certificate
	Failed []Unverified
}

func (e *VerifyError) Error() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s (%s): %d certificate(s) of the node would not verify against the renewed CA certificate, so the CA was not renewed:", e.CA, e.Path, len(e.Failed))
	for _, u := range e.Failed {
		fmt.Fprintf(&b, "\n  %s (%s): %v", u.Name, u.Path, u.Err)
	}
	return b.String()
}

func (e *VerifyError) Unwrap() error { return ErrUnverified }

// CAError is a CA that cannot be renewed: its files, its key or what it is.
type CAError struct {
	CA, CertPath, KeyPath string
	Err                   error
}

func (e *CAError) Error() string {
	return fmt.Sprintf("CA %s (%s, key %s): %v", e.CA, e.CertPath, e.KeyPath, e.Err)
}

func (e *CAError) Unwrap() error { return e.Err }

// Load reads a CA role's certificate and key from the node and checks that
// they can be renewed: a self-signed CA certificate and its own key.
func Load(n *nodefs.FS, r layout.Role) (*x509.Certificate, crypto.Signer, error) {
	fail := func(err error) (*x509.Certificate, crypto.Signer, error) {
		return nil, nil, &CAError{CA: r.Name, CertPath: r.CertPath, KeyPath: r.KeyPath, Err: err}
	}
	if r.KeyPath == "" {
		return fail(errors.New("its private key is not on this node: renew it where the CA key is"))
	}
	certPEM, err := n.Read(r.CertPath, pki.MaxPEMSize)
	if err != nil {
		return fail(fmt.Errorf("read certificate: %w", err))
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return fail(fmt.Errorf("certificate: %w", err))
	}
	keyPEM, err := n.Read(r.KeyPath, pki.MaxPEMSize)
	if err != nil {
		return fail(fmt.Errorf("read key: %w", err))
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return fail(fmt.Errorf("key %s: %w", r.KeyPath, err))
	}
	c := certs[0]
	if err := Check(c, key); err != nil {
		return fail(err)
	}
	return c, key, nil
}

// Check refuses what cannot be renewed on its key: a key of another
// certificate, a certificate that is not a CA, a CA that is not self-signed.
func Check(c *x509.Certificate, key crypto.Signer) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return fmt.Errorf("%w: %q has basicConstraints CA:FALSE or none", ErrNotCA, c.Subject.CommonName)
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%w: %q lacks the certSign key usage", ErrNotCA, c.Subject.CommonName)
	case !pki.PublicKeysEqual(c.PublicKey, key.Public()):
		return ErrKeyMismatch
	case !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) != nil:
		return fmt.Errorf("%w (issuer %q)", ErrNotRoot, c.Issuer.CommonName)
	}
	return nil
}

// Certificate issues the renewed certificate: old's subject bytes, key,
// signature algorithm and every extension verbatim (subject and authority
// key IDs, key usage, basic constraints, name constraints, ...), a new
// serial, valid from nb to na.
func Certificate(old *x509.Certificate, key crypto.Signer, nb, na time.Time) (*x509.Certificate, error) {
	serial, err := pki.NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            old.RawSubject,
		NotBefore:             nb,
		NotAfter:              na,
		SignatureAlgorithm:    old.SignatureAlgorithm,
		BasicConstraintsValid: old.BasicConstraintsValid,
		IsCA:                  old.IsCA,
		MaxPathLen:            old.MaxPathLen,
		MaxPathLenZero:        old.MaxPathLenZero,
		KeyUsage:              old.KeyUsage,
		ExtKeyUsage:           old.ExtKeyUsage,
		SubjectKeyId:          old.SubjectKeyId,
		AuthorityKeyId:        old.AuthorityKeyId,
		// ExtraExtensions override what the fields above would produce:
		// the renewed certificate carries the old one's extensions as they were.
		ExtraExtensions: old.Extensions,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign the renewed CA certificate %q: %w", old.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// Renew renews the CA of role r on its key and proves every certificate of
// the node it signed (items: the node's inventory) verifies against the new
// certificate. It writes nothing.
func Renew(n *nodefs.FS, r layout.Role, items []inventory.Item, o Options) (*Renewal, error) {
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Backdate == 0 {
		o.Backdate = pki.DefaultBackdate
	}
	old, key, err := Load(n, r)
	if err != nil {
		return nil, err
	}
	nb, na := pki.Window(o.Now, o.Backdate, o.Validity)
	cert, err := Certificate(old, key, nb, na)
	if err != nil {
		return nil, err
	}
	rn := &Renewal{Role: r, Old: old, New: cert, NewPEM: pki.EncodeCertificatePEM(cert.Raw), CA: &pki.CA{Cert: cert, Signer: key}}
	if err := prove(rn, items, o); err != nil {
		return nil, err
	}
	return rn, nil
}

// Adopt is the renewal of role's CA by a certificate renewed elsewhere (the
// archive of the node where the key is): cert must be a self-signed CA
// certificate with the subject and key of the node's current one, and every
// certificate of the node the CA signed must verify against it. No key is
// needed: Renewal.CA is nil.
func Adopt(n *nodefs.FS, r layout.Role, cert *x509.Certificate, items []inventory.Item, o Options) (*Renewal, error) {
	fail := func(err error) (*Renewal, error) {
		return nil, &CAError{CA: r.Name, CertPath: r.CertPath, KeyPath: r.KeyPath, Err: err}
	}
	data, err := n.Read(r.CertPath, pki.MaxPEMSize)
	if err != nil {
		return fail(fmt.Errorf("read certificate: %w", err))
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return fail(fmt.Errorf("certificate: %w", err))
	}
	old := certs[0]
	switch {
	case !SameCA(old, cert):
		return fail(fmt.Errorf("%w: %q with another subject or key is not a renewal of it", ErrNotRenewal, cert.Subject.CommonName))
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fail(fmt.Errorf("%w: %q", ErrNotCA, cert.Subject.CommonName))
	case cert.CheckSignatureFrom(cert) != nil:
		return fail(fmt.Errorf("%w: %q is not signed by its own key", ErrNotRoot, cert.Subject.CommonName))
	}
	rn := &Renewal{Role: r, Old: old, New: cert, NewPEM: pki.EncodeCertificatePEM(cert.Raw)}
	if err := prove(rn, items, o); err != nil {
		return nil, err
	}
	return rn, nil
}

// ErrNotRenewal: a certificate offered as a CA's renewal is another CA.
var ErrNotRenewal = errors.New("not a renewal of the node's CA")

// prove checks every certificate of the node that names rn.Old's subject as
// its issuer against rn.New.
func prove(rn *Renewal, items []inventory.Item, o Options) error {
	old, cert, r := rn.Old, rn.New, rn.Role
	var failed []Unverified
	seen := map[string]bool{}
	for i := range items {
		it := &items[i]
		leaf := it.Leaf()
		if leaf == nil || (it.Kind != inventory.KindCertificate && it.Kind != inventory.KindKubeconfig) {
			continue
		}
		if SameCA(leaf, old) || !bytes.Equal(leaf.RawIssuer, old.RawSubject) {
			continue // a copy of the CA itself, or another CA's certificate
		}
		p := it.Path
		if it.Resolved != "" {
			p = it.Resolved
		}
		if seen[p] || o.Reissued[p] || o.Reissued[it.Path] {
			continue
		}
		seen[p] = true
		if err := Verifies(leaf, it.Certs[1:], cert, o.Now); err != nil {
			failed = append(failed, Unverified{Name: it.Name, Path: it.Path, Err: err})
			continue
		}
		rn.Verified = append(rn.Verified, it.Path)
		if leaf.NotAfter.After(cert.NotAfter) {
			rn.Warnings = append(rn.Warnings, fmt.Sprintf("%s (%s) is valid until %s, after the renewed CA %s (until %s)", it.Name, it.Path,
				leaf.NotAfter.UTC().Format(time.DateOnly), r.Name, cert.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	if len(failed) > 0 {
		return &VerifyError{CA: r.Name, Path: r.CertPath, Failed: failed}
	}
	return nil
}

// Verifies says whether leaf (with the intermediates its file holds after
// it) verifies against ca: the signature always; when leaf is within its
// validity window at now, the whole chain at now too.
func Verifies(leaf *x509.Certificate, chain []*x509.Certificate, ca *x509.Certificate, now time.Time) error {
	signer := ca
	if len(chain) > 0 && !bytes.Equal(leaf.RawIssuer, ca.RawSubject) {
		signer = chain[0]
	}
	if err := leaf.CheckSignatureFrom(signer); err != nil {
		return fmt.Errorf("signature: %w (signed by another key under the CA's name)", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil // expired or not yet valid: its signature is what the CA renewal keeps
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// SameCA says whether a and b are the same CA: the same subject and the same
// public key (a renewal of one is the same CA; a rotation is not).
func SameCA(a, b *x509.Certificate) bool {
	return a != nil && b != nil && bytes.Equal(a.RawSubject, b.RawSubject) && pki.PublicKeysEqual(a.PublicKey, b.PublicKey)
}
