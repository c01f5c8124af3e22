// Package signertest has test doubles for package signer's remote signers
// where the real one cannot run here.
package signertest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// FakeVault is a FAKE Vault PKI secrets engine: an HTTPS server in the test
// that answers exactly the calls signer.Vault makes, with the request and
// response bodies of Vault's API documentation (api-docs/secret/pki and
// api-docs/auth/approle). It is a fake because no Vault server builds here:
// github.com/hashicorp/vault's module replaces ./api and ./sdk with local
// paths, so it cannot be built from the module proxy, and OpenBao is not
// served. Everything else about a Vault (storage, policies beyond one token,
// leases, CRLs) is absent.
//
//	POST|PUT /v1/auth/approle/login      {"role_id","secret_id"} -> {"auth":{"client_token"}}
//	GET      /v1/MOUNT/cert/ca_chain     -> {"data":{"certificate": PEM chain}} (unauthenticated)
//	POST|PUT /v1/MOUNT/sign-verbatim     {"csr","format","not_after","ttl","key_usage","ext_key_usage"}
//	POST|PUT /v1/MOUNT/sign/ROLE         {"csr","common_name","alt_names","ip_sans","uri_sans","not_after","ttl"}
//	                                     -> {"data":{"certificate","issuing_ca","ca_chain":[...],"serial_number","expiration"}}
//
// and, for vault setup (with the token; the mount exists only once created
// when the fake starts without an issuer):
//
//	POST|PUT /v1/sys/mounts/MOUNT                   {"type":"pki","config":{...}} -> 204
//	POST|PUT /v1/MOUNT/intermediate/generate/internal {"common_name","key_type","key_bits"} -> {"data":{"csr"}}
//	POST|PUT /v1/MOUNT/intermediate/set-signed      {"certificate": PEM chain} -> {"data":{"imported_issuers":[...]}}
//	POST|PUT /v1/MOUNT/roles/NAME                   role fields -> 204
//	PUT      /v1/sys/policies/acl/NAME              {"policy"} -> 204
//
// AddMount adds more signing mounts (one per CA). Errors are Vault's:
// {"errors":["..."]} with 400, 403 or 404.
type FakeVault struct {
	URL      string
	CABundle []byte // PEM of the server's TLS certificate: what --vault-ca-bundle names
	Mount    string
	Token    string // the token that may sign
	RoleID   string // AppRole credentials that log in to Token
	SecretID string
	// Issuer signs; Chain is what ca_chain returns (Issuer first).
	Issuer *pki.CA
	Chain  []*x509.Certificate
	// Roles are sign/ROLE's roles: the O they set (a Vault role's
	// organization field; a role never takes O from the CSR).
	Roles map[string][]string

	mu      sync.Mutex
	Calls   []string // "METHOD /path", in order
	garbage string   // SetGarbage
	mounted bool
	extra   map[string]signingMount // AddMount
	pending crypto.Signer           // the intermediate's key, generated before set-signed
	// Policies are the ACL policies written, by name.
	Policies map[string]string
}

// SetGarbage makes every sign answer body (a broken proxy); "" stops it.
func (v *FakeVault) SetGarbage(body string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.garbage = body
}

// StartFakeVault serves a fake Vault over TLS on loopback; it stops when the
// test ends.
// With a nil issuer it is a Vault with no PKI mount yet, for vault setup.
func StartFakeVault(t testing.TB, issuer *pki.CA, chain ...*x509.Certificate) *FakeVault {
	t.Helper()
	v := &FakeVault{Mount: "pki", Token: "hvs." + random(t), RoleID: random(t), SecretID: random(t), Issuer: issuer,
		Roles: map[string][]string{"k8s-cluster": nil}}
	if issuer != nil {
		v.Chain = append([]*x509.Certificate{issuer.Cert}, chain...)
	}
	v.mounted = issuer != nil
	if issuer == nil {
		v.Chain = nil
	}
	v.Policies = map[string]string{}
	srv := httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(srv.Close)
	v.URL = srv.URL
	v.CABundle = pki.EncodeCertificatePEM(srv.Certificate().Raw)
	return v
}

type signingMount struct {
	Issuer *pki.CA
	Chain  []*x509.Certificate
}

// AddMount adds another PKI mount that signs with issuer (ca_chain and the
// sign endpoints only), as a site keeps one mount per CA.
func (v *FakeVault) AddMount(name string, issuer *pki.CA, chain ...*x509.Certificate) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.extra == nil {
		v.extra = map[string]signingMount{}
	}
	v.extra[name] = signingMount{Issuer: issuer, Chain: append([]*x509.Certificate{issuer.Cert}, chain...)}
}

// random is a fresh credential for one fake.
func random(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// CallList returns the calls made so far.
func (v *FakeVault) CallList() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.Calls...)
}

