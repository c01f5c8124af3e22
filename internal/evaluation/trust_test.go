package evaluation_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// roots makes n small self-signed CA certificates (one Ed25519 key, as an
// attacker filling a bundle would), named by name(i).
func roots(t testing.TB, n int, name func(i int) pkix.Name) []*x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*x509.Certificate, n)
	for i := range n {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: name(i),
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func cn(format string) func(int) pkix.Name {
	return func(i int) pkix.Name {
		if !strings.Contains(format, "%") {
			return pkix.Name{CommonName: format}
		}
		return pkix.Name{CommonName: fmt.Sprintf(format, i)}
	}
}

// anchorFindings returns the unexpected_trust_anchor findings, by result name.
func anchorFindings(rep evaluation.Report) map[string]evaluation.Finding {
	out := map[string]evaluation.Finding{}
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if f.Reason == facts.ReasonUnexpectedTrustAnchor {
				out[r.Name] = f
			}
		}
	}
	return out
}

func TestUnexpectedTrustAnchors(t *testing.T) {
	const caCrt = "/etc/kubernetes/pki/ca.crt"
	tests := []struct {
		name     string
		bundle   func(t *testing.T, tr *testpki.Tree) []*x509.Certificate // ca.crt's certificates after the CA
		severity facts.Severity                                           // SeverityOK: no finding
		says     []string
		values   int
	}{
		{"a CA file with the CA alone is expected", func(*testing.T, *testpki.Tree) []*x509.Certificate { return nil }, facts.SeverityOK, nil, 0},
		{"a bundle of the node's CAs is expected", func(_ *testing.T, tr *testpki.Tree) []*x509.Certificate {
			return []*x509.Certificate{tr.CAs["front-proxy-ca"].Cert, tr.CAs["ca"].Cert}
		}, facts.SeverityOK, nil, 0},
		{"the CA renewed with its key kept is expected", func(t *testing.T, tr *testpki.Tree) []*x509.Certificate {
			ca := tr.CAs["ca"]
			renewed := testpki.MustCA(t, testpki.WithTemplate(testpki.TemplateFrom(ca.Cert)), testpki.WithKey(ca.Signer))
			return []*x509.Certificate{renewed.Cert}
		}, facts.SeverityOK, nil, 0},
		{"extra self-signed roots are critical", func(t *testing.T, _ *testpki.Tree) []*x509.Certificate {
			return roots(t, 3, cn("extra-root-%d"))
		}, facts.SeverityCritical, []string{"3 certificates nobody expects besides its CA \"kubernetes\"", "3 that are no CA of this node", `"CN=extra-root-0"`, "and any other component", "system:masters"}, 3},
		{"a root with the CA's subject and another key is critical", func(t *testing.T, _ *testpki.Tree) []*x509.Certificate {
			return roots(t, 1, cn("kubernetes"))
		}, facts.SeverityCritical, []string{"1 certificate nobody expects", "1 with the subject of a CA of this node but another key", `"CN=kubernetes"`, "CA rotation"}, 1},
		{"a previous CA of the same name, its key gone, is critical", func(t *testing.T, tr *testpki.Tree) []*x509.Certificate {
			return []*x509.Certificate{testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert}
		}, facts.SeverityCritical, []string{"with the subject of a CA of this node but another key"}, 1},
		{"impostors and strangers are told apart", func(t *testing.T, _ *testpki.Tree) []*x509.Certificate {
			return append(roots(t, 2, cn("kubernetes")), roots(t, 5, cn("intruder-%d"))...)
		}, facts.SeverityCritical, []string{"7 certificates nobody expects", "2 with the subject", "5 that are no CA", "and 2 more"}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
			testpki.WriteCert(t, tr.Path(caCrt), append([]*x509.Certificate{tr.CAs["ca"].Cert}, tc.bundle(t, tr)...)...)
			rep := check(t, root, evaluation.DefaultPolicy())
			got := anchorFindings(rep)
			f, ok := got["ca"]
			if tc.severity == facts.SeverityOK {
				if len(got) != 0 {
					t.Fatalf("unexpected findings: %v", got)
				}
				return
			}
			if !ok || len(got) != 1 {
				t.Fatalf("want one finding on ca, got %v", got)
			}
			if f.Severity != tc.severity || f.Path != caCrt || len(f.Values) != tc.values {
				t.Errorf("finding %s %s with %d values, want %s %s with %d", f.Severity, f.Path, len(f.Values), tc.severity, caCrt, tc.values)
			}
			for _, s := range tc.says {
				if !strings.Contains(f.Message, s) {
					t.Errorf("message does not say %q:\n%s", s, f.Message)
				}
			}
			if rep.Counts[facts.ReasonUnexpectedTrustAnchor] != 1 {
				t.Errorf("counts: %v", rep.Counts)
			}
		})
	}
}

