package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/fleet"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed/ha"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestHAClusterWithAnsible runs the collection against the HA testbed: the
// whole control plane expired and rescued in one run, a planned renewal
// under a client's load, and a node whose gate fails mid-roll.
func TestHAClusterWithAnsible(t *testing.T) {
	ha.Need(t, "/usr/bin/ansible-playbook", "ansible")
	ha.Need(t, "/usr/bin/socat", "socat")
	t0 := time.Now()
	workers := haWorkers(t)
	// kubeadm's stock manifests: the controller-manager signs with ca.crt
	// (ca rotate points it at the signing copy and back). The workers are
	// signed by certrescue sign, not by the CSR signer.
	c := ha.Start(t, ha.Options{Workers: workers})
	mem := c.SampleMemory(t, time.Second)
	t.Logf("FIGURE HA testbed (3 nodes: etcd, kube-apiserver, controller-manager, scheduler, sshd; haproxy; %d workers: hollow kubelet, sshd) up in %.1fs", workers, time.Since(t0).Seconds())
	tarball, kitDir := buildKit(t)
	home, err := os.MkdirTemp("", "crha") // short: ssh's control sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	r := &run{kitDir: kitDir, home: home, c: c}
	nodeDSN, localDSN := freshDSN(t, c)
	r.writeInventory(t, tarball, nodeDSN, nil)

	pregate := func() (*fleet.PregateResult, error) {
		first := c.Nodes[0]
		etcdTLS, err := fleet.ClientTLS(nodefs.New(first.Root), layout.PKIDir+"/etcd/ca.crt", layout.PKIDir+"/etcd/healthcheck-client.crt", layout.PKIDir+"/etcd/healthcheck-client.key")
		if err != nil {
			return nil, err
		}
		var eps []string
		for _, n := range c.Nodes {
			eps = append(eps, "https://"+n.Addr+":2379")
		}
		return fleet.Pregate(context.Background(), fleet.PregateOptions{Endpoints: eps,
			Etcd: &fleet.EtcdClient{HTTP: c.HTTPClient(etcdTLS, 5*time.Second)}, LB: c.VIPURL(), LBHTTP: c.HTTPClient(c.ClientTLS, 5*time.Second)})
	}
	waitOpen := func(t *testing.T, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			r, err := pregate()
			if err == nil && r.Verdict == fleet.Open {
				return
			}
			if time.Now().After(deadline) {
				data, _ := json.Marshal(r)
				t.Fatalf("the pre-gate is not open after %s: %v %s", limit, err, data)
			}
			time.Sleep(time.Second)
		}
	}
	waitOpen(t, 2*time.Minute)

	t.Run("the whole control plane expired, one playbook run", func(t *testing.T) {
		now := time.Now()
		for _, n := range c.Nodes {
			aged := testpki.AgeKubeadmTree(t, n.Root, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour),
				testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
			if len(aged) < 10 {
				t.Fatalf("%s: aged only %v", n.Name, aged)
			}
		}
		// Every worker's kubelet client certificate expired too (the CA key
		// is on cp1 only: they are renewed the worker's way).
		ca := c.CA(t)
		for _, w := range c.Workers {
			w.Expire(t, ca, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour))
		}
		// As after a reboot: every component starts on its expired files.
		for _, comp := range ha.Components {
			for _, n := range c.Nodes {
				if err := n.Restart(comp); err != nil {
					t.Fatal(err)
				}
			}
		}
		eventually(t, "the pre-gate finds etcd without quorum", 2*time.Minute, func() error {
			r, err := pregate()
			if err != nil {
				return err
			}
			if r.Verdict != fleet.Down {
				return fmt.Errorf("verdict %s", r.Verdict)
			}
			return nil
		})
		start := time.Now()
		out, plays, err := r.playbook(t, "site.yml")
		took := time.Since(start)
		t.Logf("ansible-playbook site.yml:\n%s", tailLines(out, 120))
		if err != nil {
			t.Fatalf("ansible-playbook: %v", err)
		}
		logPlays(t, "whole control plane expired", plays, took)
		if !strings.Contains(out, "rescuing them together") {
			t.Error("the play did not choose to rescue the nodes together")
		}
		report := filepath.Join(home, "controller", "fleet.json")
		var fr fleet.FleetReport
		if data, err := os.ReadFile(report); err != nil || json.Unmarshal(data, &fr) != nil {
			t.Fatalf("the fleet report %s: %v", report, err)
		} else if fr.Status != "critical" || len(fr.Nodes) != 3+workers || len(fr.ByReason["expired"]) < 3 {
			t.Errorf("the fleet report before the rescue: status %s, nodes %d, expired on %v; want critical, %d, at least the control plane", fr.Status, len(fr.Nodes), fr.ByReason["expired"], 3+workers)
		} else {
			t.Logf("the fleet report before the rescue: %s, %d nodes, expired on %d of them", fr.Status, len(fr.Nodes), len(fr.ByReason["expired"]))
		}
		if workers > 0 {
			if n := strings.Count(out, "TASK [certrescue_worker : Install it the kubelet's way"); n == 0 {
				t.Error("no worker installed a renewed certificate")
			}
			// kubelet install gated each worker on its Node Ready already;
			// read every Node from the API through the VIP once more.
			took := c.WaitNodesReady(t, c.WorkerNames(), 3*time.Minute)
			t.Logf("FIGURE whole cluster expired: every one of %d worker Nodes Ready through the VIP %.1fs after the playbook", workers, took.Seconds())
			checkWorkersRenewed(t, c, ca)
		}
		waitOpen(t, 2*time.Minute)
		kubectlThroughVIP(t, c)
	})

	t.Run("a planned renewal under a request every 100 ms", func(t *testing.T) {
		waitOpen(t, 2*time.Minute)
		poll := startVIPPoller(t, c)
		watch := watchEtcd(t, c)
		from := time.Now().Format("15:04:05.000")
		start := time.Now()
		out, plays, err := r.playbook(t, "site.yml", "-e", "certrescue_rescue_all=true")
		took := time.Since(start)
		to := time.Now().Format("15:04:05.000")
		sent, failed := poll.finish()
		samples := watch.finish()
		t.Logf("ansible-playbook site.yml -e certrescue_rescue_all=true:\n%s", tailLines(out, 80))
		if err != nil {
			t.Fatalf("ansible-playbook: %v", err)
		}
		logPlays(t, "planned renewal", plays, took)
		if !strings.Contains(out, "rolling the control-plane nodes one at a time") {
			t.Error("the healthy cluster was not rolled one node at a time")
		}
		if n := strings.Count(out, "etcd leadership moved from "); n < 1 {
			t.Error("no node handed etcd's leadership off before its restart")
		} else {
			t.Logf("etcd's leadership handed off %d times during the roll", n)
		}
		// The goal is zero failed requests. A request the cluster answered
		// with an error, or whose connection was refused or reset (an API
		// server restarted under a client: the drain did not work), fails
		// the test. One that timed out (5 s) is the machine's load as much
		// as the cluster's (every node and worker shares these 2 cores): it
		// is counted and shown, and fails the test past 1 % of the requests.
		var timedOut int
		for _, f := range failed {
			if strings.Contains(f, "Client.Timeout exceeded") || strings.Contains(f, "context deadline exceeded") {
				timedOut++
			}
		}
		t.Logf("FIGURE planned renewal: %d requests through the VIP every 100 ms, %d failed (%d of them timed out after 5s)", sent, len(failed), timedOut)
		for i, f := range failed {
			if i == 20 {
				t.Logf("  ... %d more", len(failed)-20)
				break
			}
			t.Logf("  failed: %s", f)
		}
		if n := len(failed) - timedOut; n > 0 {
			t.Errorf("%d requests through the VIP failed with an answer or a refused or reset connection during the planned renewal, want none", n)
		}
		if timedOut*100 > sent {
			t.Errorf("%d of %d requests through the VIP timed out during the planned renewal, more than 1%%", timedOut, sent)
		}
		minAlive, noLeader := 3, 0
		for _, s := range samples {
			minAlive = min(minAlive, len(s.Alive))
			if len(s.Alive) < 2 {
				t.Errorf("%s: only %v of the members answer: etcd lost quorum", s.At.Format("15:04:05.000"), s.Alive)
			}
			if len(s.Healthy) == 0 {
				noLeader++
			}
		}
		t.Logf("FIGURE etcd during the roll: %d samples of every member's status and /health (every 250 ms): at least %d of 3 members up in each; %d samples (elections) where no member reported healthy",
			len(samples), minAlive, noLeader)
		var windows []restartWindow
		for _, w := range etcdRestarts(t, c) {
			if w.FromText >= from && w.ToText <= to {
				windows = append(windows, w)
			}
		}
		// etcd takes a renewed certificate up per connection (docs/reload.md),
		// so a planned renewal restarts it nowhere; a member that does not take
		// it up in time is restarted, and then never two at once.
		if len(windows) > len(c.Nodes) {
			t.Errorf("%d etcd restarts during the roll, want at most one per node: %+v", len(windows), windows)
		}
		t.Logf("FIGURE planned renewal: %d etcd restarts (etcd takes renewed certificates up per connection)", len(windows))
		for i := 1; i < len(windows); i++ {
			if !windows[i].From.After(windows[i-1].To) {
				t.Errorf("etcd on %s restarted (%s) before etcd on %s was back (%s)", windows[i].Node, windows[i].FromText, windows[i-1].Node, windows[i-1].ToText)
			}
		}
		for _, w := range windows {
			t.Logf("etcd restart on %s: %s .. %s (supervisor log)", w.Node, w.FromText, w.ToText)
		}
		kubectlThroughVIP(t, c)
	})

	t.Run("a gate fails mid-roll: the play stops, that node rolled back", func(t *testing.T) {
		waitOpen(t, 2*time.Minute)
		// The injected fault: on cp2 the API server does not come back after
		// its first restart (stopped instead); its second restart, the
		// rollback's, works. The local gate must catch it.
		cp2 := c.Nodes[1]
		marker := filepath.Join(cp2.Units, "fault-done")
		cmds := map[string]string{}
		for _, comp := range ha.Components {
			cmds[comp] = cp2.RestartCommand(comp)
		}
		ctl := strings.TrimSuffix(cp2.RestartCommand(layout.KubeAPIServer), " restart "+layout.KubeAPIServer)
		cmds[layout.KubeAPIServer] = fmt.Sprintf("if [ -e %[1]s ]; then %[2]s restart kube-apiserver; else touch %[1]s; %[2]s stop kube-apiserver; fi", marker, ctl)
		// --reload=false: the API server would take its renewed certificates
		// up without a restart, and the fault is in the restart.
		r.writeInventory(t, tarball, nodeDSN, map[string]map[string]any{"cp2": {"certrescue_restart_commands": cmds, "certrescue_gate_timeout": "30s",
			"certrescue_rescue_args": []string{"--reload=false"}}})
		before := map[string]map[string]string{}
		for _, n := range c.Nodes {
			before[n.Name] = files(t, n)
		}
		start := time.Now()
		out, plays, err := r.playbook(t, "control-plane.yml", "-e", "certrescue_rescue_all=true")
		took := time.Since(start)
		t.Logf("ansible-playbook control-plane.yml:\n%s", tailLines(out, 80))
		logPlays(t, "gate fails on cp2", plays, took)
		if err == nil {
			t.Fatal("the play succeeded; want it stopped at cp2")
		}
		if !strings.Contains(out, "health gate of kube-apiserver failed") && !strings.Contains(out, "kube-apiserver") {
			t.Error("the output does not say the API server's gate failed")
		}
		for _, n := range c.Nodes {
			after := files(t, n)
			changed := 0
			for p, sum := range before[n.Name] {
				if after[p] != sum {
					changed++
				}
			}
			switch n.Name {
			case "cp1":
				if changed == 0 {
					t.Errorf("cp1 was not renewed before cp2's failure")
				}
			default:
				if changed != 0 || len(after) != len(before[n.Name]) {
					t.Errorf("%s: %d of %d files differ after the play, want every file byte-identical (rolled back or untouched)", n.Name, changed, len(after))
				}
			}
		}
		if strings.Contains(out, "cp3 ") && strings.Contains(out, "TASK [certrescue_rescue : Rescue the node]") && strings.Contains(out, "changed: [cp3]") {
			t.Error("cp3 was rescued after cp2 failed")
		}
		c.WaitReady(t, "https://"+cp2.Addr+":6443", 3*time.Minute)
		waitOpen(t, 2*time.Minute)
		kubectlThroughVIP(t, c)
	})

	// caPlay runs a CA playbook on the serving cluster, with the plays'
	// figures under what; it returns the cluster CA as it was before.
	caPlay := func(t *testing.T, what, playbook string, extra ...string) *pki.CA {
		t.Helper()
		r.writeInventory(t, tarball, nodeDSN, nil)
		waitOpen(t, 2*time.Minute)
		old := c.CA(t)
		start := time.Now()
		out, plays, err := r.playbook(t, playbook, extra...)
		took := time.Since(start)
		t.Logf("ansible-playbook %s:\n%s", playbook, tailLines(out, 120))
		if err != nil {
			t.Fatalf("ansible-playbook %s: %v", playbook, err)
		}
		logPlays(t, what, plays, took)
		return old
	}

	t.Run("the CA renewed across the fleet", func(t *testing.T) {
		started := time.Now()
		old := caPlay(t, "CA renew across the fleet", "ca.yml", "-e", "certrescue_ca_names=ca")
		checkCARenewed(t, c, old, started)
		if workers > 0 {
			c.WaitNodesReady(t, c.WorkerNames(), 3*time.Minute)
		}
		waitOpen(t, 2*time.Minute)
		kubectlThroughVIP(t, c)
	})

	t.Run("the CA rotated to new keys across the fleet", func(t *testing.T) {
		// Last: the test's own admin certificate is the old CA's until it
		// is signed again after.
		// kubeadm's controller-manager signs with ca.crt, which phases 1
		// and 2 make a bundle: its flag names ca-signing.crt meanwhile and
		// its manifest ends as it began.
		manifests := map[string]string{}
		for _, n := range c.Nodes {
			data, err := os.ReadFile(n.Path(layout.ManifestsDir + "/" + layout.KubeControllerManager + ".yaml"))
			if err != nil || !strings.Contains(string(data), "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt") {
				t.Fatalf("%s: the controller-manager's manifest has no stock signing flag: %v", n.Name, err)
			}
			manifests[n.Name] = string(data)
		}
		old := caPlay(t, "CA rotate across the fleet", "ca-rotate.yml", "-e", "certrescue_worker_serial=50%")
		c.RefreshClientTLS(t)
		checkCARotated(t, c, r, old)
		for _, n := range c.Nodes {
			if data, _ := os.ReadFile(n.Path(layout.ManifestsDir + "/" + layout.KubeControllerManager + ".yaml")); string(data) != manifests[n.Name] {
				t.Errorf("%s: the controller-manager's manifest is not back as it was:\n%s", n.Name, data)
			}
		}
		controllerManagerSigns(t, c, c.CA(t).Cert)
		if workers > 0 {
			c.WaitNodesReady(t, c.WorkerNames(), 3*time.Minute)
			checkWorkersRenewed(t, c, c.CA(t))
		}
		waitOpen(t, 2*time.Minute)
		kubectlThroughVIP(t, c)
	})

	if localDSN != "" {
		hosts := auditHosts(t, kitDir, localDSN)
		for _, n := range c.Nodes {
			if hosts[n.Name] == 0 {
				t.Errorf("no audit event of %s in PostgreSQL (hosts: %v)", n.Name, hosts)
			}
		}
		for _, w := range c.Workers {
			if hosts[w.Name] == 0 {
				t.Errorf("no audit event of %s in PostgreSQL", w.Name)
			}
		}
		t.Logf("audit events in PostgreSQL by node: %v", hosts)
	}
	peak := mem.Stop()
	t.Logf("FIGURE HA testbed peak memory (every component, sshd, haproxy; RSS and the machine sampled every second, PSS every 10 s): %.0f MiB RSS summed, %.0f MiB PSS summed (shared pages divided); the machine's used memory peaked at %.0f MiB",
		float64(peak.RSS)/(1<<20), float64(peak.PSS)/(1<<20), float64(peak.MachineUsed)/(1<<20))
}

