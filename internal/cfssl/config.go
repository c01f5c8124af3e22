package cfssl

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

// Config is cfssl's ca-config.json.
type Config struct {
	Signing *Signing `json:"signing"`
}

// Signing holds the default profile and the named ones.
type Signing struct {
	Default  *Profile            `json:"default,omitempty"`
	Profiles map[string]*Profile `json:"profiles,omitempty"`
}

// Profile is one signing profile, with cfssl's field names.
type Profile struct {
	Usages       []string      `json:"usages,omitempty"`
	Expiry       string        `json:"expiry,omitempty"`
	Backdate     string        `json:"backdate,omitempty"`
	CAConstraint *CAConstraint `json:"ca_constraint,omitempty"`
	NotBefore    *time.Time    `json:"not_before,omitempty"`
	NotAfter     *time.Time    `json:"not_after,omitempty"`
	OCSPURL      string        `json:"ocsp_url,omitempty"`
	CRLURL       string        `json:"crl_url,omitempty"`
	IssuerURLs   []string      `json:"issuer_urls,omitempty"`
}

// CAConstraint lets a profile issue intermediate CAs.
type CAConstraint struct {
	IsCA           bool `json:"is_ca"`
	MaxPathLen     int  `json:"max_path_len"`
	MaxPathLenZero bool `json:"max_path_len_zero"`
}

// Policy is a profile resolved into what the signer needs.
type Policy struct {
	Name           string
	KeyUsage       x509.KeyUsage
	ExtKeyUsage    []x509.ExtKeyUsage
	Expiry         time.Duration
	Backdate       time.Duration
	IsCA           bool
	MaxPathLen     int
	MaxPathLenZero bool
	NotBefore      time.Time // fixed start from the profile, if any
	NotAfter       time.Time // fixed end from the profile, if any
	OCSPServer     []string
	CRLURLs        []string
	IssuingURLs    []string
}

// DefaultLeafExpiry is cfssl's default leaf lifetime: one year.
const DefaultLeafExpiry = 365 * 24 * time.Hour

// DefaultUsages are cfssl's usages when no configuration is given.
var DefaultUsages = []string{"signing", "key encipherment", "server auth", "client auth"}

// knownProfileFields are the profile keys cfssl 1.6 defines; the ones certrescue
// does not act on (auth_key, remote, ...) are accepted and reported as ignored.
var knownProfileFields = map[string]bool{
	"usages": true, "expiry": true, "backdate": true, "ca_constraint": true, "not_before": true,
	"not_after": true, "ocsp_url": true, "crl_url": true, "issuer_urls": true,
}
var ignoredProfileFields = map[string]bool{
	"auth_key": true, "auth_remote": true, "remote": true, "name_whitelist": true, "copy_extensions": true,
	"policies": true, "lint_error_level": true, "ignored_lints": true, "allowed_extensions": true,
	"cert_store": true, "ocsp_no_check": true, "expiry_string": true,
}