func (v *FakeVault) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.Calls = append(v.Calls, r.Method+" "+r.URL.Path)
	garbage, mounted, issuer, chain, mount := v.garbage, v.mounted, v.Issuer, v.Chain, v.Mount
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	first, _, _ := strings.Cut(p, "/")
	if m, ok := v.extra[first]; ok { // another signing mount (AddMount)
		mounted, issuer, chain, mount = true, m.Issuer, m.Chain, first
	}
	v.mu.Unlock()
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case p == "auth/approle/login" && write:
		var body struct{ RoleID, SecretID string }
		var raw map[string]string
		if json.NewDecoder(r.Body).Decode(&raw) != nil {
			vaultError(w, 400, "failed to parse JSON input")
			return
		}
		body.RoleID, body.SecretID = raw["role_id"], raw["secret_id"]
		if body.RoleID != v.RoleID || body.SecretID != v.SecretID {
			vaultError(w, 400, "invalid role or secret ID")
			return
		}
		reply(w, map[string]any{"auth": map[string]any{"client_token": v.Token, "accessor": "acc", "policies": []string{"default", "pki"},
			"lease_duration": 3600, "renewable": true}})
	case v.setup(w, r, p, write):
	case !mounted || issuer == nil:
		vaultError(w, 404, "no handler for route \""+p+"\". route entry not found.")
	case p == mount+"/cert/ca_chain" && r.Method == http.MethodGet:
		var pemChain []byte
		for _, c := range chain {
			pemChain = append(pemChain, pki.EncodeCertificatePEM(c.Raw)...)
		}
		reply(w, map[string]any{"data": map[string]any{"certificate": string(pemChain), "revocation_time": 0}})
	case (p == mount+"/sign-verbatim" || strings.HasPrefix(p, mount+"/sign/")) && write:
		if r.Header.Get("X-Vault-Token") != v.Token {
			vaultError(w, 403, "permission denied")
			return
		}
		if garbage != "" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(garbage))
			return
		}
		v.sign(w, r, issuer, chain, strings.TrimPrefix(p, mount+"/sign/"), p == mount+"/sign-verbatim")
	default:
		vaultError(w, 404, "no handler for route \""+p+"\". route entry not found.")
	}
}

// setup answers vault setup's calls; false for any other.
func (v *FakeVault) setup(w http.ResponseWriter, r *http.Request, p string, write bool) bool {
	isSetup := write && (p == "sys/mounts/"+v.Mount || strings.HasPrefix(p, "sys/policies/acl/") ||
		p == v.Mount+"/intermediate/generate/internal" || p == v.Mount+"/intermediate/set-signed" || strings.HasPrefix(p, v.Mount+"/roles/"))
	if !isSetup {
		return false
	}
	if r.Header.Get("X-Vault-Token") != v.Token {
		vaultError(w, 403, "permission denied")
		return true
	}
	var body map[string]any
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		vaultError(w, 400, "failed to parse JSON input")
		return true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case p == "sys/mounts/"+v.Mount:
		if v.mounted {
			vaultError(w, 400, "path is already in use at "+v.Mount+"/")
			return true
		}
		if body["type"] != "pki" {
			vaultError(w, 400, "plugin not found in the catalog")
			return true
		}
		v.mounted = true
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(p, "sys/policies/acl/"):
		policy, _ := body["policy"].(string)
		v.Policies[strings.TrimPrefix(p, "sys/policies/acl/")] = policy
		w.WriteHeader(http.StatusNoContent)
	case !v.mounted:
		vaultError(w, 404, "no handler for route \""+p+"\". route entry not found.")
	case p == v.Mount+"/intermediate/generate/internal":
		cn, _ := body["common_name"].(string)
		key, err := pki.GenerateKey(pki.KeySpec{Algo: "ecdsa", Size: 256})
		if err == nil {
			var der []byte
			if der, err = pki.CreateCSR(key, pki.Template{Subject: pkix.Name{CommonName: cn}}); err == nil {
				v.pending = key
				reply(w, map[string]any{"data": map[string]any{"csr": string(pki.EncodeCSRPEM(der)), "key_id": "key-1"}})
				return true
			}
		}
		vaultError(w, 500, err.Error())
	case p == v.Mount+"/intermediate/set-signed":
		certPEM, _ := body["certificate"].(string)
		chain, err := pki.ParseCertificatesPEM([]byte(certPEM))
		if err != nil || v.pending == nil {
			vaultError(w, 400, "no data found in PEM block")
			return true
		}
		ca, err := pki.NewCA(chain[0], v.pending)
		if err != nil {
			vaultError(w, 400, "the given certificate does not match the generated key: "+err.Error())
			return true
		}
		v.Issuer, v.Chain = ca, chain
		reply(w, map[string]any{"data": map[string]any{"imported_issuers": []string{"issuer-1"}, "imported_keys": nil, "mapping": map[string]string{"issuer-1": "key-1"}}})
	case strings.HasPrefix(p, v.Mount+"/roles/"):
		var org []string
		if o, ok := body["organization"].([]any); ok {
			for _, x := range o {
				org = append(org, fmt.Sprint(x))
			}
		}
		v.Roles[strings.TrimPrefix(p, v.Mount+"/roles/")] = org
		w.WriteHeader(http.StatusNoContent)
	}
	return true
}

