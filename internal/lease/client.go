package lease

import (
	"errors"
	"time"

	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
)

// Credentials are what Client connects with: the API server's URL, the CA
// that verifies it, and a client certificate and key (PEM). The caller reads
// them (from a kubeconfig, through the node's view of the disk under
// --root): Client reads no file.
type Credentials struct {
	Server         string
	CA, Cert, Key  []byte
	RequestTimeout time.Duration // each request's bound; 10 s when 0
}

// Client makes the typed Leases client of client-go for c.
func Client(c Credentials) (coordinationclient.LeasesGetter, error) {
	if c.Server == "" {
		return nil, errors.New("no API server URL")
	}
	if len(c.Cert) == 0 || len(c.Key) == 0 {
		return nil, errors.New("no client certificate and key")
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	cfg := &rest.Config{
		Host:            c.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CA, CertData: c.Cert, KeyData: c.Key},
		Timeout:         c.RequestTimeout,
		UserAgent:       "certrescue-renew-auto",
	}
	return coordinationclient.NewForConfig(cfg)
}
