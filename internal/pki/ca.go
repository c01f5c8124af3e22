package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

// CA is a signing certificate and the signer for its key. The signer is a
// crypto.Signer so a CA key can live elsewhere (an HSM or Vault) later.
type CA struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
}

// ErrCAExpired is wrapped when a CA is outside its validity window (see
// ValidityError).
var ErrCAExpired = errors.New("CA certificate is not valid now")

// LoadCA reads a CA certificate and its private key from files, in any format
// ParseCertificatesPEM and ParsePrivateKeyPEM accept, and checks they belong
// together. Errors name the file at fault.
func LoadCA(certPath, keyPath string) (*CA, error) { return LoadCAFrom(ReadFile, certPath, keyPath) }

// LoadCAFrom is LoadCA reading through read (a node's view of its disk).
func LoadCAFrom(read func(string) ([]byte, error), certPath, keyPath string) (*CA, error) {
	certPEM, err := read(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate %s: %w", certPath, err)
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certPath, err)
	}
	keyPEM, err := read(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key %s: %w", keyPath, err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", keyPath, err)
	}
	ca, err := NewCA(certs[0], key)
	if err != nil {
		return nil, fmt.Errorf("CA %s with key %s: %w", certPath, keyPath, err)
	}
	return ca, nil
}

// NewCA pairs a certificate with its key, refusing a key that does not match or a
// certificate that is not a CA.
func NewCA(cert *x509.Certificate, key crypto.Signer) (*CA, error) {
	if !PublicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("the private key does not match the CA certificate's public key (wrong key file?)")
	}
	if cert.BasicConstraintsValid && !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA (basicConstraints CA:FALSE)", cert.Subject.CommonName)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q lacks the cert sign key usage", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, Signer: key}, nil
}

// CheckValidAt refuses a CA that is expired or not yet valid at now, saying when,
// unless allowExpired is set. The error is a *ValidityError (errors.Is
// ErrCAExpired); the command layer adds how to go ahead anyway.
func (ca *CA) CheckValidAt(now time.Time, allowExpired bool) error {
	c := ca.Cert
	if allowExpired || (!now.After(c.NotAfter) && !now.Before(c.NotBefore)) {
		return nil
	}
	return &ValidityError{Name: c.Subject.CommonName, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Now: now}
}

// ValidityError is a CA used outside its validity window.
type ValidityError struct {
	Name                string // the CA's common name
	NotBefore, NotAfter time.Time
	Now                 time.Time // when it was to be used
}

// NotYetValid says whether the CA's window has not begun (a clock that is
// behind, more often than not) rather than ended.
func (e *ValidityError) NotYetValid() bool { return e.Now.Before(e.NotBefore) }

func (e *ValidityError) Error() string {
	if e.NotYetValid() {
		return fmt.Sprintf("%v: %q is not valid until %s; check this machine's clock",
			ErrCAExpired, e.Name, e.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%v: %q expired %s (%s ago); leaves it signs will not verify",
		ErrCAExpired, e.Name, e.NotAfter.UTC().Format(time.RFC3339), e.Now.Sub(e.NotAfter).Round(time.Second))
}

func (e *ValidityError) Unwrap() error { return ErrCAExpired }

// Describe returns the CA certificate's facts.
func (ca *CA) Describe() facts.Certificate { return facts.Describe(ca.Cert) }

// ReadFile reads a PEM file with the same size cap the parsers apply.
func ReadFile(path string) ([]byte, error) { return ReadFileLimit(path, MaxPEMSize) }

// ReadFileLimit reads a regular file of at most limit bytes; anything else (a
// directory, a FIFO, a file that is or grows too large) is an error, so a
// parser never sees more than it caps.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%d bytes, larger than the %d-byte limit", fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("grew past the %d-byte limit while being read", limit)
	}
	return data, nil
}
