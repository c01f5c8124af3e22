package cli

import (
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/kit"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// fieldGuideHosts is the -hostname list of the field guide's step 3.
const fieldGuideHosts = "10.0.0.1,kubernetes.default.svc,kubernetes.default,localhost,127.0.0.1"

// writeKitConf writes the kit's conf/ templates into dir/conf.
func writeKitConf(t *testing.T, dir string) string {
	t.Helper()
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ca-csr.json", "ca-config.json", "apiserver-csr.json"} {
		data, err := kit.Conf.ReadFile("conf/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return conf
}

// cfsslPipe runs `cfssl ARGS | cfssljson -bare NAME` in dir, as the field guide does.
func cfsslPipe(t *testing.T, dir, bare string, args ...string) {
	t.Helper()
	cfsslBin := testbed.Bin(t, "cfssl", "cfssl")
	jsonBin := testbed.Bin(t, "cfssl", "cfssljson")
	gen := exec.Command(cfsslBin, args...)
	gen.Dir = dir
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("cfssl %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
	}
	js := exec.Command(jsonBin, "-bare", bare)
	js.Dir = dir
	js.Stdin = strings.NewReader(string(out))
	if b, err := js.CombinedOutput(); err != nil {
		t.Fatalf("cfssljson -bare %s: %v\n%s", bare, err, b)
	}
}

func stderrOf(err error) string {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

func loadCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return certs[0]
}

// comparable keeps the fields that must agree between two issuers: everything
// but serial, key identifiers, fingerprint, issuer key and the validity instant.
type comparable struct {
	Subject, Issuer        string
	DNS, IPs, Emails, URIs []string
	KeyUsage, ExtKeyUsage  []string
	IsCA, BasicConstraints bool
	MaxPathLen             *int
	KeyAlgorithm           string
	KeySize                int
	SignatureAlgo          string
	ValidityLength         string
	HasSKI, HasAKI         bool
}

func comparableOf(c *x509.Certificate) comparable {
	d := facts.Describe(c)
	return comparable{
		Subject: d.Subject, Issuer: d.Issuer, DNS: d.DNSNames, IPs: d.IPAddresses, Emails: d.EmailAddresses, URIs: d.URIs,
		KeyUsage: d.KeyUsage, ExtKeyUsage: d.ExtKeyUsage, IsCA: d.IsCA, BasicConstraints: d.BasicConstraints, MaxPathLen: d.MaxPathLen,
		KeyAlgorithm: d.KeyAlgorithm, KeySize: d.KeySize, SignatureAlgo: d.SignatureAlgo,
		ValidityLength: c.NotAfter.Sub(c.NotBefore).String(),
		HasSKI:         len(c.SubjectKeyId) > 0, HasAKI: len(c.AuthorityKeyId) > 0,
	}
}

func assertSameFields(t *testing.T, what string, cfsslCert, ours *x509.Certificate) {
	t.Helper()
	a, b := comparableOf(cfsslCert), comparableOf(ours)
	if !reflect.DeepEqual(a, b) {
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		for i := 0; i < va.NumField(); i++ {
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				t.Errorf("%s: field %s differs:\n  cfssl:      %v\n  certrescue: %v", what, va.Type().Field(i).Name,
					deref(va.Field(i).Interface()), deref(vb.Field(i).Interface()))
			}
		}
	}
}

func deref(v any) any {
	if p, ok := v.(*int); ok && p != nil {
		return *p
	}
	return v
}

func opensslVerify(t *testing.T, caFile, leaf string) {
	t.Helper()
	out, err := exec.Command("openssl", "verify", "-CAfile", caFile, leaf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify -CAfile %s %s: %v\n%s", caFile, leaf, err, out)
	}
}

// TestFieldGuideFlowMatchesRealCFSSL runs the field guide's steps 2 and 3 with
// the real cfssl 1.6.5 and with certrescue on the same JSON files and compares
// the certificates field by field, then cross-signs both ways.
func TestFieldGuideFlowMatchesRealCFSSL(t *testing.T) {
	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	cf := filepath.Join(dir, "cfssl")
	cr := filepath.Join(dir, "certrescue")
	for _, d := range []string{cf, cr} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	csr := func(n string) string { return filepath.Join(conf, n) }

	// Step 2: the root CA.
	cfsslPipe(t, cf, "ca", "gencert", "-initca", csr("ca-csr.json"))
	mustRun(t, "gencert", "-initca", "--out-dir", cr, "--bare", "ca", csr("ca-csr.json"))
	assertSameFields(t, "root CA", loadCert(t, filepath.Join(cf, "ca.pem")), loadCert(t, filepath.Join(cr, "ca.pem")))

	// Step 3: the API server certificate, same flags.
	for _, d := range []string{cf, cr} {
		args := []string{"gencert", "-ca=" + filepath.Join(d, "ca.pem"), "-ca-key=" + filepath.Join(d, "ca-key.pem"),
			"-config=" + csr("ca-config.json"), "-hostname=" + fieldGuideHosts, "-profile=kubernetes", csr("apiserver-csr.json")}
		if d == cf {
			cfsslPipe(t, d, "apiserver", args...)
		} else {
			mustRun(t, append(args, "--out-dir", d)...)
		}
	}
	assertSameFields(t, "apiserver", loadCert(t, filepath.Join(cf, "apiserver.pem")), loadCert(t, filepath.Join(cr, "apiserver.pem")))
	for _, d := range []string{cf, cr} {
		opensslVerify(t, filepath.Join(d, "ca.pem"), filepath.Join(d, "apiserver.pem"))
	}

	// ECDSA and Ed25519-free cfssl defaults: a request without a key section.
	ecReq := filepath.Join(dir, "etcd-csr.json")
	if err := os.WriteFile(ecReq, []byte(`{"CN":"etcd","hosts":["127.0.0.1","etcd.local"],"names":[{"O":"etcd"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfsslPipe(t, cf, "etcd", "gencert", "-ca="+filepath.Join(cf, "ca.pem"), "-ca-key="+filepath.Join(cf, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", ecReq)
	mustRun(t, "gencert", "-ca="+filepath.Join(cr, "ca.pem"), "-ca-key="+filepath.Join(cr, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", "--out-dir", cr, ecReq)
	assertSameFields(t, "etcd (default key)", loadCert(t, filepath.Join(cf, "etcd.pem")), loadCert(t, filepath.Join(cr, "etcd.pem")))

	// Cross-signing: cfssl's CA signs through certrescue, certrescue's through cfssl.
	mustRun(t, "gencert", "-ca="+filepath.Join(cf, "ca.pem"), "-ca-key="+filepath.Join(cf, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", "-hostname="+fieldGuideHosts,
		"--out-dir", dir, "--bare", "cross-by-certrescue", csr("apiserver-csr.json"))
	cfsslPipe(t, dir, "cross-by-cfssl", "gencert", "-ca="+filepath.Join(cr, "ca.pem"), "-ca-key="+filepath.Join(cr, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", "-hostname="+fieldGuideHosts, csr("apiserver-csr.json"))
	opensslVerify(t, filepath.Join(cf, "ca.pem"), filepath.Join(dir, "cross-by-certrescue.pem"))
	opensslVerify(t, filepath.Join(cr, "ca.pem"), filepath.Join(dir, "cross-by-cfssl.pem"))

	// certrescue's JSON into the real cfssljson, and cfssl's JSON into certrescue cfssljson.
	r := mustRun(t, "gencert", "--json", "-ca="+filepath.Join(cr, "ca.pem"), "-ca-key="+filepath.Join(cr, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", csr("apiserver-csr.json"))
	js := exec.Command(testbed.Bin(t, "cfssl", "cfssljson"), "-bare", "piped")
	js.Dir = dir
	js.Stdin = strings.NewReader(r.stdout)
	if b, err := js.CombinedOutput(); err != nil {
		t.Fatalf("real cfssljson on certrescue's JSON: %v\n%s", err, b)
	}
	opensslVerify(t, filepath.Join(cr, "ca.pem"), filepath.Join(dir, "piped.pem"))
	gen := exec.Command(testbed.Bin(t, "cfssl", "cfssl"), "gencert", "-ca="+filepath.Join(cf, "ca.pem"), "-ca-key="+filepath.Join(cf, "ca-key.pem"),
		"-config="+csr("ca-config.json"), "-profile=kubernetes", csr("apiserver-csr.json"))
	out, err := gen.Output()
	if err != nil {
		t.Fatal(err)
	}
	if rr := runAt(t, nowish(), string(out), "cfssljson", "-bare", "fromcfssl", "--out-dir", dir); rr.code != 0 {
		t.Fatalf("certrescue cfssljson on cfssl's JSON: %d %s", rr.code, rr.stderr)
	}
	opensslVerify(t, filepath.Join(cf, "ca.pem"), filepath.Join(dir, "fromcfssl.pem"))
	if fi, err := os.Stat(filepath.Join(dir, "fromcfssl-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("fromcfssl-key.pem: %v mode %v, want 0600", err, fi.Mode().Perm())
	}
}
