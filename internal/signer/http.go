package signer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxAnswer caps what is read of a signer's answer.
const MaxAnswer = 1 << 20

// DefaultTimeout bounds one request to a remote signer.
const DefaultTimeout = 60 * time.Second

// HTTPClient returns a client that trusts caBundle (PEM) for TLS, or the
// system's roots when it is empty.
func HTTPClient(caBundle []byte, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // an air-gapped node's signer is reached directly
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// readCapped reads at most MaxAnswer bytes of an answer.
func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxAnswer {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadAnswer, MaxAnswer)
	}
	return data, nil
}
