package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificatesPEM returns every CERTIFICATE block in data, in order. Other
// block types are skipped; data with no certificate is an error.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("certificate file is %d bytes, larger than the %d-byte limit", len(data), MaxPEMSize)
	}
	var certs []*x509.Certificate
	rest := data
	for i := 1; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", i, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// EncodeCertificatePEM wraps DER bytes in a CERTIFICATE block.
func EncodeCertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// EncodeCSRPEM wraps DER bytes in a CERTIFICATE REQUEST block.
func EncodeCSRPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// ParseCSRPEM reads the first certificate request in data (openssl's "NEW
// CERTIFICATE REQUEST" spelling too) and checks its self-signature.
func ParseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	csrs, err := parseCSRs(data, 1)
	if err != nil {
		return nil, err
	}
	return csrs[0], nil
}

// ParseCSRsPEM reads every certificate request in data, in order, and
// checks each one's self-signature; the error names the first that fails
// (its position, from 1). Blocks of other types are skipped.
func ParseCSRsPEM(data []byte) ([]*x509.CertificateRequest, error) {
	return parseCSRs(data, -1)
}

// parseCSRs reads up to limit requests (all with a negative limit).
func parseCSRs(data []byte, limit int) ([]*x509.CertificateRequest, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("CSR file is %d bytes, larger than the %d-byte limit", len(data), MaxPEMSize)
	}
	var out []*x509.CertificateRequest
	rest := data
	for limit < 0 || len(out) < limit {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			continue
		}
		where := ""
		if limit != 1 {
			where = fmt.Sprintf(" %d", len(out)+1)
		}
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate request%s: %w", where, err)
		}
		if err := csr.CheckSignature(); err != nil {
			return nil, fmt.Errorf("certificate request%s signature: %w", where, err)
		}
		out = append(out, csr)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE REQUEST block found")
	}
	return out, nil
}
