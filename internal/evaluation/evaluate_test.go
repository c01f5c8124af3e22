package evaluation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

var now = testpki.Epoch

func check(t *testing.T, root string, p evaluation.Policy, extra ...inventory.Item) evaluation.Report {
	t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	return evaluation.Evaluate(append(items, extra...), now, p)
}

func result(t *testing.T, rep evaluation.Report, name string) evaluation.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result named %q", name)
	return evaluation.Result{}
}

func TestAHealthyKubeadmNodeHasNoFindings(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	rep := check(t, root, evaluation.DefaultPolicy())
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			t.Errorf("%s: %s: %s", r.Name, f.Reason, f.Message)
		}
	}
	if rep.Status != facts.SeverityOK || len(rep.Results) != 18 {
		t.Fatalf("status %v with %d results", rep.Status, len(rep.Results))
	}
	if r := result(t, rep, "apiserver-etcd-client"); r.CA != "etcd-ca" {
		t.Errorf("apiserver-etcd-client CA column = %q", r.CA)
	}
	if r := result(t, rep, "admin.conf"); r.CA != "ca" {
		t.Errorf("admin.conf CA column = %q", r.CA)
	}
}

// Each reason code, from a broken node.
func TestEveryReasonFromABrokenNode(t *testing.T) {
	type breaker func(t *testing.T, tr *testpki.Tree) (extra []inventory.Item)
	at := func(tr *testpki.Tree, p string) string { return tr.Path(p) }
	reissue := func(t *testing.T, tr *testpki.Tree, role string, opts ...testpki.Option) *testpki.Leaf {
		r, _ := layout.KubeadmRole(role)
		old := tr.Leaves[role]
		tmpl := testpki.TemplateFrom(old.Cert)
		ca := tr.CAs[r.CA]
		all := append([]testpki.Option{testpki.WithTemplate(tmpl), testpki.WithKey(old.Key)}, opts...)
		leaf := testpki.MustLeaf(t, ca, all...)
		testpki.WriteCert(t, at(tr, r.CertPath), leaf.Cert)
		return leaf
	}
	tests := []struct {
		name     string
		opts     testpki.TreeOptions
		policy   func(*evaluation.Policy)
		brk      breaker
		item     string
		reason   facts.Reason
		severity facts.Severity
		message  string
	}{
		{name: "an aged leaf is expired", item: "apiserver", reason: facts.ReasonExpired, severity: facts.SeverityCritical, message: "expired 2030-01-14 12:00 UTC (24h ago)",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.AgeKubeadmTree(t, tr.Root, now.AddDate(-1, 0, -1), now.AddDate(0, 0, -1), testpki.AgeOnly("apiserver"))
				return nil
			}},
		{name: "a certificate from the future is not yet valid", item: "front-proxy-client", reason: facts.ReasonNotYetValid, severity: facts.SeverityCritical, message: "check this machine's clock",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.AgeKubeadmTree(t, tr.Root, now.AddDate(0, 0, 2), now.AddDate(1, 0, 0), testpki.AgeOnly("front-proxy-client"))
				return nil
			}},
		{name: "twenty days left is an expiring warning", item: "scheduler.conf", reason: facts.ReasonExpiring, severity: facts.SeverityWarning, message: "in 20d",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.AgeKubeadmTree(t, tr.Root, now.AddDate(0, 0, -345), now.AddDate(0, 0, 20), testpki.AgeOnly("scheduler.conf"))
				return nil
			}},
		{name: "three days left is critical", item: "etcd-peer", reason: facts.ReasonExpiring, severity: facts.SeverityCritical, message: "critical threshold",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.AgeKubeadmTree(t, tr.Root, now.AddDate(0, 0, -362), now.AddDate(0, 0, 3), testpki.AgeOnly("etcd-peer"))
				return nil
			}},
		{name: "the warning threshold follows the policy", item: "scheduler.conf", reason: facts.ReasonExpiring, severity: facts.SeverityWarning,
			policy: func(p *evaluation.Policy) { p.Warn = 90 * 24 * time.Hour },
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.AgeKubeadmTree(t, tr.Root, now.AddDate(0, 0, -300), now.AddDate(0, 0, 60), testpki.AgeOnly("scheduler.conf"))
				return nil
			}},
		{name: "a CA that ends before its leaves", item: "apiserver", reason: facts.ReasonCAExpiresBeforeLeaf, severity: facts.SeverityWarning, message: "renew the CA first",
			opts: testpki.TreeOptions{CANotBefore: now.AddDate(-1, 0, 0), CANotAfter: now.AddDate(0, 6, 0)},
			brk:  func(t *testing.T, tr *testpki.Tree) []inventory.Item { return nil }},
		{name: "an etcd certificate signed by the cluster CA", item: "etcd-server", reason: facts.ReasonUntrustedChain, severity: facts.SeverityCritical, message: "signed by ca (/etc/kubernetes/pki/ca.crt",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				old := tr.Leaves["etcd-server"]
				leaf := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithTemplate(testpki.TemplateFrom(old.Cert)), testpki.WithKey(old.Key))
				testpki.WriteCert(t, at(tr, "/etc/kubernetes/pki/etcd/server.crt"), leaf.Cert)
				return nil
			}},
		{name: "a CA regenerated with a new key leaves its leaves untrusted", item: "apiserver-kubelet-client", reason: facts.ReasonUntrustedChain, severity: facts.SeverityCritical, message: "not signed by ca",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
				testpki.WriteCert(t, at(tr, "/etc/kubernetes/pki/ca.crt"), ca.Cert)
				testpki.WriteKey(t, at(tr, "/etc/kubernetes/pki/ca.key"), ca.Signer)
				return nil
			}},
		{name: "a key that belongs to another certificate", item: "apiserver", reason: facts.ReasonKeyMismatch, severity: facts.SeverityCritical, message: "/etc/kubernetes/pki/apiserver.key",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				testpki.WriteKey(t, at(tr, "/etc/kubernetes/pki/apiserver.key"), tr.Leaves["etcd-peer"].Key)
				return nil
			}},
		{name: "sa.pub that is not sa.key's", item: "sa", reason: facts.ReasonKeyMismatch, severity: facts.SeverityCritical,
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				k, _ := pki.GenerateKey(pki.DefaultKeySpec)
				der, _ := x509.MarshalPKIXPublicKey(k.Public())
				testpki.WriteFile(t, at(tr, "/etc/kubernetes/pki/sa.pub"), pemBlock("PUBLIC KEY", der), 0o600)
				return nil
			}},
		{name: "the API server certificate lacks the advertise address", item: "apiserver", reason: facts.ReasonSANMissing, severity: facts.SeverityCritical, message: "IP address 10.0.0.1 (kube-apiserver --advertise-address",
			opts: testpki.TreeOptions{Manifests: true},
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				reissue(t, tr, "apiserver", testpki.WithIPs("10.96.0.1"))
				return nil
			}},
		{name: "the API server certificate lacks a name the operator expects", item: "apiserver", reason: facts.ReasonSANMissing, severity: facts.SeverityCritical, message: "DNS name k8s-api.example.com (--expect-san)",
			policy: func(p *evaluation.Policy) { p.ExpectSANs = []string{"k8s-api.example.com", "kubernetes.default"} },
			brk:    func(t *testing.T, tr *testpki.Tree) []inventory.Item { return nil }},
		{name: "the API server certificate lacks the control-plane endpoint the kubeconfigs use", item: "apiserver", reason: facts.ReasonSANMissing, severity: facts.SeverityCritical, message: "DNS name cp.example.com (server of /etc/kubernetes/admin.conf)",
			opts: testpki.TreeOptions{ControlPlaneEndpoint: "cp.example.com"},
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				reissue(t, tr, "apiserver", testpki.WithDNS("kubernetes"))
				return nil
			}},
		{name: "a kubelet client certificate without clientAuth", item: "apiserver-kubelet-client", reason: facts.ReasonWrongUsage, severity: facts.SeverityCritical, message: "lacks the client auth",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				reissue(t, tr, "apiserver-kubelet-client", testpki.WithUsage(x509.ExtKeyUsageServerAuth))
				return nil
			}},
		{name: "a P-224 key is weak", item: "front-proxy-client", reason: facts.ReasonWeakKey, severity: facts.SeverityWarning, message: "224-bit curve",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				leaf := testpki.MustLeaf(t, tr.CAs["front-proxy-ca"], testpki.WithTemplate(testpki.TemplateFrom(tr.Leaves["front-proxy-client"].Cert)), testpki.WithKey(k))
				testpki.WriteCert(t, at(tr, "/etc/kubernetes/pki/front-proxy-client.crt"), leaf.Cert)
				testpki.WriteKey(t, at(tr, "/etc/kubernetes/pki/front-proxy-client.key"), k)
				return nil
			}},
		{name: "a key readable by others", item: "etcd-server", reason: facts.ReasonKeyPermissions, severity: facts.SeverityWarning, message: "chmod 600 /etc/kubernetes/pki/etcd/server.key",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				if err := os.Chmod(at(tr, "/etc/kubernetes/pki/etcd/server.key"), 0o644); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
		{name: "a kubeconfig with an embedded key readable by its group", item: "super-admin.conf", reason: facts.ReasonKeyPermissions, severity: facts.SeverityWarning, message: "mode 0640",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				if err := os.Chmod(at(tr, "/etc/kubernetes/super-admin.conf"), 0o640); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
		{name: "a kubeconfig that embeds another CA", item: "admin.conf", reason: facts.ReasonKubeconfigCAMismatch, severity: facts.SeverityCritical, message: "certificate signed by unknown authority",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				other := testpki.MustCA(t, testpki.WithCN("kubernetes"))
				testpki.WriteFile(t, at(tr, "/etc/kubernetes/admin.conf"), testpki.Kubeconfig(t, tr.Server, other.Cert, tr.Leaves["admin.conf"], "kubernetes-admin"), 0o600)
				return nil
			}},
		{name: "an endpoint still serving the old certificate", item: "served 10.0.0.1:6443", reason: facts.ReasonServedDiffersFromDisk, severity: facts.SeverityWarning, message: "restart kube-apiserver",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				old := tr.Leaves["apiserver"]
				reissue(t, tr, "apiserver")
				return []inventory.Item{{Name: "served 10.0.0.1:6443", Kind: inventory.KindServed, Path: "10.0.0.1:6443", Certs: []*x509.Certificate{old.Cert},
					Served: &inventory.ServedFacts{Addr: "10.0.0.1:6443", DiskPath: "/etc/kubernetes/pki/apiserver.crt", Component: "kube-apiserver"}}}
			}},
		{name: "a truncated certificate is malformed", item: "apiserver", reason: facts.ReasonMalformed, severity: facts.SeverityCritical, message: "cut short",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				p := at(tr, "/etc/kubernetes/pki/apiserver.crt")
				b, _ := os.ReadFile(p)
				testpki.WriteFile(t, p, b[:len(b)-40], 0o644)
				return nil
			}},
		{name: "a directory where the key should be is unreadable", item: "apiserver-etcd-client", reason: facts.ReasonUnreadable, severity: facts.SeverityCritical, message: "a directory",
			brk: func(t *testing.T, tr *testpki.Tree) []inventory.Item {
				p := at(tr, "/etc/kubernetes/pki/apiserver-etcd-client.key")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tr := testpki.KubeadmTree(t, root, tt.opts)
			extra := tt.brk(t, tr)
			p := evaluation.DefaultPolicy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			rep := check(t, root, p, extra...)
			r := result(t, rep, tt.item)
			var found *evaluation.Finding
			for i, f := range r.Findings {
				if f.Reason == tt.reason {
					found = &r.Findings[i]
				}
			}
			if found == nil {
				t.Fatalf("%s: no %s finding; findings: %+v", tt.item, tt.reason, r.Findings)
			}
			if found.Severity != tt.severity {
				t.Errorf("severity %v, want %v", found.Severity, tt.severity)
			}
			if !strings.Contains(found.Message, tt.message) {
				t.Errorf("message %q does not mention %q", found.Message, tt.message)
			}
			if rep.Status < tt.severity || r.Status < tt.severity {
				t.Errorf("report status %v / result status %v below %v", rep.Status, r.Status, tt.severity)
			}
			if rep.Results[0].Status != rep.Status {
				t.Errorf("the most urgent result is not first: %s (%v)", rep.Results[0].Name, rep.Results[0].Status)
			}
		})
	}
}

