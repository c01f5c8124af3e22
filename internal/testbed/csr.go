package testbed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// ControllerManagerSigns shows a running controller-manager's CSR signer
// (--cluster-signing-cert-file and --cluster-signing-key-file) signs with
// ca: a client CertificateSigningRequest is created through kubectl (any
// runner of the test's kubectl with an admin kubeconfig), approved, and the
// certificate in its status must be issued by ca.
func ControllerManagerSigns(t testing.TB, kubectl func(args ...string) (string, error), ca *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("signer-check-%d", time.Now().UnixNano()%1000000)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	req := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	manifest := filepath.Join(t.TempDir(), "csr.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: `+name+`
spec:
  request: `+req+`
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 3600
  usages: ["client auth"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the CSR is created", 2*time.Minute, func() error {
		out, err := kubectl("create", "-f", manifest)
		if err != nil && !strings.Contains(out, "AlreadyExists") {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	Eventually(t, "the CSR is approved", time.Minute, func() error {
		out, err := kubectl("certificate", "approve", name)
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	var cert *x509.Certificate
	Eventually(t, "the controller-manager signs the approved CSR", 2*time.Minute, func() error {
		out, err := kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}")
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		if strings.TrimSpace(out) == "" {
			return errors.New("not signed yet")
		}
		pemData, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil {
			return err
		}
		certs, err := pki.ParseCertificatesPEM(pemData)
		if err != nil {
			return fmt.Errorf("status.certificate: %w", err)
		}
		if len(certs) == 0 {
			return errors.New("status.certificate holds no certificate")
		}
		cert = certs[0]
		return nil
	})
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("the controller-manager signed the CSR with another CA than %s (subject key ID %x; the certificate's authority key ID %x): %v",
			ca.Subject, ca.SubjectKeyId, cert.AuthorityKeyId, err)
	}
	t.Logf("the controller-manager signed CSR %s with the CA of subject key ID %x", name, ca.SubjectKeyId)
}
