package signer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// gencert and sign through the real cfssl serve: no CA key anywhere on this
// side, the server's profile decides usages; openssl verifies the results.
func TestGencertAndSignThroughCFSSLServe(t *testing.T) {
	n := newNode(t)
	srv := testbed.StartCFSSLServe(t, n.tree.CAs["ca"], testbed.CFSSLServeOptions{Profile: "kubernetes", AuthKey: hmacKey})
	dir := t.TempDir()
	t.Setenv("CERTRESCUE_AUDIT_DSN", filepath.Join(dir, "audit.db"))
	t.Setenv("CFSSL_AUTH_KEY", hmacKey) // the default env:CFSSL_AUTH_KEY
	writeFile(t, filepath.Join(dir, "apiserver-csr.json"), `{"CN":"kube-apiserver","hosts":["10.0.0.1","kubernetes.default.svc","localhost"],"key":{"algo":"ecdsa","size":256}}`)
	code, out := offline(t, "gencert", "--signer", "cfssl", "--signer-url", srv.URL, "-profile", "kubernetes",
		"--out-dir", dir, filepath.Join(dir, "apiserver-csr.json"))
	if code != 0 {
		t.Fatalf("gencert through cfssl serve: exit %d\n%s", code, out)
	}
	if strings.Contains(out, hmacKey) {
		t.Error("gencert shows the HMAC key")
	}
	caFile := filepath.Join(n.root, "etc/kubernetes/pki/ca.crt")
	opensslVerifies(t, map[string]leaf{"apiserver": {name: "apiserver", caPath: caFile, pemFile: filepath.Join(dir, "apiserver.pem")}})
	data, err := os.ReadFile(filepath.Join(dir, "apiserver.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil || len(certs[0].IPAddresses) != 1 || len(certs[0].DNSNames) != 2 {
		t.Fatalf("gencert's certificate: %v %+v", err, certs)
	}

	// sign: a CSR made elsewhere (here by gencert's key), kept as it is.
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pki.Template{Subject: certs[0].Subject, DNSNames: []string{"node1"}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "node1.csr"), string(pki.EncodeCSRPEM(der)))
	code, out = offline(t, "sign", "--signer", "cfssl", "--signer-url", srv.URL, "--signer-profile", "kubernetes",
		"--bare", filepath.Join(dir, "node1"), filepath.Join(dir, "node1.csr"))
	if code != 0 {
		t.Fatalf("sign through cfssl serve: exit %d\n%s", code, out)
	}
	opensslVerifies(t, map[string]leaf{"node1": {name: "node1", caPath: caFile, pemFile: filepath.Join(dir, "node1.pem")}})
}
