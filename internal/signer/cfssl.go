package signer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// CFSSL signs through a remote `cfssl serve` (cfssl's API: a JSON request
// POSTed to /api/v1/cfssl/sign, or wrapped with an HMAC-SHA256 token to
// /api/v1/cfssl/authsign when the profile has an auth_key). The server's
// profile decides usages and lifetime; subject and SANs come from the CSR
// and the request's hosts.
type CFSSL struct {
	URL     string // base URL: http(s)://host:port
	Profile string // the server's profile ("" for its default)
	Label   string // the signer label (multirootca); "" for the default
	// AuthKey is the profile's HMAC key, decoded from cfssl's hex form
	// (ParseAuthKey); nil calls the unauthenticated sign endpoint.
	AuthKey []byte
	Client  *http.Client // nil: HTTPClient(nil, 0)

	once  sync.Once
	chain []*x509.Certificate
	caErr error
}

// ParseAuthKey decodes a cfssl auth key: hex, as cfssl's "auth_keys" hold it.
// The error never repeats the key.
func ParseAuthKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) == 0 {
		return nil, errors.New("not a hex key (cfssl's auth_keys hold the key in hex, such as 32 random bytes written with 'openssl rand -hex 32')")
	}
	return k, nil
}

// cfsslSignRequest is the body cfssl's sign handlers read.
type cfsslSignRequest struct {
	Hosts   []string `json:"hosts,omitempty"`
	Request string   `json:"certificate_request"`
	Profile string   `json:"profile,omitempty"`
	Label   string   `json:"label,omitempty"`
}

// cfsslAuthRequest is cfssl's auth.AuthenticatedRequest: byte fields travel
// as base64, as encoding/json writes []byte.
type cfsslAuthRequest struct {
	Token   []byte `json:"token"`
	Request []byte `json:"request"`
}

// cfsslResponse is cfssl's api.Response.
type cfsslResponse struct {
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Sign sends the CSR to the sign (or authsign) endpoint.
func (c *CFSSL) Sign(ctx context.Context, r Request) (*Result, error) {
	csr, err := r.CSRPEM()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(cfsslSignRequest{Hosts: hosts(r), Request: string(csr), Profile: c.Profile, Label: c.Label})
	if err != nil {
		return nil, err
	}
	endpoint := "/api/v1/cfssl/sign"
	if c.AuthKey != nil {
		mac := hmac.New(sha256.New, c.AuthKey)
		mac.Write(body)
		if body, err = json.Marshal(cfsslAuthRequest{Token: mac.Sum(nil), Request: body}); err != nil {
			return nil, err
		}
		endpoint = "/api/v1/cfssl/authsign"
	}
	var res struct {
		Certificate string `json:"certificate"`
	}
	if err := c.call(ctx, endpoint, body, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	certs, err := parsePEMChain("the certificate field", []byte(res.Certificate))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if err := Check(r, certs[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return &Result{Cert: certs[0], Chain: certs[1:]}, nil
}

// CA asks the server's info endpoint for its CA certificate (once).
func (c *CFSSL) CA(ctx context.Context) ([]*x509.Certificate, error) {
	c.once.Do(func() {
		body, _ := json.Marshal(map[string]string{"label": c.Label, "profile": c.Profile})
		var res struct {
			Certificate string `json:"certificate"`
		}
		if err := c.call(ctx, "/api/v1/cfssl/info", body, &res); err != nil {
			c.caErr = fmt.Errorf("%s: CA certificate: %w", c, err)
			return
		}
		c.chain, c.caErr = parsePEMChain("the info endpoint's certificate", []byte(res.Certificate))
		if c.caErr != nil {
			c.caErr = fmt.Errorf("%s: %w", c, c.caErr)
		}
	})
	return c.chain, c.caErr
}

func (c *CFSSL) String() string {
	s := "cfssl " + c.URL
	if c.Profile != "" {
		s += " profile " + c.Profile
	}
	if c.Label != "" {
		s += " label " + c.Label
	}
	if c.AuthKey != nil {
		s += " (authsign)"
	}
	return s
}

// call POSTs body to the endpoint and decodes a successful answer's result
// into out. cfssl answers errors with success false and an error list, in
// an HTTP error status.
func (c *CFSSL) call(ctx context.Context, endpoint string, body []byte, out any) error {
	u, err := url.Parse(strings.TrimRight(c.URL, "/") + endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("signer URL %q: want http(s)://HOST:PORT", c.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := c.Client
	if client == nil {
		if client, err = HTTPClient(nil, 0); err != nil {
			return err
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readCapped(resp.Body)
	if err != nil {
		return err
	}
	return decodeCFSSL(resp.StatusCode, data, out)
}

// decodeCFSSL decodes cfssl's api.Response: a successful answer's result
// into out, an error list into ErrRefused, anything else into ErrBadAnswer.
func decodeCFSSL(status int, data []byte, out any) error {
	var r cfsslResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%w: HTTP %d, not cfssl's JSON (%s)", ErrBadAnswer, status, snippet(data))
	}
	if !r.Success {
		var msgs []string
		for _, e := range r.Errors {
			msgs = append(msgs, fmt.Sprintf("%s (code %d)", e.Message, e.Code))
		}
		if len(msgs) == 0 {
			msgs = append(msgs, "no reason given")
		}
		all := strings.Join(msgs, "; ")
		hint := ""
		switch {
		case strings.Contains(all, "invalid token"):
			hint = "; the HMAC key is not the profile's auth_key"
		case strings.Contains(all, "authentication required"):
			hint = "; the profile has an auth_key: pass its key"
		}
		return fmt.Errorf("%w: HTTP %d: %s%s", ErrRefused, status, all, hint)
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%w: the result: %w", ErrBadAnswer, err)
	}
	return nil
}

// hosts is the template's SANs as cfssl's hosts list (nil: the CSR's).
func hosts(r Request) []string {
	t := r.Template
	var out []string
	out = append(out, t.DNSNames...)
	for _, ip := range t.IPAddresses {
		out = append(out, ip.String())
	}
	out = append(out, t.EmailAddresses...)
	for _, u := range t.URIs {
		out = append(out, u.String())
	}
	return out
}

// snippet is the start of an answer, printable, for an error message.
func snippet(data []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(data))
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}
