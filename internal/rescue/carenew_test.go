package rescue

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// expiredCANode is a kubeadm node whose three CAs expired yesterday; the
// API server's and etcd's serving certificates expired too, every other
// leaf is valid for a year yet (the CA outlived by its leaves).
func expiredCANode(t *testing.T) (string, *testpki.Tree) {
	t.Helper()
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, root, epoch.Add(-5*365*24*time.Hour), epoch.Add(-24*time.Hour), testpki.AgeOnly("ca", "etcd-ca", "front-proxy-ca"))
	testpki.AgeKubeadmTree(t, root, epoch.Add(-365*24*time.Hour), epoch.Add(-24*time.Hour), testpki.AgeOnly("apiserver", "etcd-server"))
	return root, tr
}

func TestRescueRenewsAnExpiredCAFirstAndKeepsValidLeaves(t *testing.T) {
	root, _ := expiredCANode(t)
	before := files(t, root)
	rec := &recorder{}
	var events []Event
	rep, err := Run(context.Background(), options(root, rec, &events))
	if err != nil {
		t.Fatalf("rescue: %v (result %s)", err, rep.Result)
	}
	if rep.Result != ResultOK {
		t.Fatalf("result %s", rep.Result)
	}
	var order []string
	for _, it := range rep.Plan.Items {
		order = append(order, it.Role.Name)
	}
	if len(order) < 5 || order[0] != "ca" || order[1] != "front-proxy-ca" || order[2] != "etcd-ca" {
		t.Fatalf("plan order %v: the CAs come first", order)
	}
	renewed := map[string]bool{}
	for _, n := range order {
		renewed[n] = true
	}
	for _, n := range []string{"apiserver", "etcd-server"} {
		if !renewed[n] {
			t.Errorf("expired %s not renewed (plan %v)", n, order)
		}
	}
	for _, n := range []string{"apiserver-kubelet-client", "front-proxy-client", "etcd-peer", "apiserver-etcd-client", "admin.conf"} {
		if renewed[n] {
			t.Errorf("%s was valid under the old CA and was re-issued", n)
		}
	}
	after := files(t, root)
	for _, p := range []string{"/etc/kubernetes/pki/apiserver-kubelet-client.crt", "/etc/kubernetes/pki/front-proxy-client.crt",
		"/etc/kubernetes/pki/etcd/peer.crt", "/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/sa.key", "/etc/kubernetes/pki/sa.pub"} {
		if before[p] != after[p] {
			t.Errorf("%s changed", p)
		}
	}
	// The node now verifies from end to end at now: every leaf against the
	// renewed CA on disk, every kubeconfig's CA data is that CA.
	cas := map[string]*x509.Certificate{}
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA {
			cas[r.Name] = readCert(t, root, r.CertPath)
			if !cas[r.Name].NotAfter.After(epoch.Add(9 * 365 * 24 * time.Hour)) {
				t.Errorf("%s valid until %s", r.Name, cas[r.Name].NotAfter)
			}
		}
	}
	for _, r := range layout.Kubeadm {
		switch r.Kind {
		case layout.KindLeaf:
			verifyAt(t, r.Name, readCert(t, root, r.CertPath), cas[r.CA])
		case layout.KindKubeconfig:
			data, err := os.ReadFile(filepath.Join(root, r.CertPath))
			if err != nil {
				t.Fatal(err)
			}
			kc, err := kubeconfig.Parse(data, layout.KubernetesDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(kc.CA.Data, pki.EncodeCertificatePEM(cas["ca"].Raw)) {
				t.Errorf("%s does not embed the renewed CA", r.Name)
			}
			certs, _ := kc.ClientCertificates()
			verifyAt(t, r.Name, certs[0], cas["ca"])
		}
	}
	// Every component that trusts a renewed CA was restarted, in order.
	want := []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet}
	if len(rec.calls) != len(want) {
		t.Errorf("restarted %v, want %v", rec.calls, want)
	}
}

