package health

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// files reads node paths through nodefs, the one view of the node's disk.
type files struct{ node *nodefs.FS }

func (f files) read(p string) ([]byte, error) {
	rf, err := f.node.ReadFile(p, pki.MaxPEMSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return rf.Data, nil
}

func (f files) cert(p string) (*x509.Certificate, error) {
	certs, err := f.certs(p)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func (f files) certs(p string) ([]*x509.Certificate, error) {
	data, err := f.read(p)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no CERTIFICATE block", p)
	}
	return certs, nil
}

func (f files) kubeconfig(p string) (*kubeconfig.Kubeconfig, error) {
	data, err := f.node.ReadFile(p, kubeconfig.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	kc, err := kubeconfig.Parse(data.Data, path.Dir(p), f.read)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return kc, nil
}

// cred is a client credential a gate presents: a kubeconfig's client
// certificate (and its CA, which the server certificate must chain to), or
// a certificate and key file pair.
type cred struct {
	What       string // for messages: "/etc/kubernetes/admin.conf (CN=kubernetes-admin)"
	Kubeconfig string // node path, or
	Cert, Key  string // node paths
}

// loaded is a credential read from disk.
type loaded struct {
	pair tls.Certificate
	leaf *x509.Certificate
	cas  []*x509.Certificate // a kubeconfig's certificate-authority
}

func (f files) load(c cred) (*loaded, error) {
	if c.Kubeconfig != "" {
		kc, err := f.kubeconfig(c.Kubeconfig)
		if err != nil {
			return nil, err
		}
		certs, err := kc.ClientCertificates()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Kubeconfig, err)
		}
		key, err := kc.ClientPrivateKey()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Kubeconfig, err)
		}
		cas, _ := kc.CACertificates() // optional: the server may chain to the component's CA flags instead
		pair := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
		for _, cert := range certs {
			pair.Certificate = append(pair.Certificate, cert.Raw)
		}
		return &loaded{pair: pair, leaf: certs[0], cas: cas}, nil
	}
	certPEM, err := f.read(c.Cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := f.read(c.Key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s with key %s: %w", c.Cert, c.Key, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Cert, err)
	}
	pair.Leaf = leaf
	return &loaded{pair: pair, leaf: leaf}, nil
}

// trusted picks the first credential that loads and is signed by one of
// cas (any, when cas is empty) and may be used for client authentication.
// The certificate's validity is not checked: the rescue is about to renew
// it, and the gate reads it again at each attempt.
func (f files) trusted(cands []cred, cas []*x509.Certificate) (cred, []string, bool) {
	var why []string
	for _, c := range cands {
		l, err := f.load(c)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if !clientUsable(l.leaf) {
			why = append(why, c.What+": not a client certificate (no client auth usage)")
			continue
		}
		if len(cas) > 0 && !signedByAny(l.leaf, cas) {
			why = append(why, c.What+": not signed by the CA the server trusts")
			continue
		}
		return c, why, true
	}
	return cred{}, why, false
}

func clientUsable(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func signedByAny(c *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// readCAs reads every CA file that can be read; unreadable ones are
// skipped (the gate names its error when it runs).
func (f files) readCAs(paths []string) []*x509.Certificate {
	var out []*x509.Certificate
	for _, p := range paths {
		if p == "" {
			continue
		}
		if certs, err := f.certs(p); err == nil {
			out = append(out, certs...)
		}
	}
	return out
}

// tlsFunc builds the client TLS configuration of a gate at each attempt, so
// renewed files are used: the CA files and the credential's own CA are
// trusted, ServerName is what the server's certificate must be valid for, and
// time is now().
func (f files) tlsFunc(caPaths []string, c *cred, serverName string, now func() time.Time) func() (*tls.Config, error) {
	return func() (*tls.Config, error) {
		pool := x509.NewCertPool()
		n := 0
		var errs []error
		for _, p := range caPaths {
			certs, err := f.certs(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, ca := range certs {
				pool.AddCert(ca)
				n++
			}
		}
		cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12, Time: now} // now nil: crypto/tls's own clock
		if c != nil {
			l, err := f.load(*c)
			if err != nil {
				return nil, err
			}
			for _, ca := range l.cas {
				pool.AddCert(ca)
				n++
			}
			cfg.Certificates = []tls.Certificate{l.pair}
		}
		if n == 0 {
			return nil, fmt.Errorf("no CA certificate to verify the server with: %w", errors.Join(errs...))
		}
		return cfg, nil
	}
}

// ready checks that what a gate will read can be read now (the dry run).
func (f files) ready(caPaths []string, c *cred, served string) error {
	var errs []error
	for _, p := range caPaths {
		if _, err := f.certs(p); err != nil {
			errs = append(errs, err)
		}
	}
	if c != nil {
		if _, err := f.load(*c); err != nil {
			errs = append(errs, err)
		}
	}
	if served != "" {
		if _, err := f.cert(served); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// serverName picks the name the server certificate at certPath is checked
// against: the first candidate the certificate is valid for, else the first
// candidate (the gate then fails naming the mismatch). It is chosen once,
// from the certificate before the renewal, so a renewal that loses the SAN
// clients use fails its gate.
func (f files) serverName(certPath string, cands ...string) string {
	var list []string
	for _, c := range cands {
		if c != "" && !slices.Contains(list, c) {
			list = append(list, c)
		}
	}
	if len(list) == 0 {
		return ""
	}
	if certPath == "" {
		return list[0]
	}
	cert, err := f.cert(certPath)
	if err != nil {
		return list[0]
	}
	for _, c := range list {
		if cert.VerifyHostname(c) == nil {
			return c
		}
	}
	if len(cert.DNSNames) > 0 && net.ParseIP(list[0]) == nil {
		return cert.DNSNames[0]
	}
	return list[0]
}
