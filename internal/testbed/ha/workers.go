package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// Worker is one worker node of the testbed: a hollow kubelet (kubemark: the
// kubelet's own code with a fake runtime) whose root is laid out as
// `kubeadm join` leaves it, registered through the VIP under its own
// system:node certificate, with its own hostname, address and sshd. No CA
// key is on it: its credentials are renewed the worker's way (kubelet csr,
// sign where the CA key is, kubelet install).
type Worker struct {
	*testbed.HollowKubelet
	Addr string // its sshd's address (one of the workers' namespace)
}

// WorkerBinds are the worker's node directories besides the kubelet's: the
// kit and audit files, and sshd's privilege separation directory.
var WorkerBinds = []string{"/var/lib/certrescue", "/run/sshd"}

// WorkerCPUShares is the cpu.shares of the workers' kubelets together
// (a process of the root group weighs 1024).
const WorkerCPUShares = 512

// startWorkers starts n workers in one namespace of their own and waits
// until each answers ssh and is Ready in the API.
func (c *Cluster) startWorkers(t testing.TB, n int) {
	t.Helper()
	addrs := make([]string, n)
	names := make([]string, n)
	for i := range n {
		addrs[i] = WorkerAddr(i)
		names[i] = fmt.Sprintf("worker-%d", i+1)
	}
	ns := c.net.addWorkers(t, addrs)
	c.workerNS = ns
	first := c.Nodes[0]
	ca, err := pki.LoadCA(first.Path(layout.PKIDir+"/ca.crt"), first.Path(layout.PKIDir+"/ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	c.createNodes(t, names)
	now := time.Now() // the API servers' wall clock
	byName := map[string]string{}
	for i, name := range names {
		byName[name] = addrs[i]
	}
	// Every kubelet in one CPU group weighing half a process of the root
	// group: a hundred hollow kubelets whose certificates expired retry in
	// a loop (each on its own CPU in a real fleet) and took 83 % of this
	// machine's two cores from the controller's Ansible and the control
	// plane, which they get back under load; idle, the kubelets have it all.
	cg := testbed.CPUCgroup(t, "certrescue-ha-kubelets", WorkerCPUShares)
	ks := testbed.StartHollowKubelets(t, ns, n, testbed.KubeletOptions{
		Server: c.VIPURL(), CA: ca, Names: names, CPUCgroup: cg,
		// A year: the fleet's kubelets are not due until the test expires them.
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		Hostname: true, Binds: WorkerBinds, FreshHome: true,
		Prepare: func(k *testbed.HollowKubelet) []string {
			// kubeadm join leaves the cluster CA at pki/ca.crt (the
			// kubelet's clientCAFile); ca apply finds the node's CA there.
			writeFile(t, filepath.Join(k.Root, layout.PKIDir, "ca.crt"), string(pki.EncodeCertificatePEM(ca.Cert.Raw)), 0o644)
			conf := c.sshdConfigIn(t, filepath.Join(c.Dir, "workers", k.Name+"-ssh"), k.Name, byName[k.Name])
			writeFile(t, filepath.Join(k.Root, testbed.BinUnitDir, "sshd.service"), fmt.Sprintf(`[Unit]
Description=OpenBSD Secure Shell server of %s

[Service]
ExecStart=/usr/sbin/sshd -D -e -f %s
Restart=always
`, k.Name, conf), 0o644)
			return []string{"sshd.service"}
		},
	})
	t0 := time.Now()
	for i, k := range ks {
		c.Workers = append(c.Workers, &Worker{HollowKubelet: k, Addr: addrs[i]})
	}
	for _, w := range c.Workers {
		c.waitSSHAt(t, w.Name, w.Addr, w.Sup)
	}
	t.Logf("ha: %d workers' sshd answering %.1fs after their kubelets started", n, time.Since(t0).Seconds())
	c.WaitNodesReady(t, names, 5*time.Minute)
}

// createNodes creates the workers' Node objects as the admin, as a node
// rejoining a cluster finds its own: the kubelet then registers by
// updating it. A kubelet starting on this loaded machine takes some 20 s to
// register; its CSINode initialization retries 15 ms, 90 ms, ... 19 s, then
// 116 s later, and keeps the Node NotReady until it succeeds, so a worker
// whose Node did not yet exist at the fifth try was Ready only two minutes
// later (the testbed took 190 s to start at any worker count).
func (c *Cluster) createNodes(t testing.TB, names []string) {
	t.Helper()
	client := c.HTTPClient(c.ClientTLS, 20*time.Second)
	for _, name := range names {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q}}`, name)
		resp, err := client.Post(c.VIPURL()+"/api/v1/nodes", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("ha: create Node %s: %v", name, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("ha: create Node %s: %s %s", name, resp.Status, msg)
		}
	}
}

// WorkerNS is the workers' network namespace (nil without workers).
func (c *Cluster) WorkerNS() *testbed.NetNS { return c.workerNS }

// CA is the cluster CA as the first node has it now.
func (c *Cluster) CA(t testing.TB) *pki.CA {
	t.Helper()
	first := c.Nodes[0]
	ca, err := pki.LoadCA(first.Path(layout.PKIDir+"/ca.crt"), first.Path(layout.PKIDir+"/ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// NodesReady lists the Nodes through the VIP as the test's admin: each
// Node's Ready condition status ("True", "False", "Unknown").
func (c *Cluster) NodesReady(ctx context.Context) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.VIPURL()+"/api/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTPClient(c.ClientTLS, 20*time.Second).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/nodes: %s", resp.Status)
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, it := range list.Items {
		out[it.Metadata.Name] = "Unknown"
		for _, cond := range it.Status.Conditions {
			if cond.Type == "Ready" {
				out[it.Metadata.Name] = cond.Status
			}
		}
	}
	return out, nil
}

// NotReady are the names whose Node is missing or not Ready in ready.
func NotReady(ready map[string]string, names []string) []string {
	var out []string
	for _, n := range names {
		if ready[n] != "True" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WaitNodesReady polls the Nodes through the VIP until every one of names
// is Ready, at most limit, and returns the time it took.
func (c *Cluster) WaitNodesReady(t testing.TB, names []string, limit time.Duration) time.Duration {
	t.Helper()
	return c.WaitNodes(t, names, limit, func(s string) bool { return s == "True" })
}

// WaitNodes polls the Nodes through the VIP until want holds for the Ready
// status of every one of names, at most limit.
func (c *Cluster) WaitNodes(t testing.TB, names []string, limit time.Duration, want func(status string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last []string
	var lastErr error
	for time.Since(start) < limit {
		ready, err := c.NodesReady(context.Background())
		lastErr = err
		if err == nil {
			last = last[:0]
			for _, n := range names {
				if !want(ready[n]) {
					last = append(last, n+"="+ready[n])
				}
			}
			if len(last) == 0 {
				return time.Since(start)
			}
		}
		time.Sleep(2 * time.Second) // polling the API server
	}
	if len(last) > 8 {
		last = append(last[:8], fmt.Sprintf("... %d more", len(last)-8))
	}
	t.Fatalf("ha: nodes not as wanted within %s: %s (%v)", limit, strings.Join(last, " "), lastErr)
	return 0
}

// WorkerNames are the workers' names.
func (c *Cluster) WorkerNames() []string {
	var out []string
	for _, w := range c.Workers {
		out = append(out, w.Name)
	}
	return out
}