// kubectlThroughVIP copies cp1's admin.conf (its server is the VIP) to the
// controller and lists namespaces and creates a Deployment through it; the
// controller-manager must create its ReplicaSet.
func kubectlThroughVIP(t *testing.T, c *ha.Cluster) {
	t.Helper()
	data, err := os.ReadFile(c.Nodes[0].Path(layout.KubernetesDir + "/admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "admin.conf")
	if err := os.WriteFile(kc, data, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "kubectl get namespaces through the VIP", 2*time.Minute, func() error {
		out, err := c.Kubectl(kc, "get", "namespaces")
		if err != nil || !strings.Contains(out, "kube-system") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	name := fmt.Sprintf("web-%d", time.Now().UnixNano()%100000)
	if out, err := c.Kubectl(kc, "create", "deployment", name, "--image=registry.k8s.io/pause:3.10"); err != nil {
		t.Fatalf("kubectl create deployment: %v\n%s", err, out)
	}
	eventually(t, "the controller-manager creates the ReplicaSet", 2*time.Minute, func() error {
		out, err := c.Kubectl(kc, "get", "replicasets", "-l", "app="+name, "-o", "name")
		if err != nil || !strings.Contains(out, "replicaset.apps/"+name+"-") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// auditHosts counts the store's events by host, read with the kit's certrescue.
func auditHosts(t *testing.T, kitDir, dsn string) map[string]int {
	t.Helper()
	out, err := exec.Command(filepath.Join(kitDir, "bin", "certrescue-linux-amd64"), "audit", "list", "--audit-dsn", dsn, "--limit", "0", "-o", "jsonl").Output()
	if err != nil {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	hosts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e struct {
			Host string `json:"host"`
		}
		if json.Unmarshal([]byte(line), &e) == nil {
			hosts[e.Host]++
		}
	}
	return hosts
}

func eventually(t *testing.T, what string, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(time.Second) // polling real processes
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
