package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// A socket belongs to the network namespace of the thread that created it,
// and keeps it when used from any other thread. inNS runs f on an OS thread
// moved into the namespace, so the test process itself can listen and dial
// inside it (a recording server the components connect to, a probe of their
// ports) without a helper process. The thread is never moved back: it ends
// with the goroutine (runtime.LockOSThread without Unlock), so no other
// goroutine ever runs in the namespace by accident.
func (n *NetNS) inNS(f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		fd, err := os.Open("/var/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}

// Listen opens a listener inside the namespace.
func (n *NetNS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	var lerr error
	if err := n.inNS(func() { l, lerr = net.Listen(network, addr) }); err != nil {
		return nil, err
	}
	return l, lerr
}

// DialContext dials inside the namespace (for http.Transport.DialContext).
func (n *NetNS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	var derr error
	if err := n.inNS(func() { c, derr = (&net.Dialer{}).DialContext(ctx, network, addr) }); err != nil {
		return nil, err
	}
	return c, derr
}
