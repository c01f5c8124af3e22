package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Vault signs with a Vault PKI secrets engine. These calls, and only these,
// are made (paths under /v1/):
//
//	POST auth/MOUNT/login            AppRole login (role_id, secret_id), once
//	GET  PKI/cert/ca_chain           the issuing CA and its chain, once
//	POST PKI/sign-verbatim           default: the CSR's subject and SANs as they are
//	POST PKI/sign/ROLE               with Role: the role decides subject fields
//
// sign-verbatim is the default because kubeadm's client certificates carry
// their group in O (system:masters, system:nodes) and a role would replace it.
type Vault struct {
	Client *vault.Client // address, TLS and (for token auth) the token set
	Mount  string        // the PKI mount, such as "pki"
	Role   string        // "": sign-verbatim; else sign/ROLE
	// AppRole, when RoleID is set, logs in before the first call.
	AppRole AppRole

	login  sync.Once
	logErr error
	once   sync.Once
	chain  []*x509.Certificate
	caErr  error
}

// AppRole is an AppRole login.
type AppRole struct {
	Mount    string // "approle" when empty
	RoleID   string
	SecretID string
}

// NewVaultClient makes a Vault API client for addr that trusts caBundle
// (PEM; empty: the system's roots) and uses token (empty: log in later).
// Nothing is read from the environment or from files: the command layer
// passes what it read from the node.
func NewVaultClient(addr string, caBundle []byte, token string, timeout time.Duration) (*vault.Client, error) {
	hc, err := HTTPClient(caBundle, timeout)
	if err != nil {
		return nil, fmt.Errorf("vault CA bundle: %w", err)
	}
	if !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
		return nil, fmt.Errorf("vault address %q: want https://HOST:PORT", addr)
	}
	cfg := &vault.Config{Address: strings.TrimRight(addr, "/"), HttpClient: hc, MaxRetries: 2, Timeout: hc.Timeout}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", addr, err)
	}
	c.ClearToken() // never VAULT_TOKEN from this process's environment unless passed
	if token != "" {
		c.SetToken(token)
	}
	return c, nil
}

func (v *Vault) String() string {
	path := v.Mount + "/sign-verbatim"
	if v.Role != "" {
		path = v.Mount + "/sign/" + v.Role
	}
	s := "vault " + v.Client.Address() + " " + path
	if v.AppRole.RoleID != "" {
		s += " (approle)"
	}
	return s
}

func (v *Vault) auth(ctx context.Context) error {
	if v.AppRole.RoleID == "" {
		if v.Client.Token() == "" {
			return fmt.Errorf("%w: no Vault token and no AppRole to log in with", ErrRefused)
		}
		return nil
	}
	v.login.Do(func() { v.logErr = v.AppRole.Login(ctx, v.Client) })
	return v.logErr
}

// Login logs in with AppRole and sets the client's token. Errors never
// show the secret ID.
func (a AppRole) Login(ctx context.Context, c *vault.Client) error {
	mount := a.Mount
	if mount == "" {
		mount = "approle"
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{"role_id": a.RoleID, "secret_id": a.SecretID})
	switch {
	case err != nil:
		return fmt.Errorf("AppRole login at auth/%s/login: %w", mount, vaultErr(err))
	case s == nil || s.Auth == nil || s.Auth.ClientToken == "":
		return fmt.Errorf("%w: AppRole login at auth/%s/login returned no client token", ErrBadAnswer, mount)
	}
	c.SetToken(s.Auth.ClientToken)
	return nil
}

// Sign sends the CSR to sign-verbatim (or sign/ROLE) with the template's
// lifetime and, for sign-verbatim, its usages.
func (v *Vault) Sign(ctx context.Context, r Request) (*Result, error) {
	if err := v.auth(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", v, err)
	}
	csr, err := r.CSRPEM()
	if err != nil {
		return nil, err
	}
	data := map[string]any{"csr": string(csr), "format": "pem"}
	if na := r.Template.NotAfter; !na.IsZero() {
		data["not_after"] = na.UTC().Format(time.RFC3339)
	}
	path := v.Mount + "/sign-verbatim"
	if v.Role == "" {
		if ku := keyUsageNames(r.Template.KeyUsage); len(ku) > 0 {
			data["key_usage"] = ku
		}
		data["ext_key_usage"] = extKeyUsageNames(r.Template.ExtKeyUsage)
	} else {
		path = v.Mount + "/sign/" + v.Role
		t := r.Template
		data["common_name"] = t.Subject.CommonName
		data["exclude_cn_from_sans"] = true
		var alt, ips, uris []string
		alt = append(append(alt, t.DNSNames...), t.EmailAddresses...)
		for _, ip := range t.IPAddresses {
			ips = append(ips, ip.String())
		}
		for _, u := range t.URIs {
			uris = append(uris, u.String())
		}
		data["alt_names"], data["ip_sans"], data["uri_sans"] = strings.Join(alt, ","), strings.Join(ips, ","), strings.Join(uris, ",")
	}
	s, err := v.Client.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v, vaultErr(err))
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %w: no data", v, ErrBadAnswer)
	}
	res, err := vaultSignResult(s.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v, err)
	}
	if err := Check(r, res.Cert); err != nil {
		return nil, fmt.Errorf("%s: %w", v, err)
	}
	return res, nil
}

