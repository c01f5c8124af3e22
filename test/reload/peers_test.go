package reload

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed"
)

// handshake is one TLS handshake a recorder saw: the client certificate
// presented (nil when none) and when.
type handshake struct {
	serial *big.Int
	at     time.Time
}

// recorder is a TLS listener inside the namespace that records the client
// certificate of every handshake. As a proxy (backend set) it pipes each
// connection to the backend over a TLS connection of its own: the component
// talks to the real peer, and the test sees which certificate each new
// connection presented. Without a backend it answers HTTP itself, closing
// every connection after one response, so each request is a new handshake.
type recorder struct {
	t       *testing.T
	raw     net.Listener
	cfg     *tls.Config
	ln      net.Listener
	mu      sync.Mutex
	seen    []handshake
	conns   map[net.Conn]bool
	backend func(ctx context.Context, alpn string) (net.Conn, error)
	handler http.Handler
}

func newRecorder(t *testing.T, p *testbed.KubeadmPlane, addr string, serving tls.Certificate) *recorder {
	t.Helper()
	ln, err := p.NS.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s in the namespace: %v", addr, err)
	}
	r := &recorder{t: t, conns: map[net.Conn]bool{}}
	cfg := &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			h := handshake{at: time.Now()}
			if len(cs.PeerCertificates) > 0 {
				h.serial = cs.PeerCertificates[0].SerialNumber
			}
			r.mu.Lock()
			r.seen = append(r.seen, h)
			r.mu.Unlock()
			return nil
		}}
	r.cfg, r.raw = cfg, ln
	t.Cleanup(func() {
		if r.ln != nil {
			r.ln.Close()
		} else {
			r.raw.Close()
		}
		r.closeAll()
	})
	return r
}

// start serves: as a proxy (backend set, h2 or HTTP/1.1 passed through) or
// as an HTTP/1.1 server (handler, or "ok").
func (r *recorder) start() *recorder {
	if r.backend == nil {
		r.cfg.NextProtos = []string{"http/1.1"}
	}
	r.ln = tls.NewListener(r.raw, r.cfg)
	go r.serve()
	return r
}

func (r *recorder) serve() {
	if r.handler != nil || r.backend == nil {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Connection", "close")
			if r.handler != nil {
				r.handler.ServeHTTP(w, req)
				return
			}
			fmt.Fprint(w, "ok")
		}), ReadHeaderTimeout: 5 * time.Second, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
		_ = srv.Serve(r.ln)
		return
	}
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.pipe(c.(*tls.Conn))
	}
}

func (r *recorder) pipe(c *tls.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := c.HandshakeContext(ctx); err != nil {
		cancel()
		return
	}
	b, err := r.backend(ctx, c.ConnectionState().NegotiatedProtocol)
	cancel()
	if err != nil {
		return
	}
	defer b.Close()
	r.mu.Lock()
	r.conns[c], r.conns[b] = true, true
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, b)
	r.mu.Unlock()
}

// closeAll drops every open connection: the component must open new ones.
func (r *recorder) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		_ = c.Close()
	}
}

// since are the handshakes after t.
func (r *recorder) since(t time.Time) []handshake {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []handshake
	for _, h := range r.seen {
		if !h.at.Before(t) {
			out = append(out, h)
		}
	}
	return out
}

// tlsBackend dials addr in the namespace with the pair at certFile/keyFile,
// trusting caFile, offering alpn.
func tlsBackend(p *testbed.KubeadmPlane, addr, caFile, certFile, keyFile string) func(ctx context.Context, alpn string) (net.Conn, error) {
	return func(ctx context.Context, alpn string) (net.Conn, error) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(caFile)
		pool.AppendCertsFromPEM(ca)
		host, _, _ := net.SplitHostPort(addr)
		cfg := &tls.Config{RootCAs: pool, ServerName: host, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		if alpn != "" {
			cfg.NextProtos = []string{alpn}
		}
		raw, err := p.NS.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, cfg)
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
}

// pair loads a certificate and key (real paths) as a tls.Certificate.
func pair(t *testing.T, certFile, keyFile string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loadCA loads one of the node's CAs.
func loadCA(t *testing.T, p *testbed.KubeadmPlane, name string) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(p.Path(layout.PKIDir+"/"+name+".crt"), p.Path(layout.PKIDir+"/"+name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// reissue signs the certificate at certPath again with ca: same subject,
// SANs, usages and key, a new serial and validity from now, and replaces
// the file atomically (rename), as a rescue's deploy does. It returns the
// new certificate.
func reissue(t *testing.T, p *testbed.KubeadmPlane, ca *pki.CA, certPath string) *x509.Certificate {
	t.Helper()
	old, err := diskCert(p, certPath)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := renewal.TemplateFrom(old)
	now := time.Now() // the real components' clock
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(365*24*time.Hour)
	c, err := pki.Sign(ca, tmpl, old.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, p.Path(certPath), pki.EncodeCertificatePEM(c.Raw), 0o644)
	return c
}

// issue makes a new leaf and key signed by ca and writes them at the node
// paths certPath and keyPath.
func issue(t *testing.T, p *testbed.KubeadmPlane, ca *pki.CA, cn string, orgs []string, usage x509.ExtKeyUsage, ips []net.IP, certPath, keyPath string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: cn, Organization: orgs}, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if certPath != "" {
		keyPEM, err := pki.MarshalPrivateKeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		replace(t, p.Path(certPath), pki.EncodeCertificatePEM(c.Raw), 0o644)
		replace(t, p.Path(keyPath), keyPEM, 0o600)
	}
	return c, key
}

// newCA makes a CA that is not the node's.
func newCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := pki.SelfSign(key, pki.Template{Subject: pkix.Name{CommonName: cn}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// replace writes data next to path and renames it over path.
func replace(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// kubeconfigYAML is a kubeconfig for server: the client certificate
// embedded (certPEM, keyPEM) or referenced (certFile, keyFile).
func kubeconfigYAML(server string, caPEM, certPEM, keyPEM []byte, certFile, keyFile, user string) string {
	b64 := base64.StdEncoding.EncodeToString
	cred := "    client-certificate-data: " + b64(certPEM) + "\n    client-key-data: " + b64(keyPEM) + "\n"
	if certFile != "" {
		cred = "    client-certificate: " + certFile + "\n    client-key: " + keyFile + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: %s
  name: default
current-context: default
users:
- name: %s
  user:
%s`, b64(caPEM), server, user, user, cred)
}
