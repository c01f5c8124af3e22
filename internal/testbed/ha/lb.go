package ha

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// haproxyConfig puts the VIP's :6443 in front of the API servers: TCP
// passthrough (clients verify the API server certificates, which carry the
// VIP), each server checked with GET /readyz over TLS every second, out
// after two failures, back after two successes; a connection that fails is
// retried on another server.
func (c *Cluster) haproxyConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 2000
    log stderr format short local0 info
    stats socket %s mode 600 level admin

defaults
    mode tcp
    log global
    option tcplog
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 120s
    timeout server 120s

frontend kube-apiserver
    bind %s:6443
    default_backend kube-apiservers

backend kube-apiservers
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 check check-ssl verify none on-marked-down shutdown-sessions
`, c.HAProxySocket, VIP)
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "    server %s %s:6443\n", n.Name, n.Addr)
	}
	return b.String()
}

// startLB starts haproxy in the controller namespace and kills it by PID
// when the test ends.
func (c *Cluster) startLB(t testing.TB) {
	t.Helper()
	bin := "/usr/sbin/haproxy"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ha: %s missing (scripts/test-deps.d/40-ha.sh installs haproxy): %v", bin, err)
	}
	cfg := filepath.Join(c.Dir, "haproxy.cfg")
	c.HAProxySocket = filepath.Join(c.Dir, "haproxy.sock")
	writeFile(t, cfg, c.haproxyConfig(), 0o644)
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	log, err := os.Create(filepath.Join(c.Dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := c.net.ctl.Command(context.Background(), bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	c.LBPID = cmd.Process.Pid
	c.pids = append(c.pids, cmd.Process.Pid)
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID: ip netns exec execs haproxy
		_ = cmd.Wait()
		log.Close()
	})
	c.HAProxyLog = log.Name()
}
