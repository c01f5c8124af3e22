package cfssl

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/signer"
)

// Issued is one certificate with the files cfssljson would write for it.
type Issued struct {
	Cert     *x509.Certificate
	CertPEM  []byte
	KeyPEM   []byte // nil when signing a CSR (the key never left its owner)
	CSRPEM   []byte
	Warnings []string
	Signer   string // the remote signer that signed it; "" for a local CA
}

// Output is cfssl's JSON output shape, read by cfssljson.
type Output struct {
	Cert string `json:"cert"`
	CSR  string `json:"csr,omitempty"`
	Key  string `json:"key,omitempty"`
}

// JSON is the issued set in cfssl's output shape.
func (is *Issued) JSON() Output {
	return Output{Cert: string(is.CertPEM), CSR: string(is.CSRPEM), Key: string(is.KeyPEM)}
}

// InitCA creates a self-signed root CA from a CSR request, as `cfssl gencert
// -initca` does, but with a ten-year default lifetime (req.ca.expiry overrides).
func InitCA(req *Request, now time.Time) (*Issued, error) {
	spec, err := req.KeySpec()
	if err != nil {
		return nil, err
	}
	key, err := pki.GenerateKey(spec)
	if err != nil {
		return nil, err
	}
	return InitCAWithKey(req, key, now)
}

// InitCAWithKey is InitCA for an existing key (cfssl's -initca with -ca-key).
func InitCAWithKey(req *Request, key crypto.Signer, now time.Time) (*Issued, error) {
	lifetime, backdate := DefaultCAExpiry, pki.DefaultBackdate
	t := pki.Template{Subject: req.Subject(), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, IsCA: true}
	if c := req.CA; c != nil {
		if c.Expiry != "" {
			lifetime, _ = ParseDuration(c.Expiry) // validated by ParseRequest
		}
		if c.Backdate != "" {
			backdate, _ = ParseDuration(c.Backdate)
		}
		t.MaxPathLen, t.MaxPathLenZero = c.PathLength, c.PathLenZero
	}
	h := SplitHosts(req.Hosts)
	t.DNSNames, t.IPAddresses, t.EmailAddresses, t.URIs = h.DNS, h.IPs, h.Emails, h.URIs
	t.NotBefore, t.NotAfter = pki.Window(now, backdate, lifetime)
	cert, err := pki.SelfSign(key, t)
	if err != nil {
		return nil, err
	}
	return finish(cert, key, t)
}

// IssueRequest says what Issue makes.
type IssueRequest struct {
	Request *Request
	Hosts   []string      // -hostname; overrides Request.Hosts when non-nil
	Key     crypto.Signer // nil: generate one from Request.key
}

// Issue generates a key (unless given) and a certificate signed by ca under the
// policy, as `cfssl gencert -ca -ca-key -config -profile` does.
func Issue(ca *pki.CA, pol *Policy, ir IssueRequest, now time.Time) (*Issued, error) {
	return IssueVia(context.Background(), signer.Local{Key: ca}, pol, ir, now)
}

// IssueVia is Issue signed by s (a local CA or a remote signer). A remote
// signer gets a CSR made with the new key; its profile or role may decide
// usages and lifetime instead of pol.
func IssueVia(ctx context.Context, s signer.Signer, pol *Policy, ir IssueRequest, now time.Time) (*Issued, error) {
	key := ir.Key
	if key == nil {
		spec, err := ir.Request.KeySpec()
		if err != nil {
			return nil, err
		}
		if key, err = pki.GenerateKey(spec); err != nil {
			return nil, err
		}
	}
	hosts := ir.Request.Hosts
	if ir.Hosts != nil {
		hosts = ir.Hosts
	}
	t := pol.template(ir.Request.Subject(), SplitHosts(hosts), now)
	res, err := s.Sign(ctx, signer.Request{Name: ir.Request.CN, Template: t, Key: key})
	if err != nil {
		return nil, err
	}
	is, err := finish(res.Cert, key, t)
	if err != nil {
		return nil, err
	}
	is.CertPEM = withChain(is.CertPEM, res.Chain)
	is.Signer = remoteName(s)
	if chain, err := s.CA(ctx); err == nil {
		is.Warnings = append(is.Warnings, LeafWarnings(chain[0], res.Cert)...)
	}
	return is, nil
}

// remoteName names a remote signer; "" for a local CA.
func remoteName(s signer.Signer) string {
	if _, local := s.(signer.Local); local {
		return ""
	}
	return s.String()
}

// withChain appends the CA certificates a remote signer returned below its
// root (a self-signed CA is left out: verifiers must have it already).
func withChain(certPEM []byte, chain []*x509.Certificate) []byte {
	for _, c := range chain {
		if bytes.Equal(c.RawSubject, c.RawIssuer) {
			continue
		}
		certPEM = append(certPEM, pki.EncodeCertificatePEM(c.Raw)...)
	}
	return certPEM
}

// IssueMany issues every request concurrently on all cores. Key generation is
// nearly all the work, so this is where a batch beats one process per
// certificate. Results are in request order; errors name the failing request.
func IssueMany(ca *pki.CA, pol *Policy, reqs []IssueRequest, now time.Time) ([]*Issued, error) {
	return IssueManyVia(context.Background(), signer.Local{Key: ca}, pol, reqs, now)
}

