package txn_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveBuilt()
	os.Exit(code)
}

// renameSyscalls are every spelling of rename the Go runtime may use.
const renameSyscalls = "rename,renameat,renameat2"

// killAfterRenames runs argv under strace and SIGKILLs it once n renames
// have returned (n <= 0: run to the end); see testbed.KillAfter.
func killAfterRenames(t *testing.T, strace string, n int, dir string, argv ...string) int {
	t.Helper()
	seen, _, _ := testbed.KillAfter(t, strace, renameSyscalls, n, dir, argv...)
	return seen
}

// node writes a kubeadm node whose certificates are valid now.
func node(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	now := time.Now()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{
		NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(300 * 24 * time.Hour),
		CANotBefore: now.Add(-365 * 24 * time.Hour), CANotAfter: now.Add(9 * 365 * 24 * time.Hour),
	})
	return root
}

type pair struct {
	name       string
	cert       *x509.Certificate
	keyMatches bool
}

// pairs reads every kubeadm credential's certificate and says whether its key
// matches it: the test's own reading, not certrescue's.
func pairs(t *testing.T, root string) []pair {
	t.Helper()
	n := nodefs.New(root)
	read := func(p string) ([]byte, error) {
		f, err := n.ReadFile(p, 1<<20)
		if err != nil {
			return nil, err
		}
		return f.Data, nil
	}
	var out []pair
	for _, r := range layout.Kubeadm {
		switch r.Kind {
		case layout.KindLeaf, layout.KindCA:
			cb, err := read(r.CertPath)
			if err != nil {
				continue
			}
			kb, err := read(r.KeyPath)
			if err != nil {
				t.Fatalf("%s: key: %v", r.Name, err)
			}
			certs, err := pki.ParseCertificatesPEM(cb)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			key, err := pki.ParsePrivateKeyPEM(kb)
			if err != nil {
				t.Fatalf("%s: key: %v", r.Name, err)
			}
			out = append(out, pair{r.Name, certs[0], pki.PublicKeysEqual(certs[0].PublicKey, key.Public())})
		case layout.KindKubeconfig, layout.KindBundle:
			b, err := read(r.CertPath)
			if err != nil {
				continue
			}
			if r.Kind == layout.KindBundle {
				certs, err := pki.ParseCertificatesPEM(b)
				if err != nil {
					t.Fatalf("%s: %v", r.Name, err)
				}
				key, err := pki.ParsePrivateKeyPEM(b)
				if err != nil {
					t.Fatalf("%s: key: %v", r.Name, err)
				}
				out = append(out, pair{r.Name, certs[0], pki.PublicKeysEqual(certs[0].PublicKey, key.Public())})
				continue
			}
			kc, err := kubeconfig.Parse(b, filepath.Dir(r.CertPath), read)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			certs, err := kc.ClientCertificates()
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			key, err := kc.ClientPrivateKey()
			if err != nil {
				t.Fatalf("%s: key: %v", r.Name, err)
			}
			out = append(out, pair{r.Name, certs[0], pki.PublicKeysEqual(certs[0].PublicKey, key.Public())})
		}
	}
	return out
}

func temps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && nodefs.IsTemp(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

type auditEvent struct {
	Action      string `json:"action_type"`
	Fingerprint string `json:"fingerprint_sha256"`
	Result      string `json:"result"`
}

func auditFingerprints(t *testing.T, bin, root string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, "--root", root, "audit", "list", "--limit", "0", "-o", "json").Output()
	if err != nil {
		t.Fatalf("audit list: %v", err)
	}
	var evs []auditEvent
	if err := json.Unmarshal(out, &evs); err != nil {
		var wrapped struct {
			Events []auditEvent `json:"events"`
		}
		if err2 := json.Unmarshal(out, &wrapped); err2 != nil {
			t.Fatalf("audit list -o json: %v\n%s", err, out)
		}
		evs = wrapped.Events
	}
	fps := map[string]bool{}
	for _, e := range evs {
		if e.Fingerprint != "" && (e.Action == string(facts.ActionRenew) || e.Action == string(facts.ActionCreate)) {
			fps[strings.ToLower(strings.ReplaceAll(e.Fingerprint, ":", ""))] = true
		}
	}
	return fps
}

