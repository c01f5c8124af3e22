package carotation_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

var epoch = testpki.Epoch

type node struct {
	t     *testing.T
	root  string
	tree  *testpki.Tree
	n     *nodefs.FS
	roles []layout.Role
}

func newNode(t *testing.T) *node {
	t.Helper()
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	testpki.WriteFile(t, filepath.Join(root, layout.KubernetesDir, "bootstrap-kubelet.conf"),
		testpki.Kubeconfig(t, tr.Server, tr.CAs["ca"].Cert, tr.Leaves["admin.conf"], "bootstrap"), 0o600)
	n := nodefs.New(root)
	t.Cleanup(func() { n.Close() })
	return &node{t: t, root: root, tree: tr, n: n, roles: layout.Kubeadm}
}

func (nd *node) role(name string) layout.Role {
	for _, r := range nd.roles {
		if r.Name == name {
			return r
		}
	}
	nd.t.Fatalf("no role %s", name)
	return layout.Role{}
}

func (nd *node) statuses(names ...string) ([]*carotation.Status, error) {
	nd.t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(nd.root), inventory.Sources()...)
	if err != nil {
		nd.t.Fatal(err)
	}
	var out []*carotation.Status
	var errs []error
	for _, name := range names {
		st, err := carotation.Read(nd.n, nd.roles, nd.role(name), items)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

func (nd *node) mustStatuses(names ...string) []*carotation.Status {
	nd.t.Helper()
	sts, err := nd.statuses(names...)
	if err != nil {
		nd.t.Fatal(err)
	}
	return sts
}

func (nd *node) start(sa bool, names ...string) {
	nd.t.Helper()
	for _, name := range names {
		ca := nd.tree.CAs[name]
		o := carotation.NewOptions{Now: epoch, CrossSign: true}
		if sa && name == "ca" {
			pub, err := carotation.SAPublic(nd.n, nd.roles)
			if err != nil {
				nd.t.Fatal(err)
			}
			o.SAKeyLike = pub
		}
		p, err := carotation.NewPending(name, ca.Cert, ca.Signer, o)
		if err != nil {
			nd.t.Fatal(err)
		}
		if err := carotation.Save(nd.n, p, nil); err != nil {
			nd.t.Fatal(err)
		}
	}
}

// step plans the next phase of names and deploys it as rescue would.
func (nd *node) step(names ...string) *renewal.Plan {
	nd.t.Helper()
	plan, err := carotation.Plan(nd.n, carotation.Options{Root: nd.root, Roles: nd.roles, Now: epoch}, nd.mustStatuses(names...))
	if err != nil {
		nd.t.Fatal(err)
	}
	var puts []nodefs.Put
	for _, f := range plan.Files() {
		puts = append(puts, nodefs.Put{Path: f.Path, Data: f.Data, Mode: f.Mode})
	}
	if len(puts) > 0 {
		if err := nd.n.WriteSet(puts, nodefs.WriteOptions{Force: true}); err != nil {
			nd.t.Fatal(err)
		}
	}
	return plan
}

func phaseOf(sts []*carotation.Status) map[string]carotation.Phase {
	out := map[string]carotation.Phase{}
	for _, st := range sts {
		out[st.Role.Name] = st.Phase
	}
	return out
}

func (nd *node) certs(p string) []*x509.Certificate {
	nd.t.Helper()
	data, err := os.ReadFile(filepath.Join(nd.root, p))
	if err != nil {
		nd.t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		nd.t.Fatal(err)
	}
	return cs
}

func (nd *node) kubeconfigCA(p string) []*x509.Certificate {
	nd.t.Helper()
	data, err := os.ReadFile(filepath.Join(nd.root, p))
	if err != nil {
		nd.t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data, filepath.Dir(p), nil)
	if err != nil {
		nd.t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(kc.CA.Data)
	if err != nil {
		nd.t.Fatal(err)
	}
	return cs
}

var all = []string{"ca", "front-proxy-ca", "etcd-ca"}

func TestRotationGoesThroughItsThreePhasesAndStops(t *testing.T) {
	nd := newNode(t)
	for name, ph := range phaseOf(nd.mustStatuses(all...)) {
		if ph != carotation.PhaseNone {
			t.Fatalf("%s: %s before any rotation", name, ph)
		}
	}
	nd.start(true, all...)
	sts := nd.mustStatuses(all...)
	old, nw := map[string]*x509.Certificate{}, map[string]*x509.Certificate{}
	for _, st := range sts {
		if st.Phase != carotation.PhaseStarted {
			t.Fatalf("%s: %s after the new CA was made", st.Role.Name, st.Phase)
		}
		old[st.Role.Name], nw[st.Role.Name] = st.Old, st.New
		if carenewal.SameCA(st.Old, st.New) || !bytes.Equal(st.Old.RawSubject, st.New.RawSubject) {
			t.Fatalf("%s: the new CA must have the subject and another key", st.Role.Name)
		}
	}
	saKeyBefore, _ := os.ReadFile(filepath.Join(nd.root, layout.PKIDir, "sa.key"))

	// Phase 1: every consumer holds both; nothing re-issued, keys unchanged.
	plan := nd.step(all...)
	if got := strings.Join(plan.Components(), ","); got != "etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubelet" {
		t.Errorf("phase 1 restarts %s", got)
	}
	for _, st := range nd.mustStatuses(all...) {
		if st.Phase != carotation.PhaseTrusted {
			t.Fatalf("%s: %s after phase 1", st.Role.Name, st.Phase)
		}
		for _, c := range st.Consumers {
			if c.State != catrust.StateBoth {
				t.Errorf("%s: %s holds %s after phase 1", st.Role.Name, c.Path, c.State)
			}
		}
	}
	for _, p := range []string{"admin.conf", "kubelet.conf", "bootstrap-kubelet.conf", "scheduler.conf"} {
		if s := catrust.StateOf(nd.kubeconfigCA(layout.KubernetesDir+"/"+p), old["ca"], nw["ca"]); s != catrust.StateBoth {
			t.Errorf("%s certificate-authority-data: %s after phase 1", p, s)
		}
	}
	if cs := nd.certs(layout.PKIDir + "/ca.crt"); !cs[0].Equal(old["ca"]) || len(cs) != 2 {
		t.Errorf("ca.crt after phase 1: %d certificates, the old first: %v", len(cs), cs[0].Equal(old["ca"]))
	}
	saPub, _ := os.ReadFile(filepath.Join(nd.root, layout.PKIDir, "sa.pub"))
	if bytes.Count(saPub, []byte("BEGIN PUBLIC KEY")) != 2 {
		t.Errorf("sa.pub after phase 1 holds %d public keys, want the new and the old", bytes.Count(saPub, []byte("BEGIN PUBLIC KEY")))
	}
	if again := nd.step(all...); len(again.Files()) == 0 {
		t.Fatal("phase 2 planned nothing")
	}

	// Phase 2: every leaf from the new CA; the CA files pair with the new keys.
	for _, st := range nd.mustStatuses(all...) {
		if st.Phase != carotation.PhaseReissued || !st.KeyIsNew {
			t.Fatalf("%s: %s after phase 2 (key new: %v)", st.Role.Name, st.Phase, st.KeyIsNew)
		}
		if _, err := pki.LoadCAFrom(func(p string) ([]byte, error) { return nd.n.Read(p, pki.MaxPEMSize) }, st.Role.CertPath, st.Role.KeyPath); err != nil {
			t.Errorf("%s: the CA file and key do not pair after phase 2: %v", st.Role.Name, err)
		}
		for _, l := range st.Leaves {
			roots := x509.NewCertPool()
			roots.AddCert(nw[st.Role.Name])
			if _, err := l.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: epoch, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("%s: %s does not verify against the new CA: %v", st.Role.Name, l.Path, err)
			}
		}
	}
	// Cross-signed: the apiserver's file verifies for a client that knows only the old CA.
	api := nd.certs(layout.PKIDir + "/apiserver.crt")
	if len(api) != 2 {
		t.Fatalf("apiserver.crt holds %d certificates, want the leaf and the cross-signed new CA", len(api))
	}
	oldOnly := x509.NewCertPool()
	oldOnly.AddCert(old["ca"])
	inter := x509.NewCertPool()
	inter.AddCert(api[1])
	if _, err := api[0].Verify(x509.VerifyOptions{Roots: oldOnly, Intermediates: inter, CurrentTime: epoch}); err != nil {
		t.Errorf("a client that knows only the old CA does not verify the re-issued apiserver certificate: %v", err)
	}
	if saKey, _ := os.ReadFile(filepath.Join(nd.root, layout.PKIDir, "sa.key")); bytes.Equal(saKey, saKeyBefore) {
		t.Error("sa.key is not the new key after phase 2")
	}

	// Phase 3: the new only, everywhere; sa.pub keeps both.
	nd.step(all...)
	for _, st := range nd.mustStatuses(all...) {
		if st.Phase != carotation.PhaseDone {
			t.Fatalf("%s: %s after phase 3", st.Role.Name, st.Phase)
		}
		for _, c := range st.Consumers {
			if c.State != catrust.StateNew {
				t.Errorf("%s: %s holds %s after phase 3", st.Role.Name, c.Path, c.State)
			}
		}
	}
	if s := catrust.StateOf(nd.kubeconfigCA(layout.KubernetesDir+"/admin.conf"), old["ca"], nw["ca"]); s != catrust.StateNew {
		t.Errorf("admin.conf certificate-authority-data: %s when done", s)
	}
	if saPub2, _ := os.ReadFile(filepath.Join(nd.root, layout.PKIDir, "sa.pub")); !bytes.Equal(saPub2, saPub) {
		t.Error("sa.pub changed in phase 3: tokens signed by the old key would stop working")
	}
	if done := nd.step(all...); len(done.Items) != 0 {
		t.Errorf("a rerun when done planned %d changes", len(done.Items))
	}
}

func TestAHalfRotatedNodeIsRefusedNamingTheFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(nd *node, old, nw *x509.Certificate)
		want    []string
	}{
		{
			name: "one kubeconfig holds both CAs, the rest the old only",
			breakIt: func(nd *node, old, nw *x509.Certificate) {
				edits, err := catrust.PlanEdits([]catrust.Consumer{{Kind: catrust.KindKubeconfig, Path: layout.KubernetesDir + "/admin.conf"}},
					catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{old, nw}}, catrust.DiskReader(nd.n))
				if err != nil || len(edits) != 1 {
					nd.t.Fatal(err)
				}
				testpki.WriteFile(nd.t, filepath.Join(nd.root, edits[0].Path), edits[0].Data, 0o600)
			},
			want: []string{"admin.conf certificate-authority-data", "holds the old and the new CA", "ca.crt", "holds the old CA only"},
		},
		{
			name: "the CA key is the new one while every consumer holds the old CA only",
			breakIt: func(nd *node, _, _ *x509.Certificate) {
				p, _ := carotation.LoadPending(nd.n, "ca")
				testpki.WriteKey(nd.t, filepath.Join(nd.root, layout.PKIDir, "ca.key"), p.NewKey)
			},
			want: []string{layout.PKIDir + "/ca.key holds the new key"},
		},
		{
			name: "a consumer holds a CA of the same name that this rotation did not make",
			breakIt: func(nd *node, old, _ *x509.Certificate) {
				other := testpki.MustCA(nd.t, testpki.WithCN("kubernetes")).Cert
				testpki.WriteFile(nd.t, filepath.Join(nd.root, layout.PKIDir, "ca.crt"), testpki.CertPEM(old, other), 0o644)
			},
			want: []string{layout.PKIDir + "/ca.crt", "another CA certificate named \"kubernetes\""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd := newNode(t)
			nd.t = t
			nd.start(false, "ca")
			st := nd.mustStatuses("ca")[0]
			tc.breakIt(nd, st.Old, st.New)
			before := snapshot(t, nd.root)
			_, err := nd.statuses("ca")
			var de *carotation.DisagreeError
			if !errors.As(err, &de) || !errors.Is(err, carotation.ErrDisagree) {
				t.Fatalf("not refused as half-rotated: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal does not say %q:\n%v", w, err)
				}
			}
			if after := snapshot(t, nd.root); after != before {
				t.Error("reading the status changed the node")
			}
		})
	}
}

