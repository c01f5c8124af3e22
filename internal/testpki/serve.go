package testpki

import (
	"crypto/tls"
	"testing"
)

// ServeTLS starts a TLS server on a loopback port with cfg, for tests that
// compare what is served with what is on disk. Each connection is handshaken
// and held until the client closes it; the server stops with the test. It
// returns the server's host:port.
func ServeTLS(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln.Addr().String()
}