// TestAnIntermediatesChainAndIssuerAreExpected: a CA file holding an
// intermediate and the root that signed it, and the root that signed a CA of
// the node, are no finding.
func TestAnIntermediatesChainAndIssuerAreExpected(t *testing.T) {
	root := testpki.MustCA(t, testpki.WithCN("corp-root"))
	inter := testpki.MustIntermediate(t, root, testpki.WithCN("corp-k8s"))
	other := testpki.MustCA(t, testpki.WithCN("other"))
	// k3s's generate-custom-ca-certs.sh: cat server-ca.pem intermediate-ca.pem root-ca.pem > server-ca.crt
	serverCA := testpki.MustIntermediate(t, inter, testpki.WithCN("k3s-server-ca@1"))
	items := []inventory.Item{
		{Name: "server-ca", Kind: inventory.KindCertificate, Path: "/var/lib/rancher/k3s/server/tls/server-ca.crt", IsCA: true,
			Certs: []*x509.Certificate{serverCA.Cert, inter.Cert, root.Cert}},
		{Name: "int-ca", Kind: inventory.KindCertificate, Path: "/x/int-ca.crt", IsCA: true, Certs: []*x509.Certificate{inter.Cert, root.Cert}},
		{Name: "other-ca", Kind: inventory.KindCertificate, Path: "/x/other-ca.crt", IsCA: true, Certs: []*x509.Certificate{other.Cert, root.Cert}},
		{Name: "node-int", Kind: inventory.KindCertificate, Path: "/x/node-int.crt", IsCA: true, Certs: []*x509.Certificate{inter.Cert}},
	}
	rep := evaluation.Evaluate(items, now, evaluation.DefaultPolicy())
	if got := anchorFindings(rep); len(got) != 0 {
		t.Fatalf("unexpected findings: %v", got)
	}
	if got := anchorFindings(evaluation.Evaluate(items[:1], now, evaluation.DefaultPolicy())); len(got) != 0 {
		t.Fatalf("k3s's server-ca.crt alone: %v", got)
	}
	// The same root beside a CA it has nothing to do with, on a node where
	// it signed no CA, is unexpected.
	rep = evaluation.Evaluate(items[2:3], now, evaluation.DefaultPolicy())
	if got := anchorFindings(rep); len(got) != 1 {
		t.Fatalf("findings %v, want the corp-root in other-ca.crt", got)
	}
}

// TestAKubeconfigTrustingExtraAnchorsIsAWarning: certificate-authority-data
// with the cluster CA and another root.
func TestAKubeconfigTrustingExtraAnchorsIsAWarning(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	p := tr.Path("/etc/kubernetes/admin.conf")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	extra := roots(t, 1, cn("mitm-root"))[0]
	old, repl := b64(testpki.CertPEM(tr.CAs["ca"].Cert)), b64(testpki.CertPEM(tr.CAs["ca"].Cert, extra))
	if !strings.Contains(string(data), old) {
		t.Fatal("admin.conf does not embed ca.crt")
	}
	testpki.WriteFile(t, p, []byte(strings.Replace(string(data), old, repl, 1)), 0o600)
	rep := check(t, root, evaluation.DefaultPolicy())
	got := anchorFindings(rep)
	f, ok := got["admin.conf"]
	if !ok || len(got) != 1 || f.Severity != facts.SeverityWarning || !strings.Contains(f.Message, "certificate-authority-data carries 1 certificate nobody expects") ||
		!strings.Contains(f.Message, "CN=mitm-root") {
		t.Fatalf("findings %+v", got)
	}
	if r := result(t, rep, "admin.conf"); r.Status != facts.SeverityWarning {
		t.Errorf("admin.conf status %s", r.Status)
	}
}