func TestPendingRotationSurvivesAndIsNotReplaced(t *testing.T) {
	nd := newNode(t)
	nd.start(false, "etcd-ca")
	p1, err := carotation.LoadPending(nd.n, "etcd-ca")
	if err != nil || p1 == nil {
		t.Fatalf("pending: %v", err)
	}
	fi, err := os.Stat(filepath.Join(nd.root, carotation.Dir, "etcd-ca", "new-ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new CA key's mode: %v %v", fi.Mode(), err)
	}
	ca := nd.tree.CAs["etcd-ca"]
	p2, err := carotation.NewPending("etcd-ca", ca.Cert, ca.Signer, carotation.NewOptions{Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := carotation.Save(nd.n, p2, nil); err == nil {
		t.Fatal("a second new CA replaced the pending one")
	}
	again, _ := carotation.LoadPending(nd.n, "etcd-ca")
	if !again.New.Equal(p1.New) {
		t.Fatal("the pending CA changed")
	}
	// A damaged pending file is an error naming it, not a new rotation.
	testpki.WriteFile(t, filepath.Join(nd.root, carotation.Dir, "etcd-ca", "new-ca.key"), []byte("junk"), 0o600)
	if _, err := carotation.LoadPending(nd.n, "etcd-ca"); !errors.Is(err, carotation.ErrBadPending) || !strings.Contains(err.Error(), "new-ca.key") {
		t.Fatalf("damaged pending key: %v", err)
	}
}

func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		b.WriteString(p + "\x00" + string(data) + "\x00" + fi.Mode().String() + "\n")
		return nil
	})
	return b.String()
}
