package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// NetNS is a network namespace a test creates and deletes: loopback up and a
// veth pair whose first end holds Addr/24 with a default route through it, so
// programs that pick "the node address" from the default route (kubeadm, the
// API server's advertise address) find Addr. Nothing answers beyond it:
// traffic never leaves the namespace.
type NetNS struct {
	Name string
	Addr string // the node address, for example 10.0.0.1
}

var netnsSeq atomic.Int32

// NeedRoot skips the test without root (namespaces and mounts need it), or
// fails it under CERTRESCUE_REQUIRE_TESTBED=1.
func NeedRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if Require() {
		t.Fatalf("%s needs root (network and mount namespaces)", what)
	}
	t.Skipf("%s needs root (network and mount namespaces)", what)
}

// NewNetNS creates the namespace with the node address addr and deletes it
// when the test ends. It needs root and iproute2.
func NewNetNS(t testing.TB, addr string) *NetNS {
	t.Helper()
	NeedRoot(t, "a network namespace")
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) not found: %v", err)
	}
	n := &NetNS{Name: fmt.Sprintf("crtb-%d-%d", os.Getpid(), netnsSeq.Add(1)), Addr: addr}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", n.Name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.Name).Run() })
	gw := addr[:strings.LastIndexByte(addr, '.')] + ".254"
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		{"addr", "add", addr + "/24", "dev", "veth0"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
		{"route", "add", "default", "via", gw, "dev", "veth0"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
		}
	}
	return n
}

// Command runs name inside the namespace (`ip netns exec`, which execs it:
// the command's PID is the program's).
func (n *NetNS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs name inside the namespace with a three-minute bound and returns
// its combined output.
func (n *NetNS) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return combined(n.Command(ctx, name, args...))
}

func combined(cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
