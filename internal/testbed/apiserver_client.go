package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"
)

// adminHTTP is an HTTP client authenticated as the admin user.
func (a *APIServer) adminHTTP(t testing.TB) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(a.path("user-certrescue-test-admin.crt"), a.path("user-certrescue-test-admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.CA.Cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
