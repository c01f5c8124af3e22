package reload

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/certrescue/certrescue/internal/testbed"
)

// ports and the certificate each must serve after a rescue.
var ports = map[string]string{
	testbed.Advertise + ":6443": layout.PKIDir + "/apiserver.crt",
	"127.0.0.1:2379":            layout.PKIDir + "/etcd/server.crt",
	testbed.Advertise + ":2380": layout.PKIDir + "/etcd/peer.crt",
}

var (
	leaseLine   = regexp.MustCompile(`\[ *([0-9.]+)s\] gate +(\S+) +ok +[0-9.]+s +\S+ holds its leader lease`)
	restartLine = regexp.MustCompile(`\[ *([0-9.]+)s\] restart +(\S+) +ok `)
)

// leaseTimes says, from a rescue's output, how long after its restart
// returned each controller-manager and scheduler held its leader lease.
func leaseTimes(out string) string {
	restarted := map[string]float64{}
	for _, m := range restartLine.FindAllStringSubmatch(out, -1) {
		restarted[m[2]], _ = strconv.ParseFloat(m[1], 64)
	}
	var parts []string
	for _, m := range leaseLine.FindAllStringSubmatch(out, -1) {
		at, _ := strconv.ParseFloat(m[1], 64)
		parts = append(parts, fmt.Sprintf("%s %.2fs", m[2], at-restarted[m[2]]))
	}
	return strings.Join(parts, ", ")
}

// TestMustShow runs issue 15's rescues on one real kubeadm plane, in order:
// a planned `rescue --all` under a /readyz probe every 50ms (no probe may
// fail), expired to healthy, and a failed gate rolled back.
// CERTRESCUE_BENCH_ROUNDS repeats the three (scripts/bench-planes.sh).
func TestMustShow(t *testing.T) {
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("CERTRESCUE_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	p := plane(t, testbed.PlaneOptions{})
	bin := testbed.Certrescue(t)
	rescueArgs := func(extra ...string) []string {
		return append(append([]string{"--root", p.Root, "rescue"}, extra...), p.RestartArgs()...)
	}
	// The leases held, as on a running cluster.
	for _, l := range []string{"kube-controller-manager", "kube-scheduler"} {
		testbed.Eventually(t, l+" holds its lease", 90*time.Second, func() error { return leaseHeld(p, l) })
	}
	for round := 1; round <= rounds; round++ {
		t.Run(fmt.Sprintf("round %d: a planned rescue --all keeps the API server available", round), func(t *testing.T) {
			poll := startPoller(t, p)
			time.Sleep(300 * time.Millisecond) // a few probes before the rescue starts
			start := time.Now()
			out, err := p.InNS(bin, rescueArgs("--all")...)
			wall := time.Since(start)
			time.Sleep(300 * time.Millisecond) // and a few after it ends
			a := poll.end()
			t.Logf("certrescue rescue --all:\n%s", out)
			if err != nil || !strings.Contains(out, "result: ok") {
				t.Fatalf("rescue --all: %v", err)
			}
			if a.Failed != 0 {
				t.Errorf("%d of %d /readyz probes failed (first: %s), want none", a.Failed, a.Probes, a.FirstError)
			}
			for addr, cert := range ports {
				if err := servesDisk(p, addr, cert); err != nil {
					t.Error(err)
				}
			}
			for _, want := range []string{`\] reload +etcd +ok .*server certificate`, `\] reload +etcd +ok .*peer certificate`,
				`\] reload +kube-apiserver +ok .*serving certificate`, `\] reload +kube-apiserver +ok .*etcd client certificate`,
				`\] reload +kube-apiserver +ok .*front-proxy client certificate`, `\] reload +kube-apiserver +ok .*kubelet client certificate`,
				`\] restart +kube-controller-manager +ok`, `\] restart +kube-scheduler +ok`} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("the rescue's output has no line matching %s", want)
				}
			}
			if regexp.MustCompile(`\] restart +(etcd|kube-apiserver) +ok`).MatchString(out) {
				t.Error("etcd or the API server was restarted")
			}
			fmt.Printf("ROUND scenario=planned round=%d seconds=%.2f probes=%d failed=%d longest_gap=%.2f leases=%q\n",
				round, wall.Seconds(), a.Probes, a.Failed, a.LongestGap.Seconds(), leaseTimes(out))
			t.Logf("FIGURE planned rescue --all: %.1fs wall; %d /readyz probes every 50ms, %d failed (longest gap %.2fs); leader lease held, after the restart returned: %s",
				wall.Seconds(), a.Probes, a.Failed, a.LongestGap.Seconds(), leaseTimes(out))
		})
		if t.Failed() {
			return
		}
		t.Run(fmt.Sprintf("round %d: expired to healthy", round), func(t *testing.T) {
			p.ExpireAll()
			start := time.Now()
			out, err := p.InNS(bin, rescueArgs()...)
			wall := time.Since(start)
			t.Logf("certrescue rescue:\n%s", out)
			if err != nil || !strings.Contains(out, "result: ok") {
				t.Fatalf("rescue: %v", err)
			}
			if err := p.Ready("admin.conf"); err != nil {
				t.Fatal(err)
			}
			for addr, cert := range ports {
				if err := servesDisk(p, addr, cert); err != nil {
					t.Error(err)
				}
			}
			fmt.Printf("ROUND scenario=expired round=%d seconds=%.2f leases=%q\n", round, wall.Seconds(), leaseTimes(out))
			t.Logf("FIGURE expired to healthy: %.1fs wall, gates included (leases: %s)", wall.Seconds(), leaseTimes(out))
		})
		if t.Failed() {
			return
		}
		t.Run(fmt.Sprintf("round %d: a failed gate rolls back", round), func(t *testing.T) {
			before := hashes(t, p)
			cmds, _ := json.Marshal(p.RestartCommands())
			rep, out := runHelper(t, p, "TestHelperBrokenRescue", "RELOAD_BROKEN_ROOT="+p.Root, "RELOAD_BROKEN_COMMANDS="+string(cmds))
			t.Logf("broken rescue:\n%s", out)
			if rep.Result != rescue.ResultRolledBack {
				t.Fatalf("result %q (%s), want rolled-back", rep.Result, rep.Failure)
			}
			if !strings.Contains(rep.Failure, "kube-apiserver") || !strings.Contains(rep.Failure, testbed.Advertise) {
				t.Errorf("the failure does not name the API server and its address: %s", rep.Failure)
			}
			for path, sum := range before {
				if got := hashes(t, p)[path]; got != sum {
					t.Errorf("%s differs after the rollback", path)
				}
			}
			if err := p.Ready("admin.conf"); err != nil {
				t.Fatalf("not healthy after the rollback: %v", err)
			}
			for addr, cert := range ports {
				if err := servesDisk(p, addr, cert); err != nil {
					t.Error(err)
				}
			}
			fmt.Printf("ROUND scenario=rollback round=%d seconds=%.2f restarted=%q\n", round, rep.Seconds, strings.Join(rep.Restarted, ","))
			t.Logf("FIGURE failed gate with rollback: %.1fs wall; restarted: %v", rep.Seconds, rep.Restarted)
		})
		if t.Failed() {
			return
		}
	}
}