func TestEvaluateIsPure(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, root, now.AddDate(-1, 0, 0), now.AddDate(0, 0, -1), testpki.AgeOnly("apiserver", "admin.conf"))
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	a := evaluation.Evaluate(items, now, evaluation.DefaultPolicy())
	b := evaluation.Evaluate(items, now, evaluation.DefaultPolicy())
	if len(a.Results) != len(b.Results) {
		t.Fatal("different lengths")
	}
	for i := range a.Results {
		if a.Results[i].Name != b.Results[i].Name || len(a.Results[i].Findings) != len(b.Results[i].Findings) {
			t.Fatalf("result %d differs: %s vs %s", i, a.Results[i].Name, b.Results[i].Name)
		}
	}
	if a.Counts[facts.ReasonExpired] != 2 || a.Status != facts.SeverityCritical {
		t.Fatalf("counts %v status %v", a.Counts, a.Status)
	}
}

func TestAnAgedTreeIsAllExpired(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	aged := testpki.AgeKubeadmTree(t, root, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
	rep := check(t, root, evaluation.DefaultPolicy())
	expired := 0
	for _, r := range rep.Results {
		if r.Has(facts.ReasonExpired) {
			expired++
		}
		for _, f := range r.Findings {
			if f.Reason != facts.ReasonExpired && f.Reason != facts.ReasonCAExpiresBeforeLeaf {
				t.Errorf("%s: unexpected %s: %s", r.Name, f.Reason, f.Message)
			}
		}
	}
	// kubelet-serving (self-signed by the kubelet) is not part of the kubeadm layout.
	if expired != len(aged) || len(aged) != 16 {
		t.Fatalf("%d expired results, %d aged roles %v", expired, len(aged), aged)
	}
}

func TestHumanMatchesKubeadmsResidualTime(t *testing.T) {
	h, d := time.Hour, 24*time.Hour
	tests := map[time.Duration]string{
		90 * time.Second: "90s", 5*time.Minute + 3*time.Second: "5m3s", 2*h + 30*time.Minute: "150m", 5*h + 30*time.Minute: "5h30m",
		30 * h: "30h", 3*d + 4*h: "3d4h", 364 * d: "364d", 3*365*d + 10*d: "3y10d", 3650 * d: "10y", -3 * d: "-3d",
	}
	for in, want := range tests {
		if got := evaluation.Human(in); got != want {
			t.Errorf("Human(%v) = %q, want %q", in, got, want)
		}
	}
}
