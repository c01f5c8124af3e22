package ha

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Forward listens on Controller:port inside the controller namespace and
// forwards each connection to target (HOST:PORT) as dialled from the test
// process's own namespace, for a service of the host the nodes must reach
// (the PostgreSQL audit store on the host's loopback). It is closed when the
// test ends. It returns the address the nodes dial.
func (c *Cluster) Forward(t testing.TB, port, target string) string {
	t.Helper()
	l, err := c.Listen(net.JoinHostPort(Controller, port))
	if err != nil {
		t.Fatalf("ha: forward %s: %v", target, err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				out, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				go func() {
					<-done
					in.Close()
					out.Close()
				}()
				go func() { _, _ = io.Copy(out, in); out.Close() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l.Addr().String()
}
