package cli

import (
	"encoding/json"
	"fmt"
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

// TestSignsSeveralRequestsInOneRun signs three workers' requests from one
// input (what the fleet's worker play sends the CA holder): one JSON line
// each, in order, one audit event each under --bare's names; a run that
// cannot sign them all prints and records nothing.
func TestSignsSeveralRequestsInOneRun(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	root := t.TempDir()
	conf := writeKitConf(t, t.TempDir())
	if err := os.MkdirAll(filepath.Join(root, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	if r := runAt(t, now, "", "--root", root, "ca", "init", "--layout", "kubeadm", "--out-dir", "/ca", relTo(t, filepath.Join(conf, "ca-csr.json"))); r.code != 0 {
		t.Fatal(r.stderr)
	}
	var csrs []string
	for _, n := range []string{"worker-1", "worker-2", "worker-3"} {
		out, err := exec.Command("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", filepath.Join(t.TempDir(), "k"), "-subj", "/O=system:nodes/CN=system:node:"+n).Output()
		if err != nil {
			t.Fatalf("openssl req: %v", err)
		}
		csrs = append(csrs, string(out))
	}
	sign := func(stdin string, extra ...string) result {
		return runAt(t, now, stdin, append([]string{"--root", root, "sign", "-ca=/ca/ca.crt", "-ca-key=/ca/ca.key",
			"-config=" + relTo(t, filepath.Join(conf, "ca-config.json")), "-profile=kubernetes"}, append(extra, "-")...)...)
	}
	events := func() string {
		return runAt(t, now, "", "--root", root, "audit", "list", "-o", "json").stdout
	}

	r := sign(strings.Join(csrs, ""), "--json", "--bare=worker-1,worker-2,worker-3")
	if r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want three JSON lines, got %d:\n%s", len(lines), r.stdout)
	}
	ca := loadCert(t, filepath.Join(root, "ca", "ca.crt"))
	for i, l := range lines {
		var o struct{ Cert string }
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		p := filepath.Join(t.TempDir(), "c.pem")
		if err := os.WriteFile(p, []byte(o.Cert), 0o644); err != nil {
			t.Fatal(err)
		}
		c := loadCert(t, p)
		if want := fmt.Sprintf("system:node:worker-%d", i+1); c.Subject.CommonName != want || c.CheckSignatureFrom(ca) != nil {
			t.Errorf("line %d: %s, want %s signed by the CA", i+1, c.Subject.CommonName, want)
		}
	}
	ev := events()
	for _, n := range []string{"worker-1", "worker-2", "worker-3"} {
		if !strings.Contains(ev, `"cert_name": "`+n+`"`) && !strings.Contains(ev, `"cert_name":"`+n+`"`) {
			t.Errorf("no audit event for %s:\n%s", n, ev)
		}
	}

	damaged := csrs[0] + strings.Replace(csrs[1], "MI", "MA", 1) + csrs[2]
	for _, tc := range []struct {
		name, stdin, want string
		args              []string
	}{
		{"without --json", strings.Join(csrs, ""), "signed only with --json", nil},
		{"two names for three", strings.Join(csrs, ""), "2 names for the 3 requests", []string{"--json", "--bare=a,b"}},
		{"a name twice", strings.Join(csrs, ""), "empty or given twice", []string{"--json", "--bare=a,b,a"}},
		{"--hostname", strings.Join(csrs, ""), "--hostname would give every one", []string{"--json", "--hostname=x"}},
		{"the second damaged", damaged, "certificate request 2", []string{"--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sign(tc.stdin, tc.args...)
			if r.code != 3 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %s; want 3 (usage) and %q", r.code, r.stdout, r.stderr, tc.want)
			}
			if got := events(); got != ev {
				t.Errorf("the audit log changed:\n%s", got)
			}
		})
	}
}
