package inventory

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/certrescue/certrescue/internal/pki"
)

// Contents is what one PEM (or DER) file holds.
type Contents struct {
	Certs   []*x509.Certificate
	Key     crypto.PublicKey // public half of the first private key
	PubKey  crypto.PublicKey // first PUBLIC KEY block
	KeyErr  error            // the private key block could not be parsed
	CertErr error            // a CERTIFICATE block could not be parsed, or the file is cut short
	Blocks  int              // PEM blocks found
	Skipped int              // CERTIFICATE blocks beyond MaxCerts, not parsed
}

// countCertBlocks counts the certificate BEGIN lines in data.
func countCertBlocks(data []byte) int {
	n := 0
	for _, t := range []string{"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"} {
		n += bytes.Count(data, []byte("-----BEGIN "+t+"-----"))
	}
	return n
}

// MaxCerts caps the certificates parsed from one file. The largest real
// trust bundles (a distribution's ca-certificates.crt holds about 150 roots,
// exported Java or Windows stores a few hundred) fit well below it; a file
// carrying more is no cluster credential, and parsing thousands of
// certificates would make every check and exporter scan slow and large.
// Decode stops at the first certificate beyond it: the certificate blocks
// from there on are counted in Contents.Skipped, not decoded, nothing after
// them is read, and check reports the file (unexpected_trust_anchor).
const MaxCerts = 1000

var pemBegin = []byte("-----BEGIN")

// Decode reads every PEM block of data: certificates in order, the first
// private key (only its public half is kept) and the first public key. A file
// with no PEM block that parses as a DER certificate is accepted too.
// It never panics; errors are per block and name the block.
func Decode(data []byte) Contents {
	var c Contents
	if len(data) > pki.MaxPEMSize {
		c.CertErr = fmt.Errorf("%w: %d bytes, more than the %d-byte limit", ErrTooLarge, len(data), pki.MaxPEMSize)
		return c
	}
	rest := data
	for {
		b, r := pem.Decode(rest)
		if b == nil {
			if i := bytes.Index(rest, pemBegin); i >= 0 && c.CertErr == nil {
				c.CertErr = fmt.Errorf("PEM block %d is cut short or damaged (a BEGIN line without a matching END line)", c.Blocks+1)
			}
			break
		}
		rest = r
		c.Blocks++
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
			if len(c.Certs) >= MaxCerts {
				// Stop here: the rest is only counted, not even decoded.
				c.Skipped = 1 + countCertBlocks(rest)
				return c
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				if c.CertErr == nil {
					c.CertErr = fmt.Errorf("PEM block %d (%s): %w", c.Blocks, b.Type, err)
				}
				continue
			}
			c.Certs = append(c.Certs, cert)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if c.Key != nil || c.KeyErr != nil {
				continue
			}
			if b.Type == "RSA PRIVATE KEY" && len(b.Headers) == 0 {
				pub, err := rsaPublicFromPKCS1(b.Bytes)
				if err != nil {
					c.KeyErr = fmt.Errorf("PEM block %d (%s): %w", c.Blocks, b.Type, err)
				} else {
					c.Key = pub
				}
				continue
			}
			k, err := pki.ParsePrivateKeyPEM(pem.EncodeToMemory(b))
			if err != nil {
				c.KeyErr = fmt.Errorf("PEM block %d (%s): %w", c.Blocks, b.Type, err)
				continue
			}
			c.Key = k.Public()
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			if c.PubKey != nil {
				continue
			}
			var pub any
			var err error
			if b.Type == "PUBLIC KEY" {
				pub, err = x509.ParsePKIXPublicKey(b.Bytes)
			} else {
				pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
			}
			if err != nil {
				c.KeyErr = fmt.Errorf("PEM block %d (%s): %w", c.Blocks, b.Type, err)
				continue
			}
			c.PubKey = pub
		}
	}
	if c.Blocks == 0 && len(data) > 0 && data[0] == 0x30 {
		if cert, err := x509.ParseCertificate(data); err == nil {
			c.Certs = append(c.Certs, cert)
		}
	}
	return c
}

// errNoPEM explains a file without anything recognisable.
var errNoPEM = errors.New("no PEM block found: not a PEM certificate or key (empty, binary or another format?)")