func leaseHeld(p *testbed.KubeadmPlane, name string) error {
	out, err := p.Kubectl("admin.conf", "-n", "kube-system", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity}")
	if err != nil || strings.TrimSpace(out) == "" {
		return fmt.Errorf("lease %s: %v: %s", name, err, out)
	}
	return nil
}

func hashes(t *testing.T, p *testbed.KubeadmPlane) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(p.Path(layout.KubernetesDir), func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%x", b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHelperBrokenRescue is not a test: TestMustShow runs the test binary
// with it inside the namespace. It runs the rescue library as the command
// does (reload table, real gates, the plane's restart commands) and removes
// the advertise address from the renewed API server certificate's SANs
// before deploying it: the API server's gates must fail and the rollback
// restore everything.
func TestHelperBrokenRescue(t *testing.T) {
	root := os.Getenv("RELOAD_BROKEN_ROOT")
	if root == "" {
		t.Skip("run by TestMustShow")
	}
	var cmds map[string]string
	if err := json.Unmarshal([]byte(os.Getenv("RELOAD_BROKEN_COMMANDS")), &cmds); err != nil {
		t.Fatal(err)
	}
	wall := clock.Real{} // real processes: their certificates, restarts and gates run on real time
	reader := inventory.NewReader(root)
	comps, _ := reader.Components()
	ho := health.Options{Root: root, Timeout: 20 * time.Second, Clock: wall}
	gates, _ := health.ForNode(reader, ho)
	ho.Node = reader.Node
	var restarted []string
	o := rescue.Options{
		Root: root, All: true, Clock: wall, Backoff: health.Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}, // as the command's
		BackupDir:  filepath.Join(root, backup.DefaultDir),
		StateDir:   filepath.Join(root, rescue.StateDir),
		Restarter:  restart.CommandRestarter{Commands: cmds},
		Gates:      gates,
		Components: comps,
		ReloadGate: func(tk reload.Take) (health.Gate, bool, error) { return health.ReloadGate(comps, tk, ho) },
		Events: func(e rescue.Event) {
			if e.Action == "" && e.Status != rescue.EventStart {
				t.Logf("%-8s %-24s %-5s %6.2fs %s %v", e.Step, e.Component, e.Status, e.Took.Seconds(), e.Detail, e.Err)
			}
			if e.Step == "restart" && e.Status == rescue.EventOK && e.Action != "" {
				restarted = append(restarted, e.Component)
			}
		},
		BeforeDeploy: func(pl *renewal.Plan) {
			ca, err := pki.LoadCA(filepath.Join(root, layout.PKIDir, "ca.crt"), filepath.Join(root, layout.PKIDir, "ca.key"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range pl.Items {
				it := &pl.Items[i]
				if it.Role.Name != "apiserver" {
					continue
				}
				tmpl := renewal.TemplateFrom(it.New)
				tmpl.NotBefore, tmpl.NotAfter = it.New.NotBefore, it.New.NotAfter
				tmpl.IPAddresses = nil
				for _, ip := range it.New.IPAddresses {
					if ip.String() != testbed.Advertise {
						tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
					}
				}
				c, err := pki.Sign(ca, tmpl, it.New.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				it.Files[0].Data = pki.EncodeCertificatePEM(c.Raw)
			}
		},
	}
	rep, err := rescue.Run(context.Background(), o)
	out := helperReport{Result: rep.Result, Seconds: rep.Took.Seconds(), Restarted: restarted, Reloaded: rep.Reloaded}
	if err != nil {
		out.Failure = err.Error()
	}
	if rep.Backup != nil {
		out.Backup = rep.Backup.Path
	}
	data, _ := json.Marshal(out)
	fmt.Printf("REPORT %s\n", data)
}
