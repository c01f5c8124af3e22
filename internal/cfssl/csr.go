package cfssl

import (
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// Request is cfssl's CSR JSON (the file given to `cfssl gencert`).
type Request struct {
	CN           string      `json:"CN"`
	Names        []Name      `json:"names,omitempty"`
	Hosts        []string    `json:"hosts,omitempty"`
	Key          *KeyRequest `json:"key,omitempty"`
	CA           *CAConfig   `json:"ca,omitempty"`
	SerialNumber string      `json:"serialnumber,omitempty"`
}

// Name is one entry of a request's "names": the subject's attributes.
type Name struct {
	C            string `json:"C,omitempty"`
	ST           string `json:"ST,omitempty"`
	L            string `json:"L,omitempty"`
	O            string `json:"O,omitempty"`
	OU           string `json:"OU,omitempty"`
	E            string `json:"E,omitempty"`
	SerialNumber string `json:"SerialNumber,omitempty"`
}

// KeyRequest is a request's "key" object.
type KeyRequest struct {
	Algo string `json:"algo"`
	Size int    `json:"size"`
}

// CAConfig is a request's "ca" object, read by `initca`.
type CAConfig struct {
	PathLength  int    `json:"pathlen,omitempty"`
	PathLenZero bool   `json:"pathlenzero,omitempty"`
	Expiry      string `json:"expiry,omitempty"`
	Backdate    string `json:"backdate,omitempty"`
}

// DefaultCAExpiry is certrescue's CA lifetime: ten years. cfssl's default of five
// years leaves a CA expiring before (or together with) the leaves it signed.
const DefaultCAExpiry = 10 * 365 * 24 * time.Hour

// ParseRequest reads a CSR JSON document; name is the file, for messages.
func ParseRequest(name string, data []byte) (*Request, error) {
	var r Request
	if err := decode(name, data, &r); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.CN) == "" && len(r.Names) == 0 {
		return nil, fmt.Errorf("%s: field \"CN\": a common name (or at least one entry in \"names\") is required", name)
	}
	if _, err := r.KeySpec(); err != nil {
		return nil, fmt.Errorf("%s: field \"key\": %w", name, err)
	}
	if r.CA != nil {
		if r.CA.PathLength < 0 {
			return nil, fmt.Errorf("%s: field \"ca.pathlen\": must not be negative", name)
		}
		for field, v := range map[string]string{"ca.expiry": r.CA.Expiry, "ca.backdate": r.CA.Backdate} {
			if v == "" {
				continue
			}
			if _, err := ParseDuration(v); err != nil {
				return nil, fmt.Errorf("%s: field %q: %w", name, field, err)
			}
		}
	}
	// "hosts": [""] is common in binary-install guides' client CSRs; cfssl
	// accepts it, and SplitHosts skips empty entries.
	return &r, nil
}

// KeySpec is the key the request asks for, with cfssl's default (ECDSA P-256).
func (r *Request) KeySpec() (pki.KeySpec, error) {
	if r.Key == nil {
		return pki.DefaultKeySpec, nil
	}
	return pki.KeySpec{Algo: r.Key.Algo, Size: r.Key.Size}.Normalize()
}

// Subject builds the X.509 subject the way cfssl does: CN plus every "names"
// entry's attributes, in order.
func (r *Request) Subject() pkix.Name {
	n := pkix.Name{CommonName: r.CN, SerialNumber: r.SerialNumber}
	add := func(v string, to *[]string) {
		if v != "" {
			*to = append(*to, v)
		}
	}
	for _, nm := range r.Names {
		add(nm.C, &n.Country)
		add(nm.ST, &n.Province)
		add(nm.L, &n.Locality)
		add(nm.O, &n.Organization)
		add(nm.OU, &n.OrganizationalUnit)
		if nm.SerialNumber != "" {
			n.SerialNumber = nm.SerialNumber
		}
		if nm.E != "" {
			n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: nm.E})
		}
	}
	return n
}

var oidEmailAddress = []int{1, 2, 840, 113549, 1, 9, 1}

// Hosts are a certificate's subject alternative names, split as cfssl splits
// them: IP addresses, then e-mail addresses, then absolute URIs, else DNS names.
type Hosts struct {
	DNS    []string
	IPs    []net.IP
	Emails []string
	URIs   []*url.URL
}

// SplitHosts sorts host strings into SAN kinds.
func SplitHosts(hosts []string) Hosts {
	var h Hosts
	for _, s := range hosts {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			h.IPs = append(h.IPs, ip)
		} else if a, err := mail.ParseAddress(s); err == nil && a.Address == s {
			h.Emails = append(h.Emails, s)
		} else if u, err := url.ParseRequestURI(s); err == nil && u.Scheme != "" && u.Host != "" {
			h.URIs = append(h.URIs, u)
		} else {
			h.DNS = append(h.DNS, s)
		}
	}
	return h
}

// ParseHostnameFlag splits cfssl's -hostname value (comma-separated).
func ParseHostnameFlag(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
