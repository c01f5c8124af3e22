package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestRescueARealControlPlane expires a kubeadm control plane for real and
// rescues it with the certrescue binary and the command restart strategy;
// then renews the healthy plane again measuring the API server's downtime;
// then breaks the renewed API server certificate's SANs on purpose and checks
// the failed health gate rolls every file back byte for byte, healthy again.
func TestRescueARealControlPlane(t *testing.T) {
	c := newCluster(t)
	bin := testbed.Certrescue(t)
	c.start()
	testbed.Eventually(t, "the API server becomes ready", 90*time.Second, func() error { return c.ready("super-admin.conf") })
	// kubeadm init binds the admin.conf group to cluster-admin; these are its phases only.
	if out, err := c.kubectl("super-admin.conf", "create", "clusterrolebinding", "kubeadm:cluster-admins",
		"--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		t.Fatalf("create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	testbed.Eventually(t, "admin.conf works", 30*time.Second, func() error { return c.ready("admin.conf") })

	// Expire every leaf: re-signed with its own key and CA, valid until yesterday.
	now := time.Now()
	aged := testpki.AgeKubeadmTree(t, c.root, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	if len(aged) != 12 {
		t.Fatalf("aged %v, want kubeadm's 11 and kubelet.conf", aged)
	}
	testbed.Eventually(t, "kubectl fails with an x509 expiry error", 60*time.Second, func() error {
		out, err := c.kubectl("admin.conf", "get", "namespaces")
		if err != nil && strings.Contains(out, "x509: certificate has expired or is not yet valid") {
			return nil
		}
		return fmt.Errorf("kubectl: %v: %s", err, out)
	})

	// The rescue, as an operator types it.
	poll := c.startPoller(t)
	start := time.Now()
	out, err := c.tryNS(bin, append([]string{"--root", c.root, "rescue"}, c.restartArgs()...)...)
	wall := time.Since(start)
	t.Logf("certrescue rescue:\n%s", out)
	if err != nil {
		t.Fatalf("rescue failed: %v", err)
	}
	avail := poll.stop(t)
	if !strings.Contains(out, "result: ok") {
		t.Fatalf("rescue did not report ok")
	}
	noKeyBytes(t, c.root, out)

	if out, err := c.kubectl("admin.conf", "get", "namespaces"); err != nil {
		t.Fatalf("kubectl with the renewed admin.conf: %v\n%s", err, out)
	}
	if out, err := c.kubectl("admin.conf", "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10"); err != nil {
		t.Fatalf("create deployment: %v\n%s", err, out)
	}
	testbed.Eventually(t, "the controller-manager creates the Deployment's ReplicaSet", 90*time.Second, func() error {
		out, err := c.kubectl("admin.conf", "get", "replicasets", "-l", "app=web", "-o", "name")
		if err == nil && strings.Contains(out, "replicaset.apps/web-") {
			return nil
		}
		return fmt.Errorf("%v: %s", err, out)
	})
	testbed.Eventually(t, "the scheduler holds its lease, renewed after the rescue", 90*time.Second, func() error {
		return c.leaseRenewedSince("kube-scheduler", start)
	})
	c.kubeadmSaysAllValid(t)
	keysAre0600(t, c.root)

	t.Logf("FIGURE expired to healthy: certrescue rescue took %.1fs of wall time, restarts and health gates included (target: under 30s; the field guide's bank needed 15 minutes)", wall.Seconds())
	t.Logf("FIGURE API server with the renewed admin.conf: first /readyz OK %.2fs into the rescue, then down for at most %.2fs more (%d probes, %d failed); it was down since the certificates expired",
		avail.FirstOK.Sub(start).Seconds(), avail.LongestGap.Seconds(), avail.Probes, avail.Failed)

	t.Run("a planned renewal of the healthy plane", func(t *testing.T) {
		poll := c.startPoller(t)
		start := time.Now()
		out, err := c.tryNS(bin, append([]string{"--root", c.root, "rescue", "--all"}, c.restartArgs()...)...)
		wall := time.Since(start)
		if err != nil {
			t.Fatalf("rescue --all: %v\n%s", err, out)
		}
		avail := poll.stop(t)
		t.Logf("FIGURE planned rescue --all: %.1fs wall; API server unavailable for %.2fs at most (longest run of failed /readyz probes, %d probes, %d failed)",
			wall.Seconds(), avail.LongestGap.Seconds(), avail.Probes, avail.Failed)
		if err := c.ready("admin.conf"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("killed right after deploying, a rerun resumes", func(t *testing.T) {
		args := append([]string{"netns", "exec", c.ns, bin, "--root", c.root, "rescue", "--all"}, c.restartArgs()...)
		cmd := exec.Command("ip", args...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		killed := false
		for sc.Scan() {
			if regexp.MustCompile(`\] deploy +ok`).MatchString(sc.Text()) {
				cmd.Process.Signal(syscall.SIGKILL) // ip netns exec execs certrescue: this is its PID
				killed = true
				break
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatal("the rescue never reported its deploy step")
		}
		out, err := c.tryNS(bin, append([]string{"--root", c.root, "rescue"}, c.restartArgs()...)...)
		if err != nil || !strings.Contains(out, "resuming its restarts") || !strings.Contains(out, "result: ok") {
			t.Fatalf("rerun: %v\n%s", err, out)
		}
		if err := c.ready("admin.conf"); err != nil {
			t.Fatal(err)
		}
		c.kubeadmSaysAllValid(t)
	})

	t.Run("a failed health gate rolls every file back", func(t *testing.T) {
		before := c.files(t)
		rep := c.brokenRescue(t)
		if rep.Result != "rolled-back" {
			t.Fatalf("result %q (failure: %s), want rolled-back", rep.Result, rep.Failure)
		}
		if !strings.Contains(rep.Failure, "health gate of kube-apiserver failed") || !strings.Contains(rep.Failure, "10.0.0.1") {
			t.Errorf("the failure does not say what failed: %s", rep.Failure)
		}
		after := c.files(t)
		for p, sum := range before {
			if after[p] != sum {
				t.Errorf("%s: %s after the rollback, %s before", p, after[p], sum)
			}
		}
		c.identicalToBackup(t, rep.Backup)
		if err := c.ready("admin.conf"); err != nil {
			t.Fatalf("not healthy after the rollback: %v", err)
		}
		// The controller-manager and the scheduler lost their leases while the
		// broken certificate was served; after the rollback they must hold them again.
		for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
			testbed.Eventually(t, lease+" holds its lease again after the rollback", 90*time.Second, func() error {
				return c.leaseRenewedSince(lease, time.Now().Add(-5*time.Second))
			})
		}
		t.Logf("FIGURE failed rescue with rollback: %.1fs wall", rep.Seconds)
	})
}

// ready checks the API server's /readyz with a kubeconfig of the node.
func (c *cluster) ready(conf string) error {
	out, err := c.kubectl(conf, "get", "--raw", "/readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		return fmt.Errorf("readyz with %s: %v: %s", conf, err, out)
	}
	return nil
}

func (c *cluster) leaseRenewedSince(name string, since time.Time) error {
	out, err := c.kubectl("admin.conf", "-n", "kube-system", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity} {.spec.renewTime}")
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	holder, renewed, _ := strings.Cut(strings.TrimSpace(out), " ")
	at, err := time.Parse(time.RFC3339Nano, renewed)
	if holder == "" || err != nil || at.Before(since) {
		return fmt.Errorf("lease %s: holder %q renewed %q", name, holder, renewed)
	}
	return nil
}

// kubeadmSaysAllValid runs the real `kubeadm certs check-expiration` on the
// node and wants every certificate valid.
func (c *cluster) kubeadmSaysAllValid(t *testing.T) {
	t.Helper()
	out := c.inNS(t, c.bins["kubeadm"], "certs", "check-expiration", "--rootfs", c.root, "--config", "/kubeadm-chroot.yaml")
	t.Logf("kubeadm certs check-expiration:\n%s", out)
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] == "CERTIFICATE" {
			continue
		}
		rows++
		// NAME Mon DD, YYYY HH:MM UTC RESIDUAL ...
		if strings.Contains(line, "invalid") || !regexp.MustCompile(`^(36[45]d|[0-9]+y)$`).MatchString(f[6]) {
			t.Errorf("kubeadm finds a certificate that is not valid for a year: %s", line)
		}
	}
	if rows != 14 { // 11 certificates and 3 CAs
		t.Errorf("kubeadm listed %d certificates and CAs, want 14", rows)
	}
}

func keysAre0600(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(root, "etc/kubernetes"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".key") || strings.HasSuffix(p, ".conf")) {
			return err
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		return nil
	})
}

// availability is what the poller saw.
type availability struct {
	Probes, Failed int
	FirstOK        time.Time
	LongestGap     time.Duration
}

type poller struct {
	cmd *exec.Cmd
	out string
}

// startPoller runs this test binary inside the namespace as a /readyz poller
// (TestHelperPoller) until stop.
func (c *cluster) startPoller(t *testing.T) *poller {
	t.Helper()
	p := &poller{out: filepath.Join(t.TempDir(), "poll.json")}
	p.cmd = exec.Command("ip", "netns", "exec", c.ns, os.Args[0], "-test.run=^TestHelperPoller$")
	p.cmd.Env = append(os.Environ(), "E2E_POLL_ROOT="+c.root, "E2E_POLL_OUT="+p.out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	time.Sleep(200 * time.Millisecond) // let it take its first probe before the rescue starts
	return p
}

func (p *poller) stop(t *testing.T) availability {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	var a availability
	data, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatalf("poller: %v", err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("poller: %v", err)
	}
	return a
}

// files hashes the node's credentials (etc/kubernetes, no certrescue state).
func (c *cluster) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(c.path(layout.KubernetesDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out[p] = sha(t, p)
		}
		return err
	})
	return out
}

type brokenReport struct {
	Result, Failure, Backup string
	Seconds                 float64
}

// brokenRescue runs TestHelperBrokenRescue inside the namespace: the rescue
// library with the real gates and restart commands, and the renewed API
// server certificate's IP SANs removed before it is deployed.
func (c *cluster) brokenRescue(t *testing.T) brokenReport {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", c.ns, os.Args[0], "-test.run=^TestHelperBrokenRescue$", "-test.v")
	cmds, _ := json.Marshal(c.restartCommands())
	cmd.Env = append(os.Environ(), "E2E_BROKEN_ROOT="+c.root, "E2E_BROKEN_COMMANDS="+string(cmds))
	out, _ := cmd.CombinedOutput()
	t.Logf("broken rescue:\n%s", out)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
			var r brokenReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatal("the broken rescue printed no report")
	return brokenReport{}
}

// noKeyBytes fails when output holds any line of a private key of the node,
// in PEM or as kubeconfigs embed it (base64 of the PEM).
func noKeyBytes(t *testing.T, root, out string) {
	t.Helper()
	var secrets []string
	addPEM := func(data []byte) {
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return
			}
			if !strings.Contains(b.Type, "PRIVATE KEY") {
				continue
			}
			enc := pem.EncodeToMemory(b)
			secrets = append(secrets, base64.StdEncoding.EncodeToString(enc)[:60])
			for _, line := range strings.Split(string(enc), "\n") {
				if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
					secrets = append(secrets, line)
				}
			}
		}
	}
	filepath.WalkDir(filepath.Join(root, "etc/kubernetes"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, _ := os.ReadFile(p)
		addPEM(data)
		if kc, err := kubeconfig.Parse(data, filepath.Dir(p), nil); err == nil && kc.ClientKey.Embedded {
			addPEM(kc.ClientKey.Data)
		}
		return nil
	})
	if len(secrets) < 10 {
		t.Fatalf("found only %d key lines under %s", len(secrets), root)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatal("the rescue's output holds key material")
		}
	}
}