func TestRescueRefusesACARenewalALeafWouldNotSurvive(t *testing.T) {
	root, tr := expiredCANode(t)
	// A valid leaf under the CA's name, signed by another key.
	other := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	l := testpki.MustLeaf(t, other, testpki.WithTemplate(testpki.TemplateFrom(tr.Leaves["apiserver-kubelet-client"].Cert)))
	testpki.WriteCert(t, filepath.Join(root, layout.PKIDir, "apiserver-kubelet-client.crt"), l.Cert)
	testpki.WriteKey(t, filepath.Join(root, layout.PKIDir, "apiserver-kubelet-client.key"), l.Key)
	before := files(t, root)
	rep, err := Run(context.Background(), options(root, &recorder{}, nil))
	var ve *carenewal.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("rescue: %v (result %s), want a VerifyError", err, rep.Result)
	}
	if len(ve.Failed) != 1 || ve.Failed[0].Path != layout.PKIDir+"/apiserver-kubelet-client.crt" {
		t.Errorf("failed %+v", ve.Failed)
	}
	after := files(t, root)
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && filepath.Dir(p) != StateDir {
			t.Errorf("%s created", p)
		}
	}
}

func TestRescueDryRunShowsTheCARenewal(t *testing.T) {
	root, _ := expiredCANode(t)
	o := options(root, &recorder{}, nil)
	o.DryRun = true
	var detail string
	o.Events = func(e Event) {
		if e.Step == "plan" && e.Status == EventOK {
			detail = e.Detail
		}
	}
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultDryRun {
		t.Fatalf("dry run: %v %s", err, rep.Result)
	}
	if !bytes.Contains([]byte(detail), []byte("CA renewed on its key first (ca: expired")) {
		t.Errorf("plan detail %q", detail)
	}
}

func TestCAOnlyRenewsNoLeaf(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	before := files(t, root)
	o := options(root, &recorder{}, nil)
	o.CAs, o.CAOnly = []string{"etcd/ca"}, true
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("ca renew: %v %s", err, rep.Result)
	}
	if len(rep.Plan.Items) != 1 || rep.Plan.Items[0].Role.Name != "etcd-ca" {
		t.Fatalf("plan %+v", rep.Plan.Items)
	}
	after := files(t, root)
	for p, h := range before {
		if after[p] != h && p != layout.PKIDir+"/etcd/ca.crt" {
			t.Errorf("%s changed", p)
		}
	}
	if after[layout.PKIDir+"/etcd/ca.crt"] == before[layout.PKIDir+"/etcd/ca.crt"] {
		t.Error("etcd/ca.crt unchanged")
	}
	if got := rep.Components; len(got) != 2 || got[0] != layout.Etcd || got[1] != layout.KubeAPIServer {
		t.Errorf("restarts %v, want etcd and the API server", got)
	}
}

func readCert(t *testing.T, root, p string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return cs[0]
}

func verifyAt(t *testing.T, name string, leaf, ca *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: epoch, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func TestRescueRenewsACAThatWouldExpireBeforeItsRenewedLeaves(t *testing.T) {
	// cfssl's five-year CA, four and a half years on: 6 months left; the
	// leaves have 3 months, but the apiserver's expired and is renewed for a
	// year, past its CA.
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true,
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(90 * 24 * time.Hour),
		CANotBefore: epoch.Add(-4*365*24*time.Hour - 180*24*time.Hour), CANotAfter: epoch.Add(180 * 24 * time.Hour)})
	testpki.AgeKubeadmTree(t, root, epoch.Add(-365*24*time.Hour), epoch.Add(-24*time.Hour), testpki.AgeOnly("apiserver"))
	var detail string
	o := options(root, &recorder{}, nil)
	o.Events = func(e Event) {
		if e.Step == "plan" && e.Status == EventOK {
			detail = e.Detail
		}
	}
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("rescue: %v %s", err, rep.Result)
	}
	if !bytes.Contains([]byte(detail), []byte("ca: expires ")) || !bytes.Contains([]byte(detail), []byte("before a leaf it signs")) {
		t.Errorf("plan detail %q", detail)
	}
	if rep.Plan.Items[0].Role.Name != "ca" || rep.Plan.Items[1].Role.Name != "apiserver" {
		t.Errorf("plan %v, want the CA, then the apiserver", []string{rep.Plan.Items[0].Role.Name, rep.Plan.Items[1].Role.Name})
	}
	if ca := readCert(t, root, layout.PKIDir+"/ca.crt"); !ca.NotAfter.After(readCert(t, root, layout.PKIDir+"/apiserver.crt").NotAfter) {
		t.Error("the renewed CA still expires before the renewed apiserver certificate")
	}
	// etcd-ca and front-proxy-ca sign nothing renewed, and outlive their leaves: kept.
	for _, it := range rep.Plan.Items {
		if it.Role.Name == "etcd-ca" || it.Role.Name == "front-proxy-ca" {
			t.Errorf("%s renewed: nothing it signs outlives it", it.Role.Name)
		}
	}
}

