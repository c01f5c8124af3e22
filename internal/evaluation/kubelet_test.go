package evaluation_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testpki"
)

const currentPEM = layout.KubeletPKIDir + "/kubelet-client-current.pem"

func findingOf(rep evaluation.Report, reason facts.Reason) *evaluation.Finding {
	for _, r := range rep.Results {
		for i, f := range r.Findings {
			if f.Reason == reason {
				return &r.Findings[i]
			}
		}
	}
	return nil
}

func nodePair(t *testing.T, tr *testpki.Tree, nb, na time.Time) []byte {
	t.Helper()
	l := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithCN("system:node:node1"), testpki.WithOrg("system:nodes"),
		testpki.WithUsage(x509.ExtKeyUsageClientAuth), testpki.WithValidity(nb, na))
	return append(testpki.CertPEM(l.Cert), testpki.KeyPEM(t, l.Key)...)
}

func TestAKubeletStoreWhoseSwitchNeverHappenedIsStuckRotation(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	expired := filepath.Join(layout.KubeletPKIDir, "kubelet-client-2029-01-01-00-00-00.pem")
	testpki.WriteFile(t, tr.Path(expired), nodePair(t, tr, now.Add(-400*24*time.Hour), now.Add(-time.Hour)), 0o600)
	os.Remove(tr.Path(currentPEM))
	if err := os.Symlink(expired, tr.Path(currentPEM)); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(layout.KubeletPKIDir, "kubelet-client-2030-01-15-00-00-00.pem")
	testpki.WriteFile(t, tr.Path(newer), nodePair(t, tr, now.Add(-12*time.Hour), now.Add(2*365*24*time.Hour)), 0o600)
	f := findingOf(check(t, root, evaluation.DefaultPolicy()), facts.ReasonKubeletRotationStuck)
	if f == nil || f.Severity != facts.SeverityCritical || !strings.Contains(f.Message, newer) {
		t.Fatalf("finding %+v, want a critical kubelet_rotation_stuck naming %s", f, newer)
	}
}

func TestARegularKubeletCurrentFileIsStuckRotation(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	data, err := os.ReadFile(filepath.Join(root, mustReadlink(t, tr.Path(currentPEM))))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(tr.Path(currentPEM))
	testpki.WriteFile(t, tr.Path(currentPEM), data, 0o600)
	f := findingOf(check(t, root, evaluation.DefaultPolicy()), facts.ReasonKubeletRotationStuck)
	if f == nil || f.Severity != facts.SeverityWarning || !strings.Contains(f.Message, "regular file") {
		t.Fatalf("finding %+v, want a kubelet_rotation_stuck warning about a regular file", f)
	}
}

func TestAnEmbeddedKubeletConfWhoseCertificateNeverRotated(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	if f := findingOf(check(t, root, evaluation.DefaultPolicy()), facts.ReasonKubeletClientEmbedded); f != nil {
		t.Fatalf("with a rotated pair in the store: %+v", f)
	}
	if err := os.RemoveAll(tr.Path(layout.KubeletPKIDir)); err != nil {
		t.Fatal(err)
	}
	if f := findingOf(check(t, root, evaluation.DefaultPolicy()), facts.ReasonKubeletClientEmbedded); f != nil {
		t.Fatalf("with no store (the kubelet has not run: it stores and rotates what kubelet.conf holds when it starts): %+v", f)
	}
	// The kubelet started from the embedded certificate and never rotated.
	own := tr.Leaves["kubelet.conf"]
	dated := filepath.Join(layout.KubeletPKIDir, "kubelet-client-2030-01-15-11-00-00.pem")
	if err := os.MkdirAll(tr.Path(layout.KubeletPKIDir), 0o755); err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, tr.Path(dated), append(testpki.CertPEM(own.Cert), testpki.KeyPEM(t, own.Key)...), 0o600)
	if err := os.Symlink(dated, tr.Path(currentPEM)); err != nil {
		t.Fatal(err)
	}
	f := findingOf(check(t, root, evaluation.DefaultPolicy()), facts.ReasonKubeletClientEmbedded)
	if f == nil || f.Severity != facts.SeverityWarning || f.Path != "/etc/kubernetes/kubelet.conf" {
		t.Fatalf("finding %+v, want a kubelet_client_embedded warning on kubelet.conf", f)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
