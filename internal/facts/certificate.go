package facts

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"strings"
	"time"
)

// Certificate is the description of one X.509 certificate that every command
// prints and records: certinfo, check, metrics and the audit log.
type Certificate struct {
	Subject           string    `json:"subject"`
	CommonName        string    `json:"commonName"`
	Organization      []string  `json:"organization,omitempty"`
	Issuer            string    `json:"issuer"`
	IssuerCommonName  string    `json:"issuerCommonName"`
	Serial            string    `json:"serial"`
	NotBefore         time.Time `json:"notBefore"`
	NotAfter          time.Time `json:"notAfter"`
	DNSNames          []string  `json:"dnsNames,omitempty"`
	IPAddresses       []string  `json:"ipAddresses,omitempty"`
	EmailAddresses    []string  `json:"emailAddresses,omitempty"`
	URIs              []string  `json:"uris,omitempty"`
	KeyUsage          []string  `json:"keyUsage,omitempty"`
	ExtKeyUsage       []string  `json:"extKeyUsage,omitempty"`
	IsCA              bool      `json:"isCA"`
	BasicConstraints  bool      `json:"basicConstraints"`
	MaxPathLen        *int      `json:"maxPathLen,omitempty"`
	KeyAlgorithm      string    `json:"keyAlgorithm"`
	KeySize           int       `json:"keySize"`
	SignatureAlgo     string    `json:"signatureAlgorithm"`
	SubjectKeyID      string    `json:"subjectKeyId,omitempty"`
	AuthorityKeyID    string    `json:"authorityKeyId,omitempty"`
	FingerprintSHA256 string    `json:"sha256Fingerprint"`
}

// Describe extracts the facts of a parsed certificate.
func Describe(c *x509.Certificate) Certificate {
	d := Certificate{
		Subject:           c.Subject.String(),
		CommonName:        c.Subject.CommonName,
		Organization:      c.Subject.Organization,
		Issuer:            c.Issuer.String(),
		IssuerCommonName:  c.Issuer.CommonName,
		Serial:            SerialHex(c),
		NotBefore:         c.NotBefore.UTC(),
		NotAfter:          c.NotAfter.UTC(),
		DNSNames:          c.DNSNames,
		EmailAddresses:    c.EmailAddresses,
		KeyUsage:          KeyUsageNames(c.KeyUsage),
		ExtKeyUsage:       ExtKeyUsageNames(c.ExtKeyUsage),
		IsCA:              c.IsCA,
		BasicConstraints:  c.BasicConstraintsValid,
		SignatureAlgo:     c.SignatureAlgorithm.String(),
		SubjectKeyID:      colonHex(c.SubjectKeyId),
		AuthorityKeyID:    colonHex(c.AuthorityKeyId),
		FingerprintSHA256: Fingerprint(c),
	}
	for _, ip := range c.IPAddresses {
		d.IPAddresses = append(d.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		d.URIs = append(d.URIs, u.String())
	}
	if c.BasicConstraintsValid && c.IsCA && (c.MaxPathLen > 0 || c.MaxPathLenZero) {
		n := c.MaxPathLen
		d.MaxPathLen = &n
	}
	d.KeyAlgorithm, d.KeySize = PublicKeyInfo(c.PublicKey)
	return d
}

// Fingerprint is the SHA-256 of the DER certificate, lower-case hex with colons
// (the form `openssl x509 -fingerprint -sha256` prints, lower-cased).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return colonHex(sum[:])
}

// SerialHex is the serial number as lower-case hex, as cfssl and Kubernetes print it.
func SerialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return c.SerialNumber.Text(16)
}

// PublicKeyInfo names a public key's algorithm and size in bits (curve size for
// ECDSA, 256 for Ed25519).
func PublicKeyInfo(pub any) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	default:
		return "unknown", 0
	}
}

func colonHex(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// IPStrings formats IP addresses.
func IPStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}
