package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestRescueDryRunSaysWhatIsTakenUpWithoutARestart: the plan names the
// components that only restart for what they cannot reload, the gates that
// prove the others took their renewed credentials up, and the stop grace.
func TestRescueDryRunSaysWhatIsTakenUpWithoutARestart(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-30*24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	log := filepath.Join(t.TempDir(), "restarts")
	r := runAt(t, testpki.Epoch, "", append([]string{"--root", tr.Root, "rescue", "--dry-run", "--restart", "command"}, restartLog(log)...)...)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"restart kube-controller-manager, kube-scheduler, kubelet; taken up without a restart: etcd (server certificate, peer certificate), kube-apiserver (",
		"kube-scheduler: scheduler.conf: kube-scheduler --authentication-kubeconfig (/etc/kubernetes/manifests/kube-scheduler.yaml) reads its kubeconfig, embedded data only at start, stop grace 1s (its certificates expired: it cannot work anyway)",
		"gate etcd serves /etc/kubernetes/pki/etcd/server.crt on 127.0.0.1:2379",
		"gate etcd https://127.0.0.1:2379/health accepts a fresh connection presenting /etc/kubernetes/pki/apiserver-etcd-client.crt",
		"then gate kube-apiserver https://10.0.0.1:6443/readyz as /etc/kubernetes/admin.conf",
		"gate kube-scheduler holds its leader lease kube-system/kube-scheduler",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "rescue", "--dry-run", "--restart", "none", "--stop-grace", "soon"); r.code != ExitUsage {
		t.Errorf("--stop-grace soon: exit %d, want usage", r.code)
	}
}
