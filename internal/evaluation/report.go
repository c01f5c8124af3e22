package evaluation

import (
	"crypto/x509"
	"strconv"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// Policy is what the operator asked for.
type Policy struct {
	// Warn and Critical are the residual times below which a certificate is
	// expiring (warning, then critical).
	Warn     time.Duration
	Critical time.Duration
	// ExpectSANs are names and addresses the API server certificate must
	// carry in addition to what the manifests and kubeconfigs say (--expect-san).
	ExpectSANs []string
	// MinRSABits and MinECBits are the smallest acceptable key sizes.
	MinRSABits int
	MinECBits  int
	// Expected are CA certificates expected in trust bundles besides the
	// node's CAs: the new CAs of a rotation in progress (certrescue ca
	// rotate keeps the old and the new side by side until it is done).
	Expected []*x509.Certificate
}

// Default thresholds.
const (
	DefaultWarn     = 30 * 24 * time.Hour
	DefaultCritical = 7 * 24 * time.Hour
)

// DefaultPolicy is check's default: warn at 30 days, critical at 7, RSA 2048
// and ECDSA P-256 at least.
func DefaultPolicy() Policy {
	return Policy{Warn: DefaultWarn, Critical: DefaultCritical, MinRSABits: 2048, MinECBits: 256}
}

// Finding is one thing wrong with one item.
type Finding struct {
	Reason   facts.Reason   `json:"reason"`
	Severity facts.Severity `json:"severity"`
	Path     string         `json:"path,omitempty"` // the file (or endpoint) at fault
	Message  string         `json:"message"`
	// Values are the names or addresses the finding is about, for callers
	// that act on them: san_missing lists the missing SANs.
	Values []string `json:"values,omitempty"`
}

// Result is an item and what was found about it.
type Result struct {
	Name     string         `json:"name"`
	Kind     inventory.Kind `json:"kind"`
	Role     string         `json:"role,omitempty"`
	Path     string         `json:"path"`
	Resolved string         `json:"resolved,omitempty"`
	KeyPath  string         `json:"keyPath,omitempty"`
	CA       string         `json:"ca,omitempty"` // the CA that signed it: its item name, else its issuer CN
	// CAPath is the node path of the CA certificate on the node that
	// verifies it: the signer renew and rescue sign its renewal with.
	CAPath     string         `json:"caPath,omitempty"`
	IsCA       bool           `json:"isCA"`
	NotBefore  *time.Time     `json:"notBefore,omitempty"`
	NotAfter   *time.Time     `json:"notAfter,omitempty"`
	Residual   *Duration      `json:"residualSeconds,omitempty"`
	Status     facts.Severity `json:"status"`
	Findings   []Finding      `json:"findings"`
	Notes      []string       `json:"notes,omitempty"`
	Sources    []string       `json:"sources,omitempty"`
	Components []string       `json:"components,omitempty"`
	// Certificate is the leaf's facts; Evaluate leaves it nil (describing
	// thousands of certificates costs time a table does not need) and callers
	// that print JSON fill it with Describe.
	Certificate *facts.Certificate         `json:"certificate,omitempty"`
	Kubeconfig  *inventory.KubeconfigFacts `json:"kubeconfig,omitempty"`
	Served      *inventory.ServedFacts     `json:"served,omitempty"`

	Cert *x509.Certificate `json:"-"`
}

// Describe fills Certificate from Cert.
func (r *Result) Describe() {
	if r.Cert != nil && r.Certificate == nil {
		d := facts.Describe(r.Cert)
		r.Certificate = &d
	}
}

// Has reports whether the result has a finding with this reason.
func (r *Result) Has(reason facts.Reason) bool {
	for _, f := range r.Findings {
		if f.Reason == reason {
			return true
		}
	}
	return false
}

// Duration is a residual time, in whole seconds in JSON.
type Duration time.Duration

// MarshalJSON writes seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(time.Duration(d)/time.Second), 10), nil
}

// Report is the outcome of a check.
type Report struct {
	Now     time.Time            `json:"now"`
	Status  facts.Severity       `json:"status"`
	Counts  map[facts.Reason]int `json:"counts"`
	Results []Result             `json:"results"`
	Policy  PolicySummary        `json:"policy"`
}

// PolicySummary is the policy as JSON shows it.
type PolicySummary struct {
	WarnDays     int      `json:"warnDays"`
	CriticalDays int      `json:"criticalDays"`
	ExpectSANs   []string `json:"expectSANs,omitempty"`
}
