package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

// TestSignsAnOpenSSLRequestWithTheProfileNotTheRequestsUsages signs a CSR made
// by openssl (as kubeadm certs generate-csr would make one), and checks the
// profile, not the request, decides usages and lifetime, and the fixed clock
// decides the validity window (backdated five minutes).
func TestSignsAnExternalRequest(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	if r := runAt(t, now, "", "ca", "init", "--layout", "kubeadm", "--out-dir", dir, filepath.Join(conf, "ca-csr.json")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	key, csr := filepath.Join(dir, "apiserver.key"), filepath.Join(dir, "apiserver.csr")
	if out, err := exec.Command("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
		"-subj", "/CN=kube-apiserver", "-addext", "subjectAltName=DNS:kubernetes,IP:10.96.0.1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	r := runAt(t, now, "", "sign", "-ca="+filepath.Join(dir, "ca.crt"), "-ca-key="+filepath.Join(dir, "ca.key"),
		"-config="+filepath.Join(conf, "ca-config.json"), "-profile=kubernetes", "--layout", "kubeadm", "--out-dir", dir, csr)
	if r.code != 0 {
		t.Fatalf("sign: %s", r.stderr)
	}
	c := loadCert(t, filepath.Join(dir, "apiserver.crt"))
	d := facts.Describe(c)
	if d.CommonName != "kube-apiserver" || strings.Join(d.DNSNames, ",") != "kubernetes" || strings.Join(d.IPAddresses, ",") != "10.96.0.1" {
		t.Errorf("subject/SANs not taken from the request: %+v", d)
	}
	if strings.Join(d.ExtKeyUsage, ",") != "server auth,client auth" {
		t.Errorf("EKU %v, want the profile's", d.ExtKeyUsage)
	}
	if !c.NotBefore.Equal(now.Round(time.Minute).Add(-5*time.Minute)) || c.NotAfter.Sub(c.NotBefore) != 8760*time.Hour {
		t.Errorf("validity %v..%v, want backdated 5m from the injected clock and 8760h long", c.NotBefore, c.NotAfter)
	}
	opensslVerify(t, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "apiserver.crt"))
	if _, err := os.Stat(filepath.Join(dir, "apiserver.key")); err != nil {
		t.Error("sign must leave the requester's key alone")
	}
}

// TestRootFlagMovesNodePathsUnderTheMountedDisk repairs "a node's disk mounted
// elsewhere": absolute paths resolve under --root, relative ones stay put.
func TestRootFlagMovesNodePathsUnderTheMountedDisk(t *testing.T) {
	root := t.TempDir()
	pki := filepath.Join(root, "etc", "kubernetes", "pki")
	if err := os.MkdirAll(pki, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := writeKitConf(t, t.TempDir())
	mustRun(t, "--root", root, "ca", "init", "--layout", "kubeadm", "--out-dir", "/etc/kubernetes/pki", relTo(t, filepath.Join(conf, "ca-csr.json")))
	if _, err := os.Stat(filepath.Join(pki, "ca.crt")); err != nil {
		t.Fatalf("ca.crt not under --root: %v", err)
	}
	r := mustRun(t, "--root", root, "certinfo", "-o", "json", "/etc/kubernetes/pki/ca.crt")
	var list []struct {
		Path string
		facts.Certificate
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("certinfo -o json: want an array of one: %v\n%s", err, r.stdout)
	}
	if list[0].Path != "/etc/kubernetes/pki/ca.crt" {
		t.Errorf("path %q, want the node path given", list[0].Path)
	}
	d := list[0].Certificate
	if d.CommonName != "kubernetes-ca" || !d.IsCA || d.KeyAlgorithm != "RSA" || d.KeySize != 2048 || len(d.FingerprintSHA256) != 95 {
		t.Errorf("certinfo json = %+v", d)
	}
	if d.NotAfter.Sub(d.NotBefore) != 87600*time.Hour {
		t.Errorf("CA lifetime %v, want the template's 87600h", d.NotAfter.Sub(d.NotBefore))
	}
}

// relTo returns p relative to the working directory, so the test exercises the
// "relative paths are the operator's own files" rule.
func relTo(t *testing.T, p string) string {
	t.Helper()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, p)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func TestCAInitDefaultsToTenYearsAndWarnsAboutProfilesOutlivingIt(t *testing.T) {
	dir := t.TempDir()
	req := writeFile(t, filepath.Join(dir, "ca-csr.json"), `{"CN":"ten-year-ca"}`)
	cfg := writeFile(t, filepath.Join(dir, "ca-config.json"), `{"signing":{"profiles":{"forever":{"usages":["server auth"],"expiry":"876000h"},"ok":{"usages":["server auth"],"expiry":"8760h"}}}}`)
	r := mustRun(t, "ca", "init", "--config", cfg, "--out-dir", dir, req)
	c := loadCert(t, filepath.Join(dir, "ca.pem"))
	if got := c.NotAfter.Sub(c.NotBefore); got != 87600*time.Hour {
		t.Errorf("default CA lifetime %v, want 87600h (10 years)", got)
	}
	if !strings.Contains(r.stderr, `profile "forever"`) || strings.Contains(r.stderr, `profile "ok"`) {
		t.Errorf("warnings:\n%s", r.stderr)
	}
}

func TestCertinfoTableShowsExpiry(t *testing.T) {
	dir := t.TempDir()
	req := writeFile(t, filepath.Join(dir, "ca-csr.json"), `{"CN":"old","ca":{"expiry":"24h"}}`)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if r := runAt(t, now, "", "ca", "init", "--out-dir", dir, req); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := runAt(t, now.Add(72*time.Hour), "", "certinfo", filepath.Join(dir, "ca.pem"))
	if !strings.Contains(r.stdout, "EXPIRED") || !strings.Contains(r.stdout, "CA:TRUE") || !strings.Contains(r.stdout, "SHA-256:") {
		t.Errorf("certinfo table:\n%s", r.stdout)
	}
}