func (v *FakeVault) sign(w http.ResponseWriter, r *http.Request, issuer *pki.CA, issuerChain []*x509.Certificate, role string, verbatim bool) {
	var body map[string]any
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		vaultError(w, 400, "failed to parse JSON input")
		return
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	csr, err := pki.ParseCSRPEM([]byte(str("csr")))
	if err != nil || csr.CheckSignature() != nil {
		vaultError(w, 400, "certificate request could not be parsed")
		return
	}
	now := time.Now()
	na := now.Add(30 * 24 * time.Hour)
	if s := str("not_after"); s != "" {
		if na, err = time.Parse(time.RFC3339, s); err != nil {
			vaultError(w, 400, "unable to parse not_after")
			return
		}
	}
	t := pki.Template{NotBefore: now.Add(-30 * time.Second), NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement | x509.KeyUsageKeyEncipherment}
	if verbatim {
		t.Subject = csr.Subject
		t.DNSNames, t.IPAddresses, t.EmailAddresses, t.URIs = csr.DNSNames, csr.IPAddresses, csr.EmailAddresses, csr.URIs
		if ku, ok := body["key_usage"].([]any); ok {
			t.KeyUsage = 0
			for _, u := range ku {
				t.KeyUsage |= keyUsages[fmt.Sprint(u)]
			}
		}
		if eku, ok := body["ext_key_usage"].([]any); ok {
			for _, u := range eku {
				t.ExtKeyUsage = append(t.ExtKeyUsage, extKeyUsages[fmt.Sprint(u)])
			}
		}
	} else {
		v.mu.Lock()
		org, ok := v.Roles[role]
		v.mu.Unlock()
		if !ok {
			vaultError(w, 400, fmt.Sprintf("unknown role: %s", role))
			return
		}
		t.Subject.CommonName = str("common_name")
		if t.Subject.CommonName == "" {
			t.Subject.CommonName = csr.Subject.CommonName // use_csr_common_name, the default
		}
		t.Subject.Organization = org
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		for _, n := range splitComma(str("alt_names")) {
			if strings.Contains(n, "@") {
				t.EmailAddresses = append(t.EmailAddresses, n)
			} else {
				t.DNSNames = append(t.DNSNames, n)
			}
		}
		for _, ip := range splitComma(str("ip_sans")) {
			t.IPAddresses = append(t.IPAddresses, net.ParseIP(ip))
		}
		for _, s := range splitComma(str("uri_sans")) {
			if u, err := url.Parse(s); err == nil {
				t.URIs = append(t.URIs, u)
			}
		}
	}
	cert, err := pki.Sign(issuer, t, csr.PublicKey)
	if err != nil {
		vaultError(w, 400, err.Error())
		return
	}
	var chain []string
	for _, c := range issuerChain {
		chain = append(chain, string(pki.EncodeCertificatePEM(c.Raw)))
	}
	reply(w, map[string]any{"request_id": "req-1", "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": map[string]any{"certificate": string(pki.EncodeCertificatePEM(cert.Raw)), "issuing_ca": chain[0], "ca_chain": chain,
			"serial_number": fmt.Sprintf("%x", cert.SerialNumber), "expiration": cert.NotAfter.Unix()},
		"wrap_info": nil, "warnings": nil, "auth": nil})
}

var keyUsages = map[string]x509.KeyUsage{
	"DigitalSignature": x509.KeyUsageDigitalSignature, "ContentCommitment": x509.KeyUsageContentCommitment,
	"KeyEncipherment": x509.KeyUsageKeyEncipherment, "DataEncipherment": x509.KeyUsageDataEncipherment,
	"KeyAgreement": x509.KeyUsageKeyAgreement, "CertSign": x509.KeyUsageCertSign, "CRLSign": x509.KeyUsageCRLSign,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"Any": x509.ExtKeyUsageAny, "ServerAuth": x509.ExtKeyUsageServerAuth, "ClientAuth": x509.ExtKeyUsageClientAuth,
	"CodeSigning": x509.ExtKeyUsageCodeSigning, "EmailProtection": x509.ExtKeyUsageEmailProtection,
	"TimeStamping": x509.ExtKeyUsageTimeStamping, "OCSPSigning": x509.ExtKeyUsageOCSPSigning,
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
}
