package endpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
)

// DefaultTimeout bounds one endpoint's connection and handshake.
const DefaultTimeout = 3 * time.Second

// maxChain caps the certificates kept from one handshake.
const maxChain = 16

// Target is an endpoint to fetch.
type Target struct {
	Addr      string   // host:port
	Component string   // what serves it, if known
	DiskPaths []string // node paths of the certificate it should serve, most specific first
	Explicit  bool     // named by the operator (--endpoint)
}

// Fetch connects to addr and returns the chain the server presents, leaf
// first. Nothing is verified: the point is to see what is served, expired or
// not. A handshake that fails after the server sent its certificate (a server
// that requires a client certificate) still returns the chain.
func Fetch(ctx context.Context, addr string, timeout time.Duration) ([]*x509.Certificate, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w (want host:port)", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		mu    sync.Mutex
		chain []*x509.Certificate
		perr  error
	)
	cfg := &tls.Config{
		// Fetching, not trusting: the chain is judged by package evaluation
		// against the CAs on disk. Old TLS versions are allowed so an old
		// server's certificate can still be seen.
		InsecureSkipVerify: true, //nolint:gosec // see above
		MinVersion:         tls.VersionTLS10,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { //nolint:gosec // G123: no ClientSessionCache, so nothing is resumed and every handshake runs this
			mu.Lock()
			defer mu.Unlock()
			for i, der := range raw {
				if i == maxChain {
					break
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					perr = fmt.Errorf("certificate %d of the served chain: %w", i+1, err)
					return nil
				}
				chain = append(chain, c)
			}
			return nil
		},
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if conn != nil {
		_ = conn.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case len(chain) > 0:
		return chain, nil
	case perr != nil:
		return nil, perr
	case err != nil:
		return nil, err
	}
	return nil, errors.New("the server presented no certificate")
}

// Probe fetches every target concurrently and returns one KindServed item
// each, in the order of targets. disk maps a node path to true when the
// inventory holds a certificate there; the first of a target's DiskPaths
// that it holds becomes the item's DiskPath.
func Probe(ctx context.Context, targets []Target, timeout time.Duration, disk func(string) bool) []inventory.Item {
	items := make([]inventory.Item, len(targets))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			items[i] = probeOne(ctx, t, timeout, disk)
		}()
	}
	wg.Wait()
	return items
}

func probeOne(ctx context.Context, t Target, timeout time.Duration, disk func(string) bool) inventory.Item {
	name := t.Addr
	if t.Component != "" {
		name = t.Component + " on " + t.Addr
	}
	sf := &inventory.ServedFacts{Addr: t.Addr, Component: t.Component, Explicit: t.Explicit}
	for _, p := range t.DiskPaths {
		if disk == nil || disk(p) {
			sf.DiskPath = p
			break
		}
	}
	it := inventory.Item{Name: name, Kind: inventory.KindServed, Path: t.Addr, Served: sf, Sources: []string{source(t)}}
	if t.Component != "" {
		it.Components = []string{t.Component}
	}
	it.Certs, sf.Err = Fetch(ctx, t.Addr, timeout)
	return it
}

func source(t Target) string {
	if t.Explicit {
		return "--endpoint " + t.Addr
	}
	return "endpoint named by the manifests"
}
