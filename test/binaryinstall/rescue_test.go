package binaryinstall

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed"
)

// TestRescueABinaryInstallControlPlane expires the field guide's node for
// real and rescues it with `certrescue rescue --restart command`, each
// component restarted through its unit and checked by a gate certrescue
// derives from the unit's own flags (no --gate flag); kubectl works
// afterwards and the controller-manager and scheduler do their jobs. Then a
// rescue whose renewed API server certificate lacks the node address is
// rolled back byte for byte, and the first rescue's backup brings back the
// exact pre-rescue files.
func TestRescueABinaryInstallControlPlane(t *testing.T) {
	p := newPlane(t)
	bin := testbed.Certrescue(t)
	p.expire(t)
	expired := p.hashes(t)

	start := time.Now()
	out, err := p.certrescue(bin, append([]string{"rescue"}, p.restartArgs()...)...)
	wall := time.Since(start)
	t.Logf("certrescue rescue:\n%s", out)
	if err != nil {
		t.Fatalf("rescue failed: %v", err)
	}
	if !strings.Contains(out, "result: ok") {
		t.Fatal("the rescue did not report ok")
	}
	g := gates(out)
	for _, c := range components {
		if !strings.HasPrefix(g[c], "ok") {
			t.Errorf("gate of %s: %q, want ok (a gate derived from %s.service)", c, g[c], c)
		}
	}
	if strings.Contains(out, "no health gate") {
		t.Error("a component was restarted without a gate")
	}
	m := backupID.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the rescue names no backup")
	}
	firstBackup := m[1]

	if out, err := p.kubectl("get", "namespaces"); err != nil {
		t.Fatalf("kubectl with admin.conf after the rescue: %v\n%s", err, out)
	}
	if out, err := p.kubectl("create", "deployment", "web", "--image=registry.k8s.io/pause:3.10"); err != nil {
		t.Fatalf("create deployment: %v\n%s", err, out)
	}
	testbed.Eventually(t, "the controller-manager creates the Deployment's ReplicaSet", 90*time.Second, func() error {
		out, err := p.kubectl("get", "replicasets", "-l", "app=web", "-o", "name")
		if err == nil && strings.Contains(out, "replicaset.apps/web-") {
			return nil
		}
		return fmt.Errorf("%v: %s", err, out)
	})
	testbed.Eventually(t, "the scheduler holds its lease, renewed after the rescue", 90*time.Second, func() error {
		return p.leaseRenewedSince("kube-scheduler", start)
	})
	p.allValid(t)
	t.Logf("FIGURE binary install, expired to healthy: certrescue rescue took %.1fs of wall time, restarts and health gates included", wall.Seconds())

	t.Run("a rescue that breaks the API server's SAN rolls back byte-identical", func(t *testing.T) {
		before := p.hashes(t)
		rep := p.brokenRescue(t)
		t.Logf("broken rescue (exit %d):\n%s\n%s", rep.Code, rep.Stdout, rep.Stderr)
		if rep.Broke == 0 {
			t.Fatal("the plan had no /etc/kubernetes/ssl/apiserver.pem to break")
		}
		if rep.Code != 1 || !strings.Contains(rep.Stdout, "result: rolled-back") {
			t.Errorf("exit %d, want 1 and result rolled-back", rep.Code)
		}
		if !strings.Contains(rep.Stdout+rep.Stderr, "kube-apiserver") {
			t.Error("the failure does not name kube-apiserver")
		}
		sameHashes(t, "after the rollback", p.hashes(t), before)
		testbed.Eventually(t, "kubectl works after the rollback", 60*time.Second, p.ready)
		for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
			testbed.Eventually(t, lease+" holds its lease after the rollback", 90*time.Second, func() error {
				return p.leaseRenewedSince(lease, time.Now().Add(-5*time.Second))
			})
		}
	})

	t.Run("the rescue's backup restores the pre-rescue bytes", func(t *testing.T) {
		out, err := p.certrescue(bin, "restore", firstBackup)
		t.Logf("certrescue restore %s:\n%s", firstBackup, out)
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		sameHashes(t, "after restore", p.hashes(t), expired)
	})
}