// A rescue that renews expired CAs, killed with SIGKILL part-way through the
// deploy (the CA file replaced, the kubeconfigs not yet) and later, then run
// again: the rerun ends with every CA renewed and every leaf and kubeconfig
// verifying against it, never the old CA in some consumers and the new one
// in others.
func TestKilledDuringACARenewal(t *testing.T) {
	for _, at := range []string{
		"backed-up",
		"renamed " + layout.PKIDir + "/ca.crt", // the first file
		"renamed " + layout.KubernetesDir + "/admin.conf",
		"deployed",
		"restarted kube-apiserver",
	} {
		t.Run(at, func(t *testing.T) {
			root, _ := expiredCANode(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRescueProcess$")
			cmd.Env = append(os.Environ(), "CERTRESCUE_HELPER_ROOT="+root, "CERTRESCUE_KILL_AT="+at)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper was not killed at %q: %v\n%s", at, err, out)
			}
			rep, err := Run(context.Background(), options(root, &recorder{}, nil))
			if err != nil || rep.Result != ResultOK {
				t.Fatalf("rerun: %v %s", err, rep.Result)
			}
			ca := readCert(t, root, layout.PKIDir+"/ca.crt")
			if !ca.NotAfter.After(epoch.Add(9 * 365 * 24 * time.Hour)) {
				t.Fatalf("ca.crt valid until %s after the rerun", ca.NotAfter)
			}
			for _, r := range layout.Kubeadm {
				if r.Kind != layout.KindKubeconfig {
					continue
				}
				data, err := os.ReadFile(filepath.Join(root, r.CertPath))
				if err != nil {
					t.Fatal(err)
				}
				kc, err := kubeconfig.Parse(data, layout.KubernetesDir, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(kc.CA.Data, pki.EncodeCertificatePEM(ca.Raw)) {
					t.Errorf("%s holds another CA certificate than ca.crt", r.Name)
				}
				certs, _ := kc.ClientCertificates()
				verifyAt(t, r.Name, certs[0], ca)
			}
			verifyAt(t, "apiserver-kubelet-client", readCert(t, root, layout.PKIDir+"/apiserver-kubelet-client.crt"), ca)
		})
	}
}

func TestFindCAByNameOrPath(t *testing.T) {
	cas := []layout.Role{}
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA {
			cas = append(cas, r)
		}
	}
	for name, want := range map[string]string{
		"ca": "ca", "etcd-ca": "etcd-ca", "etcd/ca": "etcd-ca", "front-proxy-ca": "front-proxy-ca",
		"/etc/kubernetes/pki/etcd/ca.crt": "etcd-ca", "/etc/kubernetes/pki/ca.crt": "ca",
	} {
		r, err := FindCA(cas, name)
		if err != nil || r.Name != want {
			t.Errorf("FindCA(%q) = %q, %v; want %s", name, r.Name, err, want)
		}
	}
	if _, err := FindCA(cas, "apiserver"); !errors.Is(err, ErrCANotFound) {
		t.Errorf("FindCA(apiserver): %v", err)
	}
}