// TestAHugeBundleIsCappedAndReported is the ca.crt with 9,400 extra
// self-signed roots: only inventory.MaxCerts are parsed, and the finding
// counts them all.
func TestAHugeBundleIsCappedAndReported(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	writeHugeBundle(t, tr, 9400)
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Name == "ca" && (len(it.Certs) != inventory.MaxCerts || it.Skipped != 9401-inventory.MaxCerts) {
			t.Fatalf("ca.crt: %d certificates parsed, %d skipped; want %d and %d", len(it.Certs), it.Skipped, inventory.MaxCerts, 9401-inventory.MaxCerts)
		}
	}
	rep := evaluation.Evaluate(items, now, evaluation.DefaultPolicy())
	f, ok := anchorFindings(rep)["ca"]
	if !ok || f.Severity != facts.SeverityCritical || !strings.Contains(f.Message, "9400 certificates nobody expects") ||
		!strings.Contains(f.Message, fmt.Sprintf("%d more certificates not even read", 9401-inventory.MaxCerts)) {
		t.Fatalf("finding %+v", f)
	}
	if len(f.Values) != 50 {
		t.Errorf("%d fingerprints listed, want the first 50", len(f.Values))
	}
	// Everything else on the node is judged as before.
	for _, r := range rep.Results {
		for _, g := range r.Findings {
			if g.Reason != facts.ReasonUnexpectedTrustAnchor {
				t.Errorf("%s: %s: %s", r.Name, g.Reason, g.Message)
			}
		}
	}
}

// writeHugeBundle appends n small self-signed roots to ca.crt, keeping the
// file under the PEM size limit, as the 9,400-root bundle was.
func writeHugeBundle(t testing.TB, tr *testpki.Tree, n int) {
	t.Helper()
	certs := append([]*x509.Certificate{tr.CAs["ca"].Cert}, roots(t, n, cn("r%d"))...)
	data := testpki.CertPEM(certs...)
	if len(data) > pki.MaxPEMSize {
		t.Fatalf("the bundle is %d bytes, over the %d-byte limit: it would be refused as too large, not tested", len(data), pki.MaxPEMSize)
	}
	testpki.WriteFile(t, tr.Path("/etc/kubernetes/pki/ca.crt"), data, 0o644)
}

// BenchmarkCheckWithA9400RootBundle is check's scan and evaluation of a
// kubeadm node whose ca.crt carries 9,400 extra self-signed roots, beside the
// same node without them. Only inventory.MaxCerts of them are parsed: with
// the cap check of the 9,400-root node took 16 ms and 14 MB per run here,
// without it (MaxCerts raised above 9,400) 77 ms and 41 MB; the node without
// them 5-8 ms and 0.8 MB (two shared cores).
func BenchmarkCheckWithA9400RootBundle(b *testing.B) {
	for _, n := range []int{0, 9400} {
		b.Run(fmt.Sprintf("extra-roots=%d", n), func(b *testing.B) {
			root := b.TempDir()
			tr := testpki.KubeadmTree(b, root, testpki.TreeOptions{Manifests: true})
			want := 0
			if n > 0 {
				writeHugeBundle(b, tr, n)
				want = 1
			}
			b.ReportAllocs()
			for b.Loop() {
				items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
				if err != nil {
					b.Fatal(err)
				}
				if rep := evaluation.Evaluate(items, now, evaluation.DefaultPolicy()); rep.Counts[facts.ReasonUnexpectedTrustAnchor] != want {
					b.Fatalf("counts %v", rep.Counts)
				}
			}
		})
	}
}

// TestARootCAFileOnlyVerifiesServers: a bundle named only by the
// controller-manager's --root-ca-file is still critical, and the message
// says what its extra anchors can do: pose as the API server to pods.
func TestARootCAFileOnlyVerifiesServers(t *testing.T) {
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	items := []inventory.Item{{Name: "root-ca.pem", Kind: inventory.KindCertificate, Path: "/etc/kubernetes/ssl/root-ca.pem", IsCA: true,
		Sources:    []string{"kube-controller-manager --root-ca-file (/etc/systemd/system/kube-controller-manager.service)"},
		Components: []string{"kube-controller-manager"}, Certs: append([]*x509.Certificate{ca.Cert}, roots(t, 2, cn("corp-%d"))...)}}
	f, ok := anchorFindings(evaluation.Evaluate(items, now, evaluation.DefaultPolicy()))["root-ca.pem"]
	if !ok || f.Severity != facts.SeverityCritical || !strings.Contains(f.Message, "pose as the API server") || strings.Contains(f.Message, "system:masters") {
		t.Fatalf("finding %+v", f)
	}
}