// TestFigureExpiredToHealthy repeats expire-then-rescue on one plane
// CERTRESCUE_BENCH_PLANES times and prints each round's wall time for
// scripts/bench-planes.sh. It asserts nothing about time.
func TestFigureExpiredToHealthy(t *testing.T) {
	rounds := benchRounds(t)
	p := newPlane(t)
	bin := testbed.Certrescue(t)
	for i := range rounds {
		p.expire(t)
		start := time.Now()
		out, err := p.certrescue(bin, append([]string{"rescue"}, p.restartArgs()...)...)
		wall := time.Since(start)
		if err != nil || !strings.Contains(out, "result: ok") {
			t.Fatalf("round %d: %v\n%s", i+1, err, out)
		}
		testbed.Eventually(t, "kubectl works", 60*time.Second, p.ready)
		fmt.Printf("ROUND plane=binary-install round=%d seconds=%.2f\n", i+1, wall.Seconds())
	}
}

func benchRounds(t *testing.T) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("CERTRESCUE_BENCH_PLANES"), &n); err != nil || n < 1 {
		t.Skip("a figure, not a test: scripts/bench-planes.sh sets CERTRESCUE_BENCH_PLANES=ROUNDS")
	}
	return n
}

// brokenReport is what TestHelperBrokenRescue saw.
type brokenReport struct {
	Code           int
	Stdout, Stderr string
	Broke          int // certificates the hook broke
}

// brokenRescue runs TestHelperBrokenRescue in the network namespace: the
// rescue command in-process, as a user types it, with the renewed API
// server certificate's node address removed before it is deployed.
func (p *plane) brokenRescue(t *testing.T) brokenReport {
	t.Helper()
	args, _ := json.Marshal(append([]string{"--root", p.node.Root, "rescue", "--all", "--gate-timeout", "20s"}, p.restartArgs()...))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := p.ns.Command(ctx, self, "-test.run=^TestHelperBrokenRescue$", "-test.v")
	cmd.Env = append(os.Environ(), "BI_BROKEN_ROOT="+p.node.Root, "BI_BROKEN_ARGS="+string(args))
	out, _ := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
			var r brokenReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("the broken rescue printed no report:\n%s", out)
	return brokenReport{}
}

// TestHelperBrokenRescue is not a test: brokenRescue runs the test binary
// with it inside the namespace.
func TestHelperBrokenRescue(t *testing.T) {
	root := os.Getenv("BI_BROKEN_ROOT")
	if root == "" {
		t.Skip("run by TestRescueABinaryInstallControlPlane")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv("BI_BROKEN_ARGS")), &args); err != nil {
		t.Fatal(err)
	}
	var rep brokenReport
	ctx := cli.WithBeforeDeploy(context.Background(), func(plan *renewal.Plan) {
		rep.Broke += dropAddress(t, root, plan, testbed.SSL("apiserver.pem"), advertise)
	})
	var stdout, stderr bytes.Buffer
	rep.Code = cli.Main(ctx, args, strings.NewReader(""), &stdout, &stderr)
	rep.Stdout, rep.Stderr = stdout.String(), stderr.String()
	data, _ := json.Marshal(rep)
	fmt.Printf("REPORT %s\n", data)
}

// dropAddress re-signs the planned certificate of cert without the IP SAN
// addr, with the node's CA, same key and validity: the field guide's
// mistake of a -hostname list that misses the node address.
func dropAddress(t *testing.T, root string, plan *renewal.Plan, cert, addr string) int {
	ca := (&testbed.BinaryInstall{Root: root}).CA(t)
	n := 0
	for i := range plan.Items {
		it := &plan.Items[i]
		if it.Path != cert || it.New == nil {
			continue
		}
		tmpl := renewal.TemplateFrom(it.New)
		tmpl.NotBefore, tmpl.NotAfter = it.New.NotBefore, it.New.NotAfter
		tmpl.IPAddresses = nil
		for _, ip := range it.New.IPAddresses {
			if !ip.Equal(net.ParseIP(addr)) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		}
		c, err := pki.Sign(ca, tmpl, it.New.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for j := range it.Files {
			if it.Files[j].Path == it.Path && !it.Files[j].Key {
				it.Files[j].Data = pki.EncodeCertificatePEM(c.Raw)
				n++
			}
		}
		it.New = c
	}
	return n
}