func TestRenewKilledAnywhereInItsRenamePhaseLeavesNoMismatchedPair(t *testing.T) {
	strace := testbed.Strace(t)
	bin := testbed.Certrescue(t)
	runs := 30
	if testing.Short() {
		runs = 6
	}
	// One full run under strace counts the renames of the whole command
	// (backup, journal, credentials, journal removal).
	total := killAfterRenames(t, strace, 0, t.TempDir(), bin, "--root", node(t), "renew", "all", "--rotate-keys")
	if total < 10 {
		t.Fatalf("a full renew all --rotate-keys made %d renames: strace saw nothing?", total)
	}
	var recovered, untouched, finished int
	for i := 0; i < runs; i++ {
		k := 1 + i*total/runs
		t.Run(fmt.Sprintf("killed after %d of %d renames", k, total), func(t *testing.T) {
			root := node(t)
			before := map[string]string{}
			leaves := 0
			for _, p := range pairs(t, root) {
				before[p.name] = facts.Fingerprint(p.cert)
				if !p.cert.IsCA {
					leaves++
				}
			}
			killAfterRenames(t, strace, k, t.TempDir(), bin, "--root", root, "renew", "all", "--rotate-keys")
			// check, which changes nothing, reports what was left unfinished.
			if js, _ := filepath.Glob(filepath.Join(root, "var/lib/certrescue/txn/.certrescue-txn-*")); len(js) > 0 {
				var stderr bytes.Buffer
				chk := exec.Command(bin, "--root", root, "check", "-o", "json")
				chk.Stderr = &stderr
				_ = chk.Run()
				if !strings.Contains(stderr.String(), "unfinished transaction") {
					t.Errorf("check does not report the unfinished transaction %s:\n%s", js[0], stderr.String())
				}
			}
			// The next state-changing command finishes or abandons it.
			out, err := exec.Command(bin, "--root", root, "harden").CombinedOutput()
			if err != nil {
				t.Fatalf("the next command (harden): %v\n%s", err, out)
			}
			if bytes.Contains(out, []byte("recovered")) {
				recovered++
			}
			changed := 0
			fps := auditFingerprints(t, bin, root)
			for _, p := range pairs(t, root) {
				if !p.keyMatches {
					t.Errorf("%s: the certificate and its key are from different generations", p.name)
				}
				fp := facts.Fingerprint(p.cert)
				if fp != before[p.name] {
					changed++
					if !fps[strings.ToLower(strings.ReplaceAll(fp, ":", ""))] {
						t.Errorf("%s changed (now %s) with no RENEW event on record", p.name, fp)
					}
				}
			}
			switch changed {
			case 0:
				untouched++
			case leaves:
				finished++
			default:
				t.Errorf("%d of %d certificates renewed: a transaction is all or nothing", changed, leaves)
			}
			if left := temps(t, root); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			chk, _ := exec.Command(bin, "--root", root, "check", "-o", "json").Output()
			if bytes.Contains(chk, []byte(`"key_mismatch"`)) {
				t.Errorf("check finds a key_mismatch after the next command:\n%s", chk)
			}
		})
	}
	t.Logf("%d runs: %d left untouched, %d wholly renewed, %d recovered by the next command", runs, untouched, finished, recovered)
}

func TestGencertKilledAnywhereInItsRenamePhaseLeavesNoMismatchedPair(t *testing.T) {
	strace := testbed.Strace(t)
	bin := testbed.Certrescue(t)
	runs := 30
	if testing.Short() {
		runs = 6
	}
	names := []string{"apiserver", "admin", "kube-proxy", "etcd", "kubelet"}
	setup := func(t *testing.T) (dir, root string, args []string) {
		dir, root = t.TempDir(), t.TempDir()
		now := time.Now()
		ca := testpki.MustCA(t, testpki.WithCN("kubernetes"), testpki.WithValidity(now.Add(-time.Hour), now.Add(5*365*24*time.Hour)))
		testpki.WriteCert(t, filepath.Join(dir, "ca.pem"), ca.Cert)
		testpki.WriteFile(t, filepath.Join(dir, "ca-key.pem"), testpki.KeyPEM(t, ca.Signer), 0o600)
		testpki.WriteFile(t, filepath.Join(dir, "ca-config.json"), []byte(`{"signing":{"default":{"expiry":"8760h"},"profiles":{"kubernetes":{"expiry":"8760h","usages":["signing","key encipherment","server auth","client auth"]}}}}`), 0o644)
		args = []string{"--root", root, "gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kubernetes", "--force"}
		for _, n := range names {
			testpki.WriteFile(t, filepath.Join(dir, n+"-csr.json"), []byte(`{"CN":"`+n+`","hosts":["127.0.0.1"],"key":{"algo":"ecdsa","size":256}}`), 0o644)
			args = append(args, n+"-csr.json")
		}
		// A first issuance, so that every run replaces existing pairs.
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gencert: %v\n%s", err, out)
		}
		return dir, root, args
	}
	dir, _, args := setup(t)
	total := killAfterRenames(t, strace, 0, dir, append([]string{bin}, args...)...)
	if total < len(names)*3 {
		t.Fatalf("a full gencert of %d CSRs made %d renames: strace saw nothing?", len(names), total)
	}
	var untouched, finished int
	for i := 0; i < runs; i++ {
		k := 1 + i*total/runs
		t.Run(fmt.Sprintf("killed after %d of %d renames", k, total), func(t *testing.T) {
			dir, root, args := setup(t)
			before := map[string]string{}
			for _, n := range names {
				before[n] = facts.Fingerprint(gencertPair(t, dir, n).cert)
			}
			killAfterRenames(t, strace, k, dir, append([]string{bin}, args...)...)
			// The next gencert into the same directory finishes or abandons it.
			next := exec.Command(bin, "--root", root, "gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kubernetes", "--force", "-bare", "other", "apiserver-csr.json")
			next.Dir = dir
			if out, err := next.CombinedOutput(); err != nil {
				t.Fatalf("the next gencert: %v\n%s", err, out)
			}
			fps := auditFingerprints(t, bin, root)
			changed := 0
			for _, n := range names {
				p := gencertPair(t, dir, n)
				if !p.keyMatches {
					t.Errorf("%s.pem and %s-key.pem are from different generations", n, n)
				}
				if fp := facts.Fingerprint(p.cert); fp != before[n] {
					changed++
					if !fps[strings.ToLower(strings.ReplaceAll(fp, ":", ""))] {
						t.Errorf("%s.pem changed with no CREATE event on record", n)
					}
				}
			}
			switch changed {
			case 0:
				untouched++
			case len(names):
				finished++
			default:
				t.Errorf("%d of %d pairs replaced: one gencert is all or nothing", changed, len(names))
			}
			if left := temps(t, dir); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
	t.Logf("%d runs: %d left untouched, %d wholly replaced", runs, untouched, finished)
}

func gencertPair(t *testing.T, dir, name string) pair {
	t.Helper()
	n := nodefs.Host()
	cb, err := n.Read(filepath.Join(dir, name+".pem"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := n.Read(filepath.Join(dir, name+"-key.pem"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(cb)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(kb)
	if err != nil {
		t.Fatal(err)
	}
	return pair{name, certs[0], pki.PublicKeysEqual(certs[0].PublicKey, key.Public())}
}
