package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Credential file defaults on a kubeadm control-plane node.
const (
	DefaultEtcdEndpoint = "https://127.0.0.1:2379"
	DefaultEtcdCA       = "/etc/kubernetes/pki/etcd/ca.crt"
	DefaultEtcdCert     = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
	DefaultEtcdKey      = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
	DefaultKubeconfig   = "/etc/kubernetes/admin.conf"
)

// ClientTLS reads a CA bundle and, when cert is set, a client certificate
// and key through the node's view of its disk (node paths under --root).
func ClientTLS(node *nodefs.FS, ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		data, err := node.Read(ca, pki.MaxPEMSize)
		if err != nil {
			return nil, fmt.Errorf("read the CA bundle: %w", err)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ca, err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("%s: no CA certificate", ca)
		}
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range certs {
			cfg.RootCAs.AddCert(c)
		}
	}
	if cert != "" {
		certPEM, err := node.Read(cert, pki.MaxPEMSize)
		if err != nil {
			return nil, fmt.Errorf("read the client certificate: %w", err)
		}
		keyPEM, err := node.Read(key, pki.MaxPEMSize)
		if err != nil {
			return nil, fmt.Errorf("read the client key: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", cert, key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// KubeconfigTLS is a kubeconfig's server URL and a TLS configuration with
// its CA and client credentials: on a control-plane node admin.conf names
// the load balancer.
func KubeconfigTLS(node *nodefs.FS, p string) (string, *tls.Config, error) {
	rf, err := node.ReadFile(p, kubeconfig.MaxSize)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", p, err)
	}
	kc, err := kubeconfig.Parse(rf.Data, path.Dir(p), func(q string) ([]byte, error) { return node.Read(q, pki.MaxPEMSize) })
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", p, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cas, err := kc.CACertificates(); err == nil && len(cas) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range cas {
			cfg.RootCAs.AddCert(c)
		}
	}
	if certs, err := kc.ClientCertificates(); err == nil && len(certs) > 0 {
		if key, err := kc.ClientPrivateKey(); err == nil {
			pair := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
			for _, c := range certs {
				pair.Certificate = append(pair.Certificate, c.Raw)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	server := kc.Server
	if server == "" {
		return "", nil, fmt.Errorf("%s: the current context's cluster has no server", p)
	}
	return server, cfg, nil
}
