package rescue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// dropServiceIP re-signs the node's apiserver.crt (same key, same expired
// window) without the service IP 10.96.0.1 its manifest's
// --service-cluster-ip-range names: the certificate as the field guide's
// -hostname list leaves it.
func dropServiceIP(t *testing.T, root string) {
	t.Helper()
	pkiDir := filepath.Join(root, layout.PKIDir)
	ca, err := pki.LoadCA(filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(pkiDir, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	old := certs[0]
	tmpl := renewal.TemplateFrom(old)
	tmpl.IPAddresses = slices.DeleteFunc(slices.Clone(old.IPAddresses), func(ip net.IP) bool { return ip.String() == "10.96.0.1" })
	if len(tmpl.IPAddresses) == len(old.IPAddresses) {
		t.Fatalf("apiserver.crt has no 10.96.0.1 to drop: %v", old.IPAddresses)
	}
	tmpl.NotBefore, tmpl.NotAfter = old.NotBefore, old.NotAfter
	c, err := pki.Sign(ca, tmpl, old.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	testpki.WriteCert(t, filepath.Join(pkiDir, "apiserver.crt"), c)
}

func TestARescueThatLeavesTheServiceIPOutEndsRenewedStillCritical(t *testing.T) {
	root := node(t, true)
	dropServiceIP(t, root)

	// The dry run already says what is left, and changes nothing.
	before := files(t, root)
	o := options(root, &recorder{}, nil)
	o.DryRun = true
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultDryRun || len(rep.Critical) != 1 {
		t.Fatalf("dry run: %q, %d left, %v", rep.Result, len(rep.Critical), err)
	}
	if !mapsEqual(before, files(t, root)) {
		t.Error("the dry run changed files")
	}

	rec := &recorder{}
	var events []Event
	rep, err = Run(context.Background(), options(root, rec, &events))
	if !errors.Is(err, ErrStillCritical) || rep.Result != ResultStillCritical {
		t.Fatalf("result %q, err %v; want %q and ErrStillCritical", rep.Result, err, ResultStillCritical)
	}
	// Renewed, deployed and restarted in order all the same.
	if !slices.Equal(rec.calls, layout.RestartOrder) {
		t.Errorf("restarts %v, want %v", rec.calls, layout.RestartOrder)
	}
	if err := allRenewed(root); err != nil {
		t.Error(err)
	}
	if len(rep.Critical) != 1 {
		t.Fatalf("left %+v, want the apiserver's missing service IP", rep.Critical)
	}
	l := rep.Critical[0]
	if l.Name != "apiserver" || l.Reason != facts.ReasonSANMissing || !slices.Contains(l.Values, "10.96.0.1") || l.Severity != facts.SeverityCritical {
		t.Errorf("left %+v", l)
	}
	var planned, done bool
	for _, e := range events {
		if e.Step == "plan" && e.Status == EventOK && len(e.Critical) == 1 && strings.Contains(e.Detail, "apiserver: san_missing") {
			planned = true
		}
		if e.Step == "done" && e.Status == EventFail && strings.HasPrefix(e.Detail, "renewed, still critical") {
			done = true
		}
	}
	if !planned || !done {
		t.Errorf("the plan event shows the finding: %v; the run ends renewed, still critical: %v", planned, done)
	}
	journal, _ := os.ReadFile(filepath.Join(root, StateDir, "rescue.journal"))
	if !strings.Contains(string(journal), `"result":"`+ResultStillCritical+`"`) {
		t.Errorf("the journal does not record %s:\n%s", ResultStillCritical, journal)
	}
}

func TestARescueWithTheMissingSANAddedEndsOK(t *testing.T) {
	root := node(t, true)
	dropServiceIP(t, root)
	o := options(root, &recorder{}, nil)
	o.Renew.AddSANs = []string{"10.96.0.1"}
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK || len(rep.Critical) != 0 {
		t.Fatalf("result %q, left %+v, err %v", rep.Result, rep.Critical, err)
	}
}

func TestARescueWithManualRestartsAndACriticalLeftIsStillCritical(t *testing.T) {
	root := node(t, true)
	dropServiceIP(t, root)
	o := options(root, &recorder{}, nil)
	o.Restarter, o.Manual = nil, true
	rep, err := Run(context.Background(), o)
	if !errors.Is(err, ErrStillCritical) || rep.Result != ResultStillCritical || len(rep.Components) == 0 {
		t.Fatalf("result %q, components %v, err %v", rep.Result, rep.Components, err)
	}
}

func TestARescueThatRollsBackKeepsItsResult(t *testing.T) {
	root := node(t, true)
	dropServiceIP(t, root)
	rec := &recorder{fail: map[string]error{layout.KubeAPIServer: errors.New("boom")}, failOnce: true}
	rep, err := Run(context.Background(), options(root, rec, nil))
	// The rollback brings back the expired files: their gates fail, so the
	// run ends failed rather than rolled-back; either way not renewed.
	if (rep.Result != ResultRolledBack && rep.Result != ResultFailed) || errors.Is(err, ErrStillCritical) || len(rep.Critical) != 1 {
		t.Fatalf("result %q, left %d, err %v: a rolled-back run is not reported as renewed", rep.Result, len(rep.Critical), err)
	}
}

// adminOnAPIServerCert is admin.conf as the field guide's sed leaves it: its
// client-certificate names the API server's serving certificate, its key is
// still admin's own.
func adminOnAPIServerCert(t *testing.T, tr *testpki.Tree) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	admin := tr.Leaves["admin.conf"]
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority-data: %s
    server: %s
users:
- name: kubernetes-admin
  user:
    client-certificate: %s/apiserver.crt
    client-key-data: %s
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: kubernetes-admin@kubernetes
`, b64(testpki.CertPEM(tr.CAs["ca"].Cert)), tr.Server, layout.PKIDir, b64(testpki.KeyPEM(t, admin.Key)))
	testpki.WriteFile(t, tr.Path("/etc/kubernetes/admin.conf"), []byte(kc), 0o600)
}

func TestRecheckJudgesTheKubeconfigsAsThePlanRewritesThem(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	adminOnAPIServerCert(t, tr)
	items, err := DefaultScanner(tr.Root)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Before: admin.conf's certificate is not its key's.
	empty := &renewal.Plan{Now: testpki.Epoch}
	if left := Recheck(tr.Root, items, empty); len(left) != 0 {
		t.Errorf("a plan that renews nothing leaves %+v: only renewed credentials count", left)
	}
	plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: testpki.Epoch, Names: []string{"admin.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Items[0].Own == "" {
		t.Fatalf("admin.conf was renewed as it was, not given its own credential: %+v", plan.Items[0])
	}
	renewed, touched := RenewedSet(tr.Root, items, plan)
	for _, it := range renewed {
		if it.Path != "/etc/kubernetes/admin.conf" {
			continue
		}
		if !touched[itemKey(it.Kind, it.Path)] || it.Leaf() == nil || !it.Leaf().Equal(plan.Items[0].New) || !pki.PublicKeysEqual(it.Key, it.Leaf().PublicKey) {
			t.Errorf("admin.conf in the renewed set: leaf %v, key matches %v", it.Leaf().Subject, pki.PublicKeysEqual(it.Key, it.Leaf().PublicKey))
		}
	}
	if left := Recheck(tr.Root, items, plan); len(left) != 0 {
		t.Errorf("admin.conf with its own credential still leaves %+v", left)
	}

	// A plan whose renewed kubeconfig does not match its key is caught: the
	// check is made on the plan's bytes, not on the node's.
	for i := range plan.Items[0].Files {
		f := &plan.Items[0].Files[i]
		if f.Path == "/etc/kubernetes/admin.conf" {
			other := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithCN("kubernetes-admin"), testpki.WithOrg("kubeadm:cluster-admins"))
			f.Data = testpki.Kubeconfig(t, tr.Server, tr.CAs["ca"].Cert, &testpki.Leaf{Cert: other.Cert, Key: tr.Leaves["admin.conf"].Key}, "kubernetes-admin")
		}
	}
	left := Recheck(tr.Root, items, plan)
	if len(left) != 1 || left[0].Reason != facts.ReasonKeyMismatch {
		t.Errorf("a renewed admin.conf whose key is another's leaves %+v, want key_mismatch", left)
	}
}

func TestTheBackupHoldsEveryFileThePlanReplacesAndTheSymlinkToIt(t *testing.T) {
	root := node(t, true)
	o := options(root, &recorder{}, nil)
	o.BackupPaths = []string{"/etc/kubernetes/manifests"} // the operator's --path: no default path holds the PKI
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	info, err := backup.Verify(rep.Backup.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Plan.Files() {
		if e, ok := info.Manifest.Find(f.Path); !ok || e.Type != backup.TypeFile {
			t.Errorf("the backup lacks %s, which the rescue replaced", f.Path)
		}
	}
	for _, p := range []string{layout.PKIDir + "/ca.crt", layout.PKIDir + "/ca.key", layout.PKIDir + "/etcd/ca.key",
		layout.KubeletPKIDir + "/kubelet-client-current.pem", "/etc/kubernetes/manifests/kube-apiserver.yaml"} {
		if _, ok := info.Manifest.Find(p); !ok {
			t.Errorf("the backup lacks %s", p)
		}
	}
	if _, ok := info.Manifest.Find(layout.PKIDir + "/sa.key"); ok {
		t.Error("the backup holds sa.key, which the plan neither replaces nor relies on, though --path named only the manifests")
	}
}

func TestHoldsRefusesABackupWithoutThePlannedFiles(t *testing.T) {
	root := node(t, false)
	dir := filepath.Join(root, backup.DefaultDir)
	info, err := backup.Create(backup.Options{Root: root, Paths: []string{"/etc/kubernetes/manifests"}, Dir: dir, Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	change := []string{layout.PKIDir + "/apiserver.crt", layout.PKIDir + "/apiserver.key"}
	err = Holds(root, info, change)
	if !errors.Is(err, backup.ErrIncomplete) || !strings.Contains(err.Error(), "holds none of the 2 files") {
		t.Errorf("Holds = %v", err)
	}
	info, err = backup.Create(backup.Options{Root: root, Files: change[:1], Dir: dir, Now: epoch.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Holds(root, info, change); !errors.Is(err, backup.ErrIncomplete) || !strings.Contains(err.Error(), "lacks 1 of the 2") {
		t.Errorf("Holds = %v", err)
	}
	info, err = backup.Create(backup.Options{Root: root, Files: append(change, "/etc/kubernetes/pki/new.key"), Dir: dir, Now: epoch.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Holds(root, info, append(change, "/etc/kubernetes/pki/new.key")); err != nil {
		t.Errorf("a new file the change creates is not one a backup can hold: %v", err)
	}
}