// IssueManyVia is IssueMany signed by s.
func IssueManyVia(ctx context.Context, s signer.Signer, pol *Policy, reqs []IssueRequest, now time.Time) ([]*Issued, error) {
	out := make([]*Issued, len(reqs))
	errs := make([]error, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(reqs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = IssueVia(ctx, s, pol, reqs[i], now)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("request %d (%s): %w", i+1, reqs[i].Request.CN, errs[i])
				}
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// SignCSR signs an existing certificate request (such as `kubeadm certs
// generate-csr` writes). Subject and SANs come from the CSR unless hosts is
// non-nil; usages and lifetime come from the policy, never from the CSR.
func SignCSR(ca *pki.CA, pol *Policy, csr *x509.CertificateRequest, hosts []string, now time.Time) (*Issued, error) {
	return SignCSRVia(context.Background(), signer.Local{Key: ca}, pol, csr, hosts, now)
}

// SignCSRVia is SignCSR signed by s. A remote signer gets the CSR as it is,
// with hosts as its SANs when given.
func SignCSRVia(ctx context.Context, s signer.Signer, pol *Policy, csr *x509.CertificateRequest, hosts []string, now time.Time) (*Issued, error) {
	h := Hosts{DNS: csr.DNSNames, IPs: csr.IPAddresses, Emails: csr.EmailAddresses, URIs: csr.URIs}
	if hosts != nil {
		h = SplitHosts(hosts)
	}
	t := pol.template(csr.Subject, h, now)
	res, err := s.Sign(ctx, signer.Request{Name: csr.Subject.CommonName, Template: t, CSR: csr})
	if err != nil {
		return nil, err
	}
	is := &Issued{Cert: res.Cert, CertPEM: withChain(pki.EncodeCertificatePEM(res.Cert.Raw), res.Chain), Signer: remoteName(s)}
	if chain, err := s.CA(ctx); err == nil {
		is.Warnings = LeafWarnings(chain[0], res.Cert)
	}
	return is, nil
}

func (p *Policy) template(subject pkix.Name, h Hosts, now time.Time) pki.Template {
	t := pki.Template{
		Subject: subject, DNSNames: h.DNS, IPAddresses: h.IPs, EmailAddresses: h.Emails, URIs: h.URIs,
		KeyUsage: p.KeyUsage, ExtKeyUsage: p.ExtKeyUsage,
		IsCA: p.IsCA, MaxPathLen: p.MaxPathLen, MaxPathLenZero: p.MaxPathLenZero,
		OCSPServer: p.OCSPServer, CRLURLs: p.CRLURLs, IssuingURLs: p.IssuingURLs,
	}
	t.NotBefore, t.NotAfter = p.Window(now)
	return t
}

func finish(cert *x509.Certificate, key crypto.Signer, t pki.Template) (*Issued, error) {
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	csrDER, err := pki.CreateCSR(key, t)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, CertPEM: pki.EncodeCertificatePEM(cert.Raw), KeyPEM: keyPEM, CSRPEM: pki.EncodeCSRPEM(csrDER)}, nil
}

// LeafWarnings warns when a certificate's NotAfter is past its CA's (after that
// day the certificate is useless, whatever it says) and when its subject equals
// the CA's (verifiers then take it for self-signed).
func LeafWarnings(ca, leaf *x509.Certificate) []string {
	var out []string
	if bytes.Equal(ca.RawSubject, leaf.RawSubject) {
		out = append(out, fmt.Sprintf("certificate subject %q is identical to its CA's: openssl and other verifiers take it for a self-signed certificate and reject it; give the CA or the request a distinct CN",
			leaf.Subject.String()))
	}
	if !leaf.NotAfter.After(ca.NotAfter) {
		return out
	}
	return append(out, fmt.Sprintf("certificate %q is valid until %s but its CA %q expires %s: it stops verifying %s earlier than it says; shorten the profile's expiry or rotate the CA",
		leaf.Subject.CommonName, leaf.NotAfter.Format(time.RFC3339), ca.Subject.CommonName, ca.NotAfter.Format(time.RFC3339), leaf.NotAfter.Sub(ca.NotAfter).Round(time.Hour)))
}

// ProfilesOutliving lists warnings for every profile of c whose certificates,
// issued now, would outlive a CA valid until caNotAfter.
func (c *Config) ProfilesOutliving(caNotAfter, now time.Time) []string {
	var out []string
	check := func(label string, name string) {
		p, err := c.Policy(name)
		if err != nil {
			return
		}
		if _, na := p.Window(now); na.After(caNotAfter) {
			out = append(out, fmt.Sprintf("profile %s issues certificates valid for %s, until %s, past the CA's expiry %s: leaves would outlive their CA",
				label, FormatDuration(p.Expiry), na.Format(time.RFC3339), caNotAfter.Format(time.RFC3339)))
		}
	}
	if c.Signing.Default != nil {
		check("default", "")
	}
	for _, n := range c.ProfileNames() {
		check(fmt.Sprintf("%q", n), n)
	}
	return out
}
