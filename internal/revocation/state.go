package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
)

// MaxStateSize caps a state file; a million revocations fit in it.
const MaxStateSize = 64 << 20

// ErrOtherCA is wrapped when a revocation list belongs to another CA than the
// one it is used with.
var ErrOtherCA = errors.New("this file belongs to another CA")

// Entry is one revoked certificate.
type Entry struct {
	Serial      string    `json:"serial"`                // lower-case hex, no colons
	RevokedAt   time.Time `json:"revoked_at"`            // UTC
	Reason      string    `json:"reason"`                // RFC 5280 name: keyCompromise, ...
	Subject     string    `json:"subject,omitempty"`     // when the certificate was known
	Fingerprint string    `json:"fingerprint,omitempty"` // SHA-256, when the certificate was known
}

// State is the revocation list of one CA, as kept in its state file.
type State struct {
	// CAFingerprint binds the file to its CA: a state file is refused for any
	// other CA, so two CAs' revocations never mix.
	CAFingerprint string  `json:"ca_fingerprint"`
	CRLNumber     int64   `json:"crl_number"` // the number of the last CRL issued
	Revoked       []Entry `json:"revoked"`
}

// DefaultPath is where the state of the CA certificate at caCert lives: beside
// it, named after it (ca.pem -> ca-revoked.json, ca.crt -> ca-revoked.json).
func DefaultPath(caCert string) string {
	base := strings.TrimSuffix(filepath.Base(caCert), filepath.Ext(caCert))
	return filepath.Join(filepath.Dir(caCert), base+"-revoked.json")
}

// Load reads the state file at path for ca. A missing file is an empty state.
// Every error names the file and the field at fault.
func Load(path string, ca *x509.Certificate) (*State, error) {
	fp := facts.Fingerprint(ca)
	data, err := pki.ReadFileLimit(path, MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{CAFingerprint: fp}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read revocations %s: %w", path, err)
	}
	st, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("revocations %s: %w", path, err)
	}
	if st.CAFingerprint != fp {
		return nil, fmt.Errorf("revocations %s: ca_fingerprint %s is not the CA's (%s): %w", path, st.CAFingerprint, fp, ErrOtherCA)
	}
	return st, nil
}

// Parse reads a state file's content and validates every field.
func Parse(data []byte) (*State, error) {
	if len(data) > MaxStateSize {
		return nil, fmt.Errorf("%d bytes, larger than the %d-byte limit", len(data), MaxStateSize)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("not a revocation state file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if st.CAFingerprint == "" {
		return nil, errors.New("ca_fingerprint: missing")
	}
	if st.CRLNumber < 0 {
		return nil, fmt.Errorf("crl_number: %d is negative", st.CRLNumber)
	}
	seen := make(map[string]bool, len(st.Revoked))
	for i, e := range st.Revoked {
		n, err := ParseSerial(e.Serial)
		if err != nil {
			return nil, fmt.Errorf("revoked[%d].serial: %w", i, err)
		}
		if n.Text(16) != e.Serial {
			return nil, fmt.Errorf("revoked[%d].serial %q: write it as lower-case hex without colons or leading zeros (%s)", i, e.Serial, n.Text(16))
		}
		if seen[e.Serial] {
			return nil, fmt.Errorf("revoked[%d].serial %s: listed twice", i, e.Serial)
		}
		seen[e.Serial] = true
		if _, ok := ReasonCode(e.Reason); !ok {
			return nil, fmt.Errorf("revoked[%d].reason %q: %s", i, e.Reason, reasonHelp)
		}
		if e.RevokedAt.IsZero() {
			return nil, fmt.Errorf("revoked[%d].revoked_at: missing", i)
		}
	}
	return &st, nil
}

// Find returns the entry for serial, if revoked.
func (s *State) Find(serial *big.Int) (Entry, bool) {
	h := serial.Text(16)
	for _, e := range s.Revoked {
		if e.Serial == h {
			return e, true
		}
	}
	return Entry{}, false
}

// Add revokes a serial; it reports false (and changes nothing) when the serial
// was already revoked.
func (s *State) Add(e Entry) bool {
	for _, old := range s.Revoked {
		if old.Serial == e.Serial {
			return false
		}
	}
	e.RevokedAt = e.RevokedAt.UTC()
	s.Revoked = append(s.Revoked, e)
	return true
}

// Save writes the state atomically (it names certificates, not keys: 0644).
func (s *State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), atomicfile.CertMode, true)
}

// ParseSerial reads a serial number as hex, with or without colons (as
// openssl and certinfo print it) and an optional 0x.
func ParseSerial(s string) (*big.Int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "0x")
	t = strings.ReplaceAll(t, ":", "")
	if t == "" || len(t) > 64 {
		return nil, fmt.Errorf("serial %q: expected 1 to 64 hex digits (as certinfo or openssl x509 -serial prints it)", s)
	}
	n, ok := new(big.Int).SetString(t, 16)
	if !ok || n.Sign() < 0 {
		return nil, fmt.Errorf("serial %q: not a hex number", s)
	}
	return n, nil
}
