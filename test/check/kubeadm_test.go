package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// netnsSetup gives the namespace kubeadm runs in an interface with a default
// route (kubeadm picks the node address from it): a veth pair, 10.0.0.1/24.
// The namespace exists only as long as the command (unshare -n), so nothing
// is left behind and nothing leaves the namespace.
const netnsSetup = `set -e
ip link set lo up
ip link add veth0 type veth peer name veth1
ip addr add 10.0.0.1/24 dev veth0
ip link set veth0 up
ip link set veth1 up
ip route add default dev veth0
exec "$@"`

// inNetns runs argv inside a fresh network namespace and returns its output.
func inNetns(t *testing.T, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-n", "sh", "-c", netnsSetup, "sh"}, argv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	})
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
	return out.String()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("unshare"); err == nil {
			return
		}
	}
	if testbed.Require() {
		t.Fatal("this test needs root and unshare(1) to make a network namespace for kubeadm")
	}
	t.Skip("needs root and unshare(1) to make a network namespace for kubeadm")
}

// kubeadmNode makes a kubeadm node under a temporary root with the real
// kubeadm: certificates, kubeconfigs, and the static pod manifests.
func kubeadmNode(t *testing.T, kubeadm string) (root string) {
	t.Helper()
	root = t.TempDir()
	cfg := func(pkiDir string) string {
		return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.1
  bindPort: 6443
nodeRegistration:
  name: node1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: %s
controlPlaneEndpoint: k8s-api.example.com:6443
networking:
  serviceSubnet: 10.96.0.0/12
`, pkiDir)
	}
	outside := filepath.Join(t.TempDir(), "kubeadm.yaml")
	testpki.WriteFile(t, outside, []byte(cfg(filepath.Join(root, "etc/kubernetes/pki"))), 0o600)
	testpki.WriteFile(t, filepath.Join(root, "kubeadm-chroot.yaml"), []byte(cfg("/etc/kubernetes/pki")), 0o600)
	inNetns(t, kubeadm, "init", "phase", "certs", "all", "--config", outside)
	inNetns(t, kubeadm, "init", "phase", "kubeconfig", "all", "--config", outside, "--kubeconfig-dir", filepath.Join(root, "etc/kubernetes"))
	inNetns(t, kubeadm, "init", "phase", "control-plane", "all", "--rootfs", root, "--config", "/kubeadm-chroot.yaml")
	inNetns(t, kubeadm, "init", "phase", "etcd", "local", "--rootfs", root, "--config", "/kubeadm-chroot.yaml")
	return root
}

type kubeadmRow struct{ name, expires, residual, ca string }

var columns = regexp.MustCompile(`\s{2,}`)

// kubeadmCheck runs `kubeadm certs check-expiration` on the node and parses
// both of its tables (certificates, then certificate authorities).
func kubeadmCheck(t *testing.T, kubeadm, root string) map[string]kubeadmRow {
	t.Helper()
	out := inNetns(t, kubeadm, "certs", "check-expiration", "--rootfs", root, "--config", "/kubeadm-chroot.yaml")
	rows := map[string]kubeadmRow{}
	table := ""
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "CERTIFICATE AUTHORITY"):
			table = "ca"
			continue
		case strings.HasPrefix(line, "CERTIFICATE "):
			table = "leaf"
			continue
		case line == "" || table == "":
			continue
		}
		f := columns.Split(line, -1)
		switch {
		case table == "leaf" && len(f) == 5:
			rows[f[0]] = kubeadmRow{f[0], f[1], f[2], f[3]}
		case table == "ca" && len(f) == 4:
			rows[f[0]] = kubeadmRow{f[0], f[1], f[2], ""}
		default:
			t.Fatalf("unexpected kubeadm line %q in\n%s", line, out)
		}
	}
	if len(rows) < 14 {
		t.Fatalf("kubeadm listed %d certificates:\n%s", len(rows), out)
	}
	return rows
}

type checkResult struct {
	Name     string     `json:"name"`
	CA       string     `json:"ca"`
	NotAfter *time.Time `json:"notAfter"`
	Status   string     `json:"status"`
	Findings []struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"findings"`
}

// certrescueCheck runs `certrescue check -o json` in process.
func certrescueCheck(t *testing.T, root string, args ...string) (map[string]checkResult, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"--root", root, "check", "-o", "json"}, args...), strings.NewReader(""), &out, &errb)
	var rep struct {
		Results []checkResult `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("check -o json: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	res := map[string]checkResult{}
	for _, r := range rep.Results {
		res[r.Name] = r
	}
	return res, code, out.String()
}

const kubeadmTime = "Jan 02, 2006 15:04 MST"

func TestCheckAgreesWithKubeadmAndSeesAgedCertificatesExpire(t *testing.T) {
	kubeadm := testbed.Bin(t, "k8s", "kubeadm")
	requireRoot(t)
	root := kubeadmNode(t, kubeadm)

	want := kubeadmCheck(t, kubeadm, root)
	got, code, raw := certrescueCheck(t, root, "--no-endpoints")
	if code != cli.ExitOK {
		t.Errorf("check of kubeadm's fresh node: exit %d, want 0 (no finding on what kubeadm made)\n%s", code, raw)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k := want[n]
		r, ok := got[n]
		if !ok {
			t.Errorf("%s: listed by kubeadm, missing from check", n)
			continue
		}
		if r.NotAfter == nil || r.NotAfter.UTC().Format(kubeadmTime) != k.expires {
			t.Errorf("%s: check says it expires %v, kubeadm %q", n, r.NotAfter, k.expires)
		}
		if r.CA != k.ca {
			t.Errorf("%s: check says CA %q, kubeadm %q", n, r.CA, k.ca)
		}
		for _, f := range r.Findings {
			t.Errorf("%s: unexpected finding on kubeadm's own node: %s: %s", n, f.Reason, f.Message)
		}
	}
	if r, ok := got["kubelet.conf"]; !ok || r.CA != "ca" || r.NotAfter == nil {
		t.Errorf("kubelet.conf, which kubeadm does not list: %+v (present %v)", r, ok)
	}

	// Age everything: re-signed with its own CA and key, NotAfter in the past.
	now := time.Now()
	aged := testpki.AgeKubeadmTree(t, root, now.AddDate(-1, 0, -1), now.Add(-time.Hour))
	if len(aged) != len(want)+1 { // kubeadm's list plus kubelet.conf
		t.Fatalf("aged %d roles %v, kubeadm lists %d", len(aged), aged, len(want))
	}
	// kubeadm agrees that they are expired.
	for n, k := range kubeadmCheck(t, kubeadm, root) {
		if k.residual != "<invalid>" {
			t.Errorf("kubeadm still sees %s valid after aging: %+v", n, k)
		}
	}
	got, code, raw = certrescueCheck(t, root, "--no-endpoints")
	if code != cli.ExitCritical {
		t.Errorf("aged node: exit %d, want %d", code, cli.ExitCritical)
	}
	for _, n := range aged {
		r := got[n]
		expired := false
		for _, f := range r.Findings {
			expired = expired || f.Reason == "expired"
			if f.Reason != "expired" {
				t.Errorf("%s: unexpected %s after aging: %s", n, f.Reason, f.Message)
			}
		}
		if !expired || r.Status != "critical" {
			t.Errorf("%s: not reported expired: %+v", n, r)
		}
	}
	if t.Failed() {
		t.Log(raw)
	}
}
