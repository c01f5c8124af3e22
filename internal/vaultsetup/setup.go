package vaultsetup

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/certrescue/certrescue/internal/pki"
)

// Options shape the set-up.
type Options struct {
	Mount          string   // PKI mount, default "pki"
	MaxLeaseTTL    string   // the mount's longest lifetime, default "87600h"
	CommonName     string   // the intermediate's CN, default "kubernetes-intermediate (Vault MOUNT)"
	KeyType        string   // rsa or ec, default rsa
	KeyBits        int      // default 2048 (rsa), 256 (ec)
	Role           string   // default "k8s-cluster"
	RoleTTL        string   // default "2160h": the field guide's 90 days
	AllowedDomains []string // the role's; default cluster.local and example.com as in the field guide
	Policy         string   // the nodes' policy, default "certrescue-node"
	// Signed is phase 2's input: the intermediate signed offline, PEM, with
	// the root above it (the file certrescue sign wrote, then the root).
	Signed []byte
}

func (o *Options) defaults() {
	if o.Mount == "" {
		o.Mount = "pki"
	}
	o.Mount = strings.Trim(o.Mount, "/")
	if o.MaxLeaseTTL == "" {
		o.MaxLeaseTTL = "87600h"
	}
	if o.CommonName == "" {
		o.CommonName = "kubernetes-intermediate (Vault " + o.Mount + ")"
	}
	if o.KeyType == "" {
		o.KeyType = "rsa"
	}
	if o.KeyBits == 0 {
		o.KeyBits = map[string]int{"rsa": 2048, "ec": 256}[o.KeyType]
	}
	if o.Role == "" {
		o.Role = "k8s-cluster"
	}
	if o.RoleTTL == "" {
		o.RoleTTL = "2160h"
	}
	if o.AllowedDomains == nil {
		o.AllowedDomains = []string{"cluster.local", "example.com"}
	}
	if o.Policy == "" {
		o.Policy = "certrescue-node"
	}
}

// Call is one Vault API call.
type Call struct {
	What   string         // what it does, for people
	Method string         // POST, PUT
	Path   string         // under /v1/
	Body   map[string]any // JSON body
	CLI    string         // the same with the vault CLI
}

// JSON is the call's body as one line of JSON.
func (c Call) JSON() string {
	b, _ := json.Marshal(c.Body) // maps of strings, numbers and lists marshal
	return string(b)
}

// ErrNotSigned is phase 2's input not being a CA certificate chain.
var ErrNotSigned = errors.New("not the signed intermediate")

// Plan returns phase 1's calls (no Options.Signed) or phase 2's.
func Plan(o Options) ([]Call, error) {
	o.defaults()
	if o.KeyType != "rsa" && o.KeyType != "ec" {
		return nil, fmt.Errorf("key type %q: use rsa or ec", o.KeyType)
	}
	m := o.Mount
	if o.Signed == nil {
		return []Call{
			{What: "enable the PKI secrets engine at " + m + "/", Method: "POST", Path: "sys/mounts/" + m,
				Body: map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": o.MaxLeaseTTL}},
				CLI:  fmt.Sprintf("vault secrets enable -path=%s -max-lease-ttl=%s pki", m, o.MaxLeaseTTL)},
			{What: "generate the intermediate's key inside Vault and return its CSR (the key never leaves Vault)", Method: "POST", Path: m + "/intermediate/generate/internal",
				Body: map[string]any{"common_name": o.CommonName, "key_type": o.KeyType, "key_bits": o.KeyBits},
				CLI:  fmt.Sprintf("vault write -field=csr %s/intermediate/generate/internal common_name=%q key_type=%s key_bits=%d", m, o.CommonName, o.KeyType, o.KeyBits)},
		}, nil
	}
	chain, err := checkSigned(o.Signed)
	if err != nil {
		return nil, err
	}
	var bundle strings.Builder
	for _, c := range chain {
		bundle.Write(pki.EncodeCertificatePEM(c.Raw))
	}
	policy := fmt.Sprintf("path %q { capabilities = [\"update\"] }\npath %q { capabilities = [\"read\"] }\n", m+"/sign-verbatim", m+"/cert/ca_chain")
	return []Call{
		{What: fmt.Sprintf("import the intermediate %q signed offline (with its root)", chain[0].Subject.CommonName), Method: "POST", Path: m + "/intermediate/set-signed",
			Body: map[string]any{"certificate": bundle.String()},
			CLI:  fmt.Sprintf("vault write %s/intermediate/set-signed certificate=@intermediate-chain.pem", m)},
		{What: fmt.Sprintf("create the role %s (the field guide's ClusterIssuer path %s/sign/%s: %s certificates)", o.Role, m, o.Role, o.RoleTTL), Method: "POST", Path: m + "/roles/" + o.Role,
			Body: roleBody(o),
			CLI: fmt.Sprintf("vault write %s/roles/%s allowed_domains=%s allow_subdomains=true allow_bare_domains=true allow_ip_sans=true allow_localhost=true server_flag=true client_flag=true key_type=any ttl=%s max_ttl=%s",
				m, o.Role, strings.Join(o.AllowedDomains, ","), o.RoleTTL, o.RoleTTL)},
		{What: fmt.Sprintf("create the policy %s for nodes that renew with certrescue (%s/sign-verbatim keeps kubeadm's groups)", o.Policy, m), Method: "PUT", Path: "sys/policies/acl/" + o.Policy,
			Body: map[string]any{"policy": policy},
			CLI:  fmt.Sprintf("vault policy write %s - <<'EOF'\n%sEOF", o.Policy, policy)},
	}, nil
}

