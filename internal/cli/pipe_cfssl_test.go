package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// buildBinary builds cmd/certrescue as it ships (static) into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "certrescue")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/certrescue")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestFieldGuidePipelinesAcrossCFSSLAndCertrescue types the field guide's
// `gencert ... | cfssljson -bare NAME` with every pairing of the real cfssl
// 1.6.5 and the certrescue binary: two real processes joined by a real pipe
// (bash, pipefail). Each pipeline must exit 0 and leave exactly NAME.pem,
// NAME-key.pem (0600) and NAME.csr, written once, by cfssljson: gencert
// writes nothing of its own (its default name would be "apiserver"), and no
// key reaches the terminal.
func TestFieldGuidePipelinesAcrossCFSSLAndCertrescue(t *testing.T) {
	cfsslBin := testbed.Bin(t, "cfssl", "cfssl")
	cfssljsonBin := testbed.Bin(t, "cfssl", "cfssljson")
	cr := buildBinary(t, t.TempDir())
	dir := t.TempDir()
	writeKitConf(t, dir)
	env := append(os.Environ(), "CERTRESCUE_AUDIT_DSN="+filepath.Join(t.TempDir(), "audit.db"))
	sign := "-ca=ca.pem -ca-key=ca-key.pem -config=conf/ca-config.json -profile=kubernetes -hostname=" + fieldGuideHosts + " conf/apiserver-csr.json"

	steps := []struct {
		name     string
		pipeline string
		bare     string
	}{
		{"certrescue gencert -initca | certrescue cfssljson", cr + " gencert -initca conf/ca-csr.json | " + cr + " cfssljson -bare ca", "ca"},
		{"cfssl gencert -initca | certrescue cfssljson", cfsslBin + " gencert -initca conf/ca-csr.json | " + cr + " cfssljson -bare ca-by-cfssl", "ca-by-cfssl"},
		{"certrescue gencert | cfssljson (real)", cr + " gencert " + sign + " | " + cfssljsonBin + " -bare kube-apiserver", "kube-apiserver"},
		{"cfssl gencert | certrescue cfssljson", cfsslBin + " gencert " + sign + " | " + cr + " cfssljson -bare by-cfssl", "by-cfssl"},
		{"certrescue gencert | certrescue cfssljson", cr + " gencert " + sign + " | " + cr + " cfssljson -bare by-certrescue", "by-certrescue"},
	}
	for _, st := range steps {
		before := listDir(t, dir)
		cmd := exec.Command("bash", "-c", "set -o pipefail; "+st.pipeline)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", st.name, err, out)
		}
		if strings.Contains(string(out), "PRIVATE KEY") {
			t.Errorf("%s: a private key reached the terminal:\n%s", st.name, out)
		}
		var added []string
		for _, f := range listDir(t, dir) {
			if !slices.Contains(before, f) {
				added = append(added, f)
			}
		}
		want := []string{st.bare + "-key.pem", st.bare + ".csr", st.bare + ".pem"}
		slices.Sort(want)
		if !slices.Equal(added, want) {
			t.Errorf("%s: wrote %v, want exactly %v\n%s", st.name, added, want, out)
		}
		if fi, err := os.Stat(filepath.Join(dir, st.bare+"-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s-key.pem: %v, want mode 0600", st.name, st.bare, err)
		}
		if n := strings.Count(string(out), "wrote "+st.bare+".pem"); strings.Contains(st.pipeline, cr+" cfssljson") && n != 1 {
			t.Errorf("%s: %s.pem written %d times, want once:\n%s", st.name, st.bare, n, out)
		}
	}
	for _, leaf := range []string{"kube-apiserver.pem", "by-cfssl.pem", "by-certrescue.pem"} {
		opensslVerify(t, filepath.Join(dir, "ca.pem"), filepath.Join(dir, leaf))
	}
	byCfssl := loadCert(t, filepath.Join(dir, "by-cfssl.pem"))
	assertSameFields(t, "apiserver through cfssljson", byCfssl, loadCert(t, filepath.Join(dir, "kube-apiserver.pem")))
	assertSameFields(t, "apiserver through certrescue cfssljson", byCfssl, loadCert(t, filepath.Join(dir, "by-certrescue.pem")))
	assertSameFields(t, "root CA", loadCert(t, filepath.Join(dir, "ca-by-cfssl.pem")), loadCert(t, filepath.Join(dir, "ca.pem")))
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}