// ParseConfig reads a ca-config.json; name is the file, for messages. Warnings
// list fields that are not acted on (misspelt or unsupported), so a typo such as
// "usage" for "usages" does not pass silently.
func ParseConfig(name string, data []byte) (*Config, []string, error) {
	var c Config
	if err := decode(name, data, &c); err != nil {
		return nil, nil, err
	}
	if c.Signing == nil {
		return nil, nil, fmt.Errorf("%s: field \"signing\": missing; a ca-config.json needs {\"signing\": {\"default\": {...}, \"profiles\": {...}}}", name)
	}
	var warnings []string
	var raw struct {
		Signing struct {
			Default  map[string]json.RawMessage            `json:"default"`
			Profiles map[string]map[string]json.RawMessage `json:"profiles"`
		} `json:"signing"`
	}
	_ = json.Unmarshal(data, &raw) // already decoded once above; shape errors are reported there
	check := func(field string, p map[string]json.RawMessage) {
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !knownProfileFields[k] && !ignoredProfileFields[k] {
				warnings = append(warnings, fmt.Sprintf("%s: field %q: unknown, ignored (known fields: usages, expiry, backdate, ca_constraint, not_before, not_after, ocsp_url, crl_url, issuer_urls)", name, field+"."+k))
			} else if ignoredProfileFields[k] {
				warnings = append(warnings, fmt.Sprintf("%s: field %q: not supported by certrescue, ignored", name, field+"."+k))
			}
		}
	}
	check("signing.default", raw.Signing.Default)
	for _, pn := range sortedKeys(raw.Signing.Profiles) {
		check("signing.profiles."+pn, raw.Signing.Profiles[pn])
	}
	if c.Signing.Default != nil {
		if _, err := c.resolve("signing.default", "", c.Signing.Default); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, pn := range sortedKeys(c.Signing.Profiles) {
		if _, err := c.resolve("signing.profiles."+pn, pn, c.Signing.Profiles[pn]); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &c, warnings, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ProfileNames lists the named profiles.
func (c *Config) ProfileNames() []string { return sortedKeys(c.Signing.Profiles) }

// Policy resolves the named profile; "" means signing.default. A nil Config is
// cfssl's built-in default (one year, signing, key encipherment, server and
// client auth).
func (c *Config) Policy(profile string) (*Policy, error) {
	if c == nil || c.Signing == nil {
		if profile != "" {
			return nil, fmt.Errorf("profile %q: no -config given, so there are no profiles", profile)
		}
		return (&Config{}).resolve("default", "", &Profile{Usages: DefaultUsages})
	}
	if profile == "" {
		p := c.Signing.Default
		if p == nil {
			p = &Profile{Usages: DefaultUsages}
		}
		return c.resolve("signing.default", "", p)
	}
	p, ok := c.Signing.Profiles[profile]
	if !ok || p == nil {
		names := c.ProfileNames()
		if len(names) == 0 {
			return nil, fmt.Errorf("field \"signing.profiles\": unknown profile %q: the file defines no profiles", profile)
		}
		return nil, fmt.Errorf("field \"signing.profiles\": unknown profile %q: valid profiles are %s", profile, strings.Join(names, ", "))
	}
	return c.resolve("signing.profiles."+profile, profile, p)
}

func (c *Config) resolve(field, name string, p *Profile) (*Policy, error) {
	pol := &Policy{Name: name, Expiry: DefaultLeafExpiry}
	usages := p.Usages
	if len(usages) == 0 && name == "" {
		// cfssl accepts a default profile with only an expiry (the common
		// {"default": {"expiry": "8760h"}}); it then signs with cfssl's default usages.
		usages = DefaultUsages
	}
	if len(usages) == 0 {
		return nil, fmt.Errorf("field %q: no usages; list some of: %s", field+".usages", strings.Join(ValidUsages(), ", "))
	}
	for i, u := range usages {
		key := strings.ToLower(strings.TrimSpace(u))
		if ku, ok := facts.KeyUsages[key]; ok {
			pol.KeyUsage |= ku
		} else if eku, ok := facts.ExtKeyUsages[key]; ok {
			if !slices.Contains(pol.ExtKeyUsage, eku) {
				pol.ExtKeyUsage = append(pol.ExtKeyUsage, eku)
			}
		} else {
			return nil, fmt.Errorf("field \"%s.usages[%d]\": unknown usage %q; valid usages are: %s", field, i, u, strings.Join(ValidUsages(), ", "))
		}
	}
	expiry := p.Expiry
	if expiry == "" && c.Signing != nil && c.Signing.Default != nil {
		expiry = c.Signing.Default.Expiry
	}
	if expiry != "" {
		d, err := ParseDuration(expiry)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", field+".expiry", err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("field %q: must be positive", field+".expiry")
		}
		pol.Expiry = d
	}
	pol.Backdate = 0
	if p.Backdate != "" {
		d, err := ParseDuration(p.Backdate)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", field+".backdate", err)
		}
		pol.Backdate = d
	}
	if cc := p.CAConstraint; cc != nil {
		if cc.MaxPathLen < 0 {
			return nil, fmt.Errorf("field %q: must not be negative", field+".ca_constraint.max_path_len")
		}
		pol.IsCA, pol.MaxPathLen, pol.MaxPathLenZero = cc.IsCA, cc.MaxPathLen, cc.MaxPathLenZero
	}
	if p.NotBefore != nil {
		pol.NotBefore = p.NotBefore.UTC()
	}
	if p.NotAfter != nil {
		pol.NotAfter = p.NotAfter.UTC()
	}
	if !pol.NotBefore.IsZero() && !pol.NotAfter.IsZero() && !pol.NotAfter.After(pol.NotBefore) {
		return nil, fmt.Errorf("field %q: not after not_before", field+".not_after")
	}
	if p.OCSPURL != "" {
		pol.OCSPServer = []string{p.OCSPURL}
	}
	if p.CRLURL != "" {
		pol.CRLURLs = []string{p.CRLURL}
	}
	pol.IssuingURLs = p.IssuerURLs
	return pol, nil
}

// ValidUsages lists every usage name a profile may contain.
func ValidUsages() []string {
	var out []string
	for k := range facts.KeyUsages {
		out = append(out, k)
	}
	for k := range facts.ExtKeyUsages {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Window is the validity the policy gives a certificate issued at now: the
// profile's fixed not_before/not_after where set, else now minus the backdate
// (default five minutes) for the profile's expiry.
func (p *Policy) Window(now time.Time) (time.Time, time.Time) {
	backdate := p.Backdate
	if backdate == 0 {
		backdate = 5 * time.Minute
	}
	nb := now.UTC().Round(time.Minute).Add(-backdate)
	if !p.NotBefore.IsZero() {
		nb = p.NotBefore
	}
	na := nb.Add(p.Expiry)
	if !p.NotAfter.IsZero() {
		na = p.NotAfter
	}
	return nb, na
}