func roleBody(o Options) map[string]any {
	return map[string]any{
		"allowed_domains": o.AllowedDomains, "allow_subdomains": true, "allow_bare_domains": true,
		"allow_ip_sans": true, "allow_localhost": true, "server_flag": true, "client_flag": true,
		"key_type": "any", "ttl": o.RoleTTL, "max_ttl": o.RoleTTL,
	}
}

// checkSigned parses phase 2's input: an intermediate CA certificate first,
// then the CA that signed it (the offline root), each verified by the next.
func checkSigned(data []byte) ([]*x509.Certificate, error) {
	chain, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSigned, err)
	}
	if !chain[0].IsCA {
		return nil, fmt.Errorf("%w: %q is not a CA certificate (sign the CSR with a profile whose ca_constraint has is_ca true)", ErrNotSigned, chain[0].Subject.CommonName)
	}
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: only %q; append the root CA certificate that signed it, so Vault serves the whole chain", ErrNotSigned, chain[0].Subject.CommonName)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: %q is not signed by the next certificate %q: %w", ErrNotSigned, chain[i].Subject.CommonName, chain[i+1].Subject.CommonName, err)
		}
	}
	return chain, nil
}

// Result is what applying the calls returned.
type Result struct {
	CSR []byte // phase 1: the intermediate's CSR, PEM
	// Done lists the calls made, in order.
	Done []Call
}

// Apply makes the calls in order, stopping at the first error (which names
// the call). A mount that exists already is an error: Vault refuses it.
func Apply(ctx context.Context, c *vault.Client, calls []Call) (*Result, error) {
	res := &Result{}
	for _, call := range calls {
		var s *vault.Secret
		var err error
		if name, ok := strings.CutPrefix(call.Path, "sys/policies/acl/"); ok {
			policy, _ := call.Body["policy"].(string)
			err = c.Sys().PutPolicyWithContext(ctx, name, policy)
		} else {
			s, err = c.Logical().WriteWithContext(ctx, call.Path, call.Body)
		}
		if err != nil {
			return res, fmt.Errorf("%s %s (%s): %w", call.Method, "/v1/"+call.Path, call.What, err)
		}
		res.Done = append(res.Done, call)
		if strings.HasSuffix(call.Path, "/intermediate/generate/internal") {
			csrPEM := ""
			if s != nil && s.Data != nil {
				csrPEM, _ = s.Data["csr"].(string)
			}
			if _, err := pki.ParseCSRPEM([]byte(csrPEM)); err != nil {
				return res, fmt.Errorf("%s: Vault's answer holds no CSR: %w", "/v1/"+call.Path, err)
			}
			res.CSR = []byte(csrPEM)
		}
	}
	return res, nil
}
