package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// expiredNode is a kubeadm node whose every leaf expired a month before
// testpki.Epoch.
func expiredNode(t *testing.T) *testpki.Tree {
	t.Helper()
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-30*24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	return tr
}

// keySecrets collects every private key under root as it could leak into
// output: each PEM body line, and the base64 of the whole PEM as kubeconfigs
// embed it.
func keySecrets(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	addPEM := func(data []byte) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return
			}
			if !strings.Contains(b.Type, "PRIVATE KEY") {
				continue
			}
			enc := pem.EncodeToMemory(b)
			out = append(out, base64.StdEncoding.EncodeToString(enc)[:60])
			for _, line := range strings.Split(string(enc), "\n") {
				if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
					out = append(out, line)
				}
			}
		}
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.Contains(p, "certrescue/backups") {
			return nil
		}
		data, _ := os.ReadFile(p)
		addPEM(data)
		if strings.HasSuffix(p, ".conf") {
			if kc, err := kubeconfig.Parse(data, filepath.Dir(p), nil); err == nil && kc.ClientKey.Embedded {
				addPEM(kc.ClientKey.Data)
			}
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no keys found under the root")
	}
	return out
}

func assertNoKeys(t *testing.T, secrets []string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, s := range secrets {
			if strings.Contains(o, s) {
				t.Fatalf("private key material appears in the output: %q", s)
			}
		}
	}
}

func TestRenewAllOnAnExpiredNode(t *testing.T) {
	tr := expiredNode(t)
	secrets := keySecrets(t, tr.Root)

	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "all", "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d: %s", r.code, r.stderr)
	}
	for _, c := range renewal.Inspect(tr.Root, layout.Kubeadm) {
		if c.Cert.NotAfter.After(testpki.Epoch) {
			t.Fatalf("--dry-run renewed %s", c.Role.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(tr.Root, "var/lib/certrescue")); err == nil {
		t.Error("--dry-run made a backup")
	}

	r = runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "all")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"apiserver-etcd-client", "kubelet.conf", "EXPIRED", "Backup: certrescue-backup-", "Restart to load them, in this order: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, c := range renewal.Inspect(tr.Root, layout.Kubeadm) {
		if c.Err != nil || !c.Cert.NotAfter.After(testpki.Epoch.Add(364*24*time.Hour)) {
			t.Errorf("%s: not renewed for a year (%v)", c.Role.Name, c.Err)
		}
	}
	assertNoKeys(t, secrets, r.stdout, r.stderr)

	r = runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "all", "--rotate-keys", "-o", "json")
	if r.code != 0 {
		t.Fatalf("--rotate-keys: exit %d: %s", r.code, r.stderr)
	}
	assertNoKeys(t, append(secrets, keySecrets(t, tr.Root)...), r.stdout, r.stderr)
	if !strings.Contains(r.stdout, `"newKey": true`) {
		t.Errorf("json output lacks newKey: %s", r.stdout)
	}
}

func TestRenewUsageErrors(t *testing.T) {
	tr := expiredNode(t)
	for _, args := range [][]string{
		{"renew"},
		{"renew", "apiserverr"},
		{"renew", "ca"},
		{"renew", "all", "--validity", "forever"},
		{"renew", "all", "--add-san", "not a name"},
	} {
		r := runAt(t, testpki.Epoch, "", append([]string{"--root", tr.Root}, args...)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, ExitUsage, r.stderr)
		}
	}
}

func TestBackupListVerifyRestoreThroughTheCLI(t *testing.T) {
	tr := expiredNode(t)
	secrets := keySecrets(t, tr.Root)
	key := filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.key")
	before, _ := os.ReadFile(key)

	var outputs []string
	for _, args := range [][]string{{"backup"}, {"backup", "list"}, {"backup", "verify", "latest"}} {
		r := runAt(t, testpki.Epoch, "", append([]string{"--root", tr.Root}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}
	if !strings.Contains(outputs[2], "certrescue-backup-") {
		t.Errorf("list output: %s", outputs[2])
	}
	os.WriteFile(key, []byte("oops"), 0o644)
	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", "latest")
	if r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(key)
	fi, _ := os.Stat(key)
	if !bytes.Equal(after, before) || fi.Mode().Perm() != 0o600 {
		t.Errorf("restore did not bring the key back (mode %v)", fi.Mode().Perm())
	}
	assertNoKeys(t, secrets, append(outputs, r.stdout, r.stderr)...)

	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", "no-such-backup"); r.code != ExitUsage {
		t.Errorf("restore of an unknown backup: exit %d", r.code)
	}
	_ = pki.MaxPEMSize
}

// TestRenewWithAnInventoryFile renews a certificate no kubeadm path, manifest
// or unit names, because an inventory file (check's format) names it.
func TestRenewWithAnInventoryFile(t *testing.T) {
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	ca := testpki.MustCA(t, testpki.WithCN("registry-ca"))
	testpki.WriteCert(t, at("/opt/registry/ca.crt"), ca.Cert)
	testpki.WriteKey(t, at("/opt/registry/ca.key"), ca.Signer)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("registry.internal"), testpki.WithDNS("registry.internal"),
		testpki.WithValidity(testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-time.Hour)))
	testpki.WriteCert(t, at("/opt/registry/tls.crt"), leaf.Cert)
	testpki.WriteKey(t, at("/opt/registry/tls.key"), leaf.Key)
	testpki.WriteFile(t, at("/etc/certrescue/inventory.yaml"), []byte(`items:
- path: /opt/registry/tls.crt
  key: /opt/registry/tls.key
  ca: /opt/registry/ca.crt
`), 0o644)

	if r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "all"); r.code != ExitFailure || !strings.Contains(r.stderr, "--inventory") {
		t.Errorf("without the inventory: exit %d, %s", r.code, r.stderr)
	}
	r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "all", "--inventory", "/etc/certrescue/inventory.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	c := loadCert(t, at("/opt/registry/tls.crt"))
	if c.NotAfter.Before(testpki.Epoch) || c.CheckSignatureFrom(ca.Cert) != nil || c.Subject.CommonName != "registry.internal" {
		t.Errorf("tls.crt not renewed from its template by its CA: %s until %s", c.Subject, c.NotAfter)
	}
}
