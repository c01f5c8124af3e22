package due

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
)

// DefaultBefore is --before's default: a third of the lifetime left.
const DefaultBefore = "1/3"

// maxPolicyInput caps what ParsePolicy reads.
const maxPolicyInput = 64

// Policy says how close to expiry a certificate is due. Exactly one of
// Margin and Share is set.
type Policy struct {
	// Margin: due when less than this is left before NotAfter.
	Margin time.Duration
	// Share: due when less than this share (0 < Share < 1) of the
	// certificate's lifetime (NotAfter - NotBefore) is left.
	Share float64
}

// Default is a third of each certificate's lifetime.
func Default() Policy { return Policy{Share: 1.0 / 3} }

// ErrPolicy is wrapped by every ParsePolicy error.
var ErrPolicy = errors.New("invalid renewal margin")

// ParsePolicy reads a margin: a share of the lifetime ("1/3", "33%",
// "0.25") or a duration ("30d", "720h", "1y"). "" is Default.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Default(), nil
	}
	if len(s) > maxPolicyInput {
		return Policy{}, fmt.Errorf("%w: %d characters, at most %d", ErrPolicy, len(s), maxPolicyInput)
	}
	share, isShare, err := parseShare(s)
	if isShare {
		if err != nil {
			return Policy{}, err
		}
		if !(share > 0 && share < 1) {
			return Policy{}, fmt.Errorf("%w: %q: the share of the lifetime must be between 0 and 1 (1/3, 33%%)", ErrPolicy, s)
		}
		return Policy{Share: share}, nil
	}
	d, err := cfssl.ParseDuration(s)
	if err != nil {
		return Policy{}, fmt.Errorf("%w: %q: use a share of the lifetime (1/3, 33%%) or a duration (30d, 720h)", ErrPolicy, s)
	}
	if d <= 0 {
		return Policy{}, fmt.Errorf("%w: %q: the margin must be longer than zero", ErrPolicy, s)
	}
	return Policy{Margin: d}, nil
}

// parseShare reads "a/b", "n%" or a plain number; isShare says s had one
// of those shapes (a duration has a unit letter).
func parseShare(s string) (float64, bool, error) {
	bad := func() (float64, bool, error) {
		return 0, true, fmt.Errorf("%w: %q: use a share of the lifetime (1/3, 33%%) or a duration (30d, 720h)", ErrPolicy, s)
	}
	if a, b, ok := strings.Cut(s, "/"); ok {
		n, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
		m, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if err1 != nil || err2 != nil || m == 0 {
			return bad()
		}
		return n / m, true, nil
	}
	if n, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return bad()
		}
		return v / 100, true, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, true, nil
	}
	return 0, false, nil
}

// String is the policy as --before reads it back.
func (p Policy) String() string {
	if p.Margin > 0 {
		if p.Margin%(24*time.Hour) == 0 {
			return fmt.Sprintf("%dd", p.Margin/(24*time.Hour))
		}
		return p.Margin.String()
	}
	if p.Share == 1.0/3 {
		return "1/3"
	}
	return strconv.FormatFloat(p.Share*100, 'f', -1, 64) + "%"
}

// Describe says the policy in words, for output.
func (p Policy) Describe() string {
	if p.Margin > 0 {
		return "within " + p.String() + " of expiry"
	}
	if p.Share == 1.0/3 {
		return "with less than a third of its lifetime left"
	}
	return "with less than " + p.String() + " of its lifetime left"
}

// Reasons a certificate is due.
const (
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not yet valid"
	ReasonMargin      = "within the margin"
)

// Decision is whether one certificate is due.
type Decision struct {
	Due    bool
	Reason string // one of the Reason constants when Due
	// At is when the certificate becomes (or became) due: NotAfter minus
	// the margin.
	At time.Time
	// Left is the time from now to NotAfter (negative when expired).
	Left time.Duration
}

// Decide says whether a certificate valid from notBefore to notAfter is
// due at now.
func (p Policy) Decide(now, notBefore, notAfter time.Time) Decision {
	d := Decision{At: notAfter.Add(-p.margin(notBefore, notAfter)), Left: notAfter.Sub(now)}
	switch {
	case !now.Before(notAfter):
		d.Due, d.Reason = true, ReasonExpired
	case now.Before(notBefore):
		d.Due, d.Reason = true, ReasonNotYetValid
	case !now.Before(d.At):
		d.Due, d.Reason = true, ReasonMargin
	}
	return d
}

// margin is how long before notAfter a certificate becomes due.
func (p Policy) margin(notBefore, notAfter time.Time) time.Duration {
	if p.Margin > 0 {
		return p.Margin
	}
	life := notAfter.Sub(notBefore)
	if life <= 0 {
		return 0
	}
	return time.Duration(float64(life) * p.Share)
}