// vaultSignResult reads a sign answer's data: certificate, then ca_chain
// (or issuing_ca). A broken chain entry is ignored: the caller verifies
// against the CA it trusts.
func vaultSignResult(data map[string]any) (*Result, error) {
	certPEM, _ := data["certificate"].(string)
	certs, err := parsePEMChain("data.certificate", []byte(certPEM))
	if err != nil {
		return nil, err
	}
	res := &Result{Cert: certs[0]}
	if list, ok := data["ca_chain"].([]any); ok {
		for _, p := range list {
			if str, ok := p.(string); ok {
				if cs, err := parsePEMChain("data.ca_chain", []byte(str)); err == nil {
					res.Chain = append(res.Chain, cs...)
				}
			}
		}
	} else if ic, ok := data["issuing_ca"].(string); ok {
		res.Chain, _ = parsePEMChain("data.issuing_ca", []byte(ic))
	}
	return res, nil
}

// CA reads the mount's CA chain (issuing CA first), once.
func (v *Vault) CA(ctx context.Context) ([]*x509.Certificate, error) {
	v.once.Do(func() {
		s, err := v.Client.Logical().ReadWithContext(ctx, v.Mount+"/cert/ca_chain")
		if err != nil {
			v.caErr = fmt.Errorf("%s: CA chain: %w", v, vaultErr(err))
			return
		}
		if s == nil || s.Data == nil {
			v.caErr = fmt.Errorf("%s: %w: %s/cert/ca_chain has no data (is %s a PKI mount with an issuer?)", v, ErrBadAnswer, v.Mount, v.Mount)
			return
		}
		pemChain, _ := s.Data["certificate"].(string)
		if pemChain == "" {
			pemChain, _ = s.Data["ca_chain"].(string)
		}
		v.chain, v.caErr = parsePEMChain(v.Mount+"/cert/ca_chain", []byte(pemChain))
		if v.caErr != nil {
			v.caErr = fmt.Errorf("%s: %w", v, v.caErr)
		}
	})
	return v.chain, v.caErr
}

// vaultErr classifies the API client's errors: a response error is the
// signer refusing (with Vault's messages), a transport error stays as it is.
func vaultErr(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		if msg == "" {
			msg = "no reason given"
		}
		hint := ""
		switch re.StatusCode {
		case http.StatusForbidden:
			hint = " (the token or AppRole lacks a policy for this path, or has expired)"
		case http.StatusNotFound:
			hint = " (no such mount or role)"
		}
		return fmt.Errorf("%w: HTTP %d %s: %s%s", ErrRefused, re.StatusCode, re.HTTPMethod, msg, hint)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	// The client failed to decode the answer.
	if strings.Contains(err.Error(), "invalid character") || strings.Contains(err.Error(), "unexpected") {
		return fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	return err
}

// keyUsageNames are Vault's names of key usages.
func keyUsageNames(ku x509.KeyUsage) []string {
	names := []struct {
		u x509.KeyUsage
		n string
	}{
		{x509.KeyUsageDigitalSignature, "DigitalSignature"}, {x509.KeyUsageContentCommitment, "ContentCommitment"},
		{x509.KeyUsageKeyEncipherment, "KeyEncipherment"}, {x509.KeyUsageDataEncipherment, "DataEncipherment"},
		{x509.KeyUsageKeyAgreement, "KeyAgreement"}, {x509.KeyUsageCertSign, "CertSign"},
		{x509.KeyUsageCRLSign, "CRLSign"}, {x509.KeyUsageEncipherOnly, "EncipherOnly"}, {x509.KeyUsageDecipherOnly, "DecipherOnly"},
	}
	var out []string
	for _, x := range names {
		if ku&x.u != 0 {
			out = append(out, x.n)
		}
	}
	return out
}

// extKeyUsageNames are Vault's names of extended key usages.
func extKeyUsageNames(us []x509.ExtKeyUsage) []string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageAny: "Any", x509.ExtKeyUsageServerAuth: "ServerAuth", x509.ExtKeyUsageClientAuth: "ClientAuth",
		x509.ExtKeyUsageCodeSigning: "CodeSigning", x509.ExtKeyUsageEmailProtection: "EmailProtection",
		x509.ExtKeyUsageTimeStamping: "TimeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
	}
	out := []string{}
	for _, u := range us {
		if n, ok := names[u]; ok {
			out = append(out, n)
		}
	}
	return out
}
