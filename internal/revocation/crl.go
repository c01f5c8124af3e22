package revocation

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// reasons are RFC 5280's CRLReason names and codes (5.3.1). certificateHold and
// removeFromCRL are left out: a revocation here is final.
var reasons = []struct {
	name string
	code int
}{
	{"unspecified", 0}, {"keyCompromise", 1}, {"cACompromise", 2}, {"affiliationChanged", 3},
	{"superseded", 4}, {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9}, {"aACompromise", 10},
}

var reasonHelp = func() string {
	names := make([]string, len(reasons))
	for i, r := range reasons {
		names[i] = r.name
	}
	return "use one of " + strings.Join(names, ", ")
}()

// ReasonCode returns the RFC 5280 code of a reason name (case-insensitive).
func ReasonCode(name string) (int, bool) {
	for _, r := range reasons {
		if strings.EqualFold(r.name, name) {
			return r.code, true
		}
	}
	return 0, false
}

// CanonicalReason returns the RFC 5280 spelling of a reason name, or an error
// listing the valid ones.
func CanonicalReason(name string) (string, error) {
	for _, r := range reasons {
		if strings.EqualFold(r.name, name) {
			return r.name, nil
		}
	}
	return "", fmt.Errorf("reason %q: %s", name, reasonHelp)
}

// ErrNoCRLSign is wrapped when the CA may not sign CRLs.
var ErrNoCRLSign = errors.New("the CA certificate lacks the crl sign key usage")

// CRL is a signed certificate revocation list.
type CRL struct {
	PEM        []byte
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
}

// BuildCRL signs a CRL of every revoked serial in st with ca, numbered
// st.CRLNumber+1 (the caller saves st after bumping CRLNumber). now is
// ThisUpdate; NextUpdate is now+validity.
func BuildCRL(ca *pki.CA, st *State, now time.Time, validity time.Duration) (*CRL, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("next update %s: must be positive", validity)
	}
	if ca.Cert.KeyUsage != 0 && ca.Cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, fmt.Errorf("%w (RFC 5280 4.2.1.3): verifiers reject CRLs it signs. kubeadm's CAs are made without it; a CA from 'certrescue ca init' has it", ErrNoCRLSign)
	}
	issuer := ca.Cert
	if issuer.KeyUsage == 0 {
		// No keyUsage extension: every usage is allowed; Go's check wants the bit.
		c := *issuer
		c.KeyUsage = x509.KeyUsageCRLSign
		issuer = &c
	}
	crl := &CRL{Number: st.CRLNumber + 1, ThisUpdate: now.UTC().Truncate(time.Second)}
	crl.NextUpdate = crl.ThisUpdate.Add(validity)
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(crl.Number),
		ThisUpdate: crl.ThisUpdate,
		NextUpdate: crl.NextUpdate,
	}
	for _, e := range st.Revoked {
		serial, err := ParseSerial(e.Serial)
		if err != nil {
			return nil, err
		}
		code, _ := ReasonCode(e.Reason)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: serial, RevocationTime: e.RevokedAt.UTC(), ReasonCode: code,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, ca.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	crl.PEM = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	crl.Entries = len(tmpl.RevokedCertificateEntries)
	return crl, nil
}
