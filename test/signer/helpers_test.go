package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// node is a kubeadm tree under a temporary root whose leaves expire in ten
// days, made at the real time (cfssl serve signs at its own clock), with its
// CA keys taken off the node: only a remote signer can renew it.
type node struct {
	root string
	tree *testpki.Tree
}

func newNode(t *testing.T) *node {
	t.Helper()
	now := time.Now()
	root := t.TempDir()
	tree := testpki.KubeadmTree(t, root, testpki.TreeOptions{
		NotBefore: now.Add(-355 * 24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour),
		CANotBefore: now.Add(-400 * 24 * time.Hour), CANotAfter: now.Add(9 * 365 * 24 * time.Hour),
	})
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA {
			if err := os.Remove(filepath.Join(root, r.KeyPath)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &node{root: root, tree: tree}
}

// caKeysAbsent fails when a CA key is on the node.
func (n *node) caKeysAbsent(t *testing.T) {
	t.Helper()
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA {
			if _, err := os.Stat(filepath.Join(n.root, r.KeyPath)); err == nil {
				t.Errorf("%s is on the node", r.KeyPath)
			}
		}
	}
}

// certrescue runs the command in-process with its audit store under the root.
func (n *node) certrescue(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Main(ctx, append([]string{"--root", n.root}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

// leaf is one renewable credential's certificate file, as openssl reads it.
type leaf struct {
	name, caPath string
	cert         *x509.Certificate
	pemFile      string // the certificate (and chain) as PEM in a file of its own
}

// leaves returns the renewable credentials of the node, their certificates
// taken out of kubeconfigs and bundles into files of their own.
func (n *node) leaves(t *testing.T) map[string]leaf {
	t.Helper()
	out := map[string]leaf{}
	dir := t.TempDir()
	ca := map[string]string{}
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA {
			ca[r.Name] = filepath.Join(n.root, r.CertPath)
		}
	}
	fsys := nodefs.New(n.root) // symlinks resolve under the root, as on the node
	read := func(p string) ([]byte, error) { return fsys.Read(p, pki.MaxPEMSize) }
	for _, r := range layout.Kubeadm {
		var certs []*x509.Certificate
		switch r.Kind {
		case layout.KindLeaf, layout.KindBundle:
			data, err := read(r.CertPath)
			if err != nil {
				t.Fatal(err)
			}
			if certs, err = pki.ParseCertificatesPEM(data); err != nil {
				t.Fatalf("%s: %v", r.CertPath, err)
			}
		case layout.KindKubeconfig:
			data, err := read(r.CertPath)
			if err != nil {
				t.Fatal(err)
			}
			kc, err := kubeconfig.Parse(data, filepath.Dir(r.CertPath), read)
			if err != nil {
				t.Fatalf("%s: %v", r.CertPath, err)
			}
			if certs, err = kc.ClientCertificates(); err != nil {
				t.Fatalf("%s: %v", r.CertPath, err)
			}
		default:
			continue
		}
		f := filepath.Join(dir, r.Name+".pem")
		testpki.WriteCert(t, f, certs...)
		out[r.Name] = leaf{name: r.Name, caPath: ca[r.CA], cert: certs[0], pemFile: f}
	}
	return out
}

// opensslVerifies has the real openssl verify every leaf against its CA
// certificate on the node (intermediates from the leaf's own file).
func opensslVerifies(t *testing.T, leaves map[string]leaf) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if testbed.Require() {
			t.Fatal("openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	for _, l := range leaves {
		out, err := exec.Command(openssl, "verify", "-CAfile", l.caPath, "-untrusted", l.pemFile, l.pemFile).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Errorf("openssl verify %s against %s: %v\n%s", l.name, l.caPath, err, out)
		}
	}
}

// renewed fails for every leaf of names whose certificate is still before's.
func renewed(t *testing.T, before, after map[string]leaf, names ...string) {
	t.Helper()
	for _, name := range names {
		if before[name].cert.SerialNumber.Cmp(after[name].cert.SerialNumber) == 0 {
			t.Errorf("%s was not renewed", name)
		}
		if !after[name].cert.NotAfter.After(time.Now().Add(300 * 24 * time.Hour)) {
			t.Errorf("%s valid until %s, want about a year", name, after[name].cert.NotAfter)
		}
		if !slices.Equal(before[name].cert.Subject.Organization, after[name].cert.Subject.Organization) {
			t.Errorf("%s: O %v, was %v", name, after[name].cert.Subject.Organization, before[name].cert.Subject.Organization)
		}
	}
}

// auditDetails returns the detail of every audit record of the node.
func (n *node) auditDetails(t *testing.T) []string {
	t.Helper()
	code, out := n.certrescue(t, "audit", "list", "-o", "jsonl")
	if code != 0 {
		t.Fatalf("audit list: exit %d\n%s", code, out)
	}
	var details []string
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var rec struct {
			Detail string `json:"detail"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("audit list -o jsonl: %v\n%s", err, out)
		}
		details = append(details, rec.Detail)
	}
	return details
}

func renewableNames() []string {
	var out []string
	for _, r := range layout.Kubeadm {
		switch r.Kind {
		case layout.KindLeaf, layout.KindBundle, layout.KindKubeconfig:
			out = append(out, r.Name)
		}
	}
	return out
}

const hmacKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// path is a node path's place on this machine.
func (n *node) path(p string) string { return filepath.Join(n.root, p) }

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hashes is a digest of every file under the node's /etc/kubernetes and
// /var/lib/kubelet.
func (n *node) hashes(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, d := range []string{"etc/kubernetes", "var/lib/kubelet"} {
		err := filepath.Walk(filepath.Join(n.root, d), func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			fmt.Fprintf(&b, "%s %x %v\n", p, sum, fi.Mode())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// offline runs certrescue without --root, as on the offline root's machine.
func offline(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, strings.NewReader(""), &out, &out)
	return code, out.String()
}
