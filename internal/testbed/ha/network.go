package ha

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/certrescue/certrescue/internal/testbed"
)

// Addresses of the testbed's network (a /24 on the bridge).
const (
	Subnet     = "10.77.0"
	Controller = Subnet + ".1"   // the controller: ansible-playbook, the tests' clients
	VIP        = Subnet + ".100" // the load balancer's virtual address
	// The bridge's network is a /16: control-plane nodes and the VIP in
	// 10.77.0.0/24, workers from 10.77.1.1 on (WorkerAddr).
	prefixLen = "/16"
)

// NodeAddr is the address of node i (0-based): 10.77.0.11, .12, ...
func NodeAddr(i int) string { return fmt.Sprintf("%s.%d", Subnet, 11+i) }

// WorkerAddr is the address of worker i (0-based): 10.77.1.1 ... 10.77.1.250,
// 10.77.2.1, ... (room for thousands).
func WorkerAddr(i int) string { return fmt.Sprintf("10.77.%d.%d", 1+i/250, 1+i%250) }

var seq atomic.Int32

// network is the controller namespace with the bridge.
type network struct {
	ctl *testbed.NetNS
	tag string
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetwork makes the controller namespace: loopback, the bridge with the
// controller's address and the VIP. It is deleted when the test ends.
func newNetwork(t testing.TB) *network {
	t.Helper()
	testbed.NeedRoot(t, "the HA testbed")
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) not found: %v", err)
	}
	n := &network{tag: fmt.Sprintf("crha%d-%d", os.Getpid(), seq.Add(1))}
	name := n.tag + "-ctl"
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	n.ctl = &testbed.NetNS{Name: name, Addr: Controller}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "br0", "type", "bridge"},
		{"addr", "add", Controller + prefixLen, "dev", "br0"},
		{"addr", "add", VIP + prefixLen, "dev", "br0"},
		{"link", "set", "br0", "up"},
	} {
		ipCmd(t, append([]string{"-n", name}, args...)...)
	}
	return n
}

// addNode makes a node namespace with addr on a veth whose other end is a
// port of the bridge, and a default route through the controller (kubeadm
// picks the node address from the default route's interface).
func (n *network) addNode(t testing.TB, i int, addr string) *testbed.NetNS {
	t.Helper()
	name := fmt.Sprintf("%s-n%d", n.tag, i)
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	port := fmt.Sprintf("p%d", i)
	ipCmd(t, "-n", n.ctl.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
	ipCmd(t, "-n", n.ctl.Name, "link", "set", port, "master", "br0")
	ipCmd(t, "-n", n.ctl.Name, "link", "set", port, "up")
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", addr + prefixLen, "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", Controller, "dev", "eth0"},
	} {
		ipCmd(t, append([]string{"-n", name}, args...)...)
	}
	return &testbed.NetNS{Name: name, Addr: addr}
}

// addWorkers makes the workers' namespace: one veth port of the bridge
// with every worker's address on it (each worker's sshd listens on its own;
// the kubelets listen on ports of their own), and a default route through
// the controller. One namespace for all keeps a fleet of hundreds cheap.
func (n *network) addWorkers(t testing.TB, addrs []string) *testbed.NetNS {
	t.Helper()
	name := n.tag + "-w"
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ipCmd(t, "-n", n.ctl.Name, "link", "add", "pw", "type", "veth", "peer", "name", "eth0", "netns", name)
	ipCmd(t, "-n", n.ctl.Name, "link", "set", "pw", "master", "br0")
	ipCmd(t, "-n", n.ctl.Name, "link", "set", "pw", "up")
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	var batch strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&batch, "addr add %s%s dev eth0\n", a, prefixLen)
	}
	cmd := exec.Command("ip", "-n", name, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch (worker addresses): %v\n%s", err, out)
	}
	ipCmd(t, "-n", name, "link", "set", "eth0", "up")
	ipCmd(t, "-n", name, "route", "add", "default", "via", Controller, "dev", "eth0")
	return &testbed.NetNS{Name: name, Addr: addrs[0]}
}

// inNetNS runs f on an OS thread that has entered the named network
// namespace: sockets f creates belong to it (and stay in it afterwards).
func inNetNS(name string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", name, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace: leave it locked, so the
		// runtime ends it with this goroutine instead of reusing it.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// DialContext dials from the controller namespace: clients of the test
// process (health probes, the VIP poller, fleet pregate's library) reach
// the nodes and the VIP with it.
func (c *Cluster) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetNS(c.net.ctl.Name, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen opens a listener inside the controller namespace.
func (c *Cluster) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetNS(c.net.ctl.Name, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}
