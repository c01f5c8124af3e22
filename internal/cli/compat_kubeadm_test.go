package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestKubeadmCAAndCSRsWorkWithCertrescue takes kubeadm v1.37.2's own output: its
// CA signs leaves through certrescue gencert, and the CSRs of `kubeadm certs
// generate-csr` are signed by certrescue sign with that CA; openssl accepts
// every result and the SANs kubeadm asked for are kept.
func TestKubeadmCAAndCSRsWorkWithCertrescue(t *testing.T) {
	kubeadm := testbed.Bin(t, "k8s", "kubeadm")
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if out, err := exec.Command(kubeadm, "init", "phase", "certs", "ca", "--cert-dir", pkiDir).CombinedOutput(); err != nil {
		t.Fatalf("kubeadm init phase certs ca: %v\n%s", err, out)
	}
	cfg := writeFile(t, filepath.Join(dir, "kubeadm.yaml"), `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.1
nodeRegistration:
  name: node1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: `+filepath.Join(dir, "csr")+"\n")
	if out, err := exec.Command(kubeadm, "certs", "generate-csr", "--config", cfg, "--kubeconfig-dir", filepath.Join(dir, "kc")).CombinedOutput(); err != nil {
		t.Fatalf("kubeadm certs generate-csr: %v\n%s", err, out)
	}
	conf := writeKitConf(t, dir)
	caArgs := []string{"-ca=" + filepath.Join(pkiDir, "ca.crt"), "-ca-key=" + filepath.Join(pkiDir, "ca.key"),
		"-config=" + filepath.Join(conf, "ca-config.json"), "-profile=kubernetes"}

	mustRun(t, append(append([]string{"gencert"}, caArgs...), "--out-dir", dir, filepath.Join(conf, "apiserver-csr.json"))...)
	opensslVerify(t, filepath.Join(pkiDir, "ca.crt"), filepath.Join(dir, "apiserver.pem"))

	out := filepath.Join(dir, "signed")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append(append([]string{"sign"}, caArgs...), "--layout", "kubeadm", "--out-dir", out, filepath.Join(dir, "csr", "apiserver.csr"))...)
	signed := filepath.Join(out, "apiserver.crt")
	opensslVerify(t, filepath.Join(pkiDir, "ca.crt"), signed)
	c := loadCert(t, signed)
	names := strings.Join(c.DNSNames, ",")
	for _, want := range []string{"kubernetes.default.svc.cluster.local", "node1"} {
		if !strings.Contains(names, want) {
			t.Errorf("SAN %s from kubeadm's CSR lost: %v", want, c.DNSNames)
		}
	}
	if len(c.IPAddresses) == 0 || c.IPAddresses[len(c.IPAddresses)-1].String() == "" {
		t.Errorf("IP SANs from kubeadm's CSR lost: %v", c.IPAddresses)
	}
	// kubeadm's key (PKCS#1 RSA) matches the certificate signed for its CSR.
	r := mustRun(t, "certinfo", "-o", "json", signed)
	if !strings.Contains(r.stdout, `"keyAlgorithm": "RSA"`) {
		t.Errorf("certinfo: %s", r.stdout)
	}
}
