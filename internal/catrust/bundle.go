package catrust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/pki"
)

// Replace takes the certificates of the Old CAs out of a consumer and puts
// Bundle where the first of them was.
type Replace struct {
	Old    []*x509.Certificate // matched by subject and public key (SameCA)
	Bundle []*x509.Certificate // in this order
}

// Matches says whether c is a certificate of one of the Old CAs.
func (r Replace) Matches(c *x509.Certificate) bool {
	for _, o := range r.Old {
		if carenewal.SameCA(c, o) {
			return true
		}
	}
	return false
}

func (r Replace) inBundle(c *x509.Certificate) bool {
	for _, b := range r.Bundle {
		if bytes.Equal(b.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// ErrTooLarge is wrapped when a consumer's bytes exceed pki.MaxPEMSize.
var ErrTooLarge = errors.New("larger than the PEM size limit")

// Rebundle applies r to PEM text: every CERTIFICATE block of an Old CA (and
// any copy of a Bundle certificate) is removed, Bundle goes where the first
// Old one was, every other block and the text between blocks stay as they
// are. changed is false, and out is data, when data holds no Old CA. A
// CERTIFICATE block that does not parse is an error: the consumer is not
// understood, so it is not touched.
func Rebundle(data []byte, r Replace) (out []byte, changed bool, err error) {
	if len(data) > pki.MaxPEMSize {
		return nil, false, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	var b bytes.Buffer
	rest := data
	inserted := false
	n := 0
	for {
		blk, next := pem.Decode(rest)
		if blk == nil {
			break
		}
		consumed := rest[:len(rest)-len(next)]
		start := bytes.Index(consumed, []byte("-----BEGIN"))
		if start < 0 {
			start = 0
		}
		b.Write(consumed[:start])
		text := consumed[start:]
		rest = next
		if blk.Type != "CERTIFICATE" {
			b.Write(text)
			continue
		}
		n++
		c, perr := x509.ParseCertificate(blk.Bytes)
		if perr != nil {
			return nil, false, fmt.Errorf("certificate %d: %w", n, perr)
		}
		if !r.Matches(c) && !r.inBundle(c) {
			b.Write(text)
			continue
		}
		if r.Matches(c) {
			changed = true
		}
		if !inserted {
			for _, nc := range r.Bundle {
				b.Write(pki.EncodeCertificatePEM(nc.Raw))
			}
			inserted = true
		}
	}
	b.Write(rest)
	if !changed {
		return data, false, nil
	}
	if bytes.Equal(b.Bytes(), data) {
		return data, false, nil
	}
	return b.Bytes(), true, nil
}
