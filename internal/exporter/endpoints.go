package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// Endpoint is a live TLS endpoint whose served chain is exposed.
type Endpoint struct {
	Addr       string // host:port
	ServerName string // SNI; the host of Addr when empty
	// DiskPath is the node path of the certificate the endpoint should
	// serve; a served leaf that differs from it is a served_differs_from_disk
	// finding (a component not restarted after a renewal).
	DiskPath string
}

// readEndpoints dials every endpoint, evaluates what they serve against the
// node's files (the disk certificates and the CAs) and adds one object per
// endpoint. The handshake reads what is served and does not authenticate
// the server: the evaluation judges the chain.
func (n *Node) readEndpoints(ctx context.Context, r *inventory.Reader, objects map[string]Object) error {
	timeout := n.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var items []inventory.Item
	for _, t := range n.Endpoints {
		it := inventory.Item{Name: t.Addr, Kind: inventory.KindServed, Path: t.Addr, Sources: []string{"--endpoint"},
			Served: &inventory.ServedFacts{Addr: t.Addr, DiskPath: t.DiskPath, Explicit: true}}
		certs, err := served(ctx, t, timeout)
		if err != nil {
			it.Served.Err = err
			n.Store.AddError(n.ID, "dial")
		}
		it.Certs = certs
		items = append(items, it)
	}
	served := len(items)
	for _, c := range n.cache { // the CAs and the disk certificates the endpoints name
		for _, it := range c.items {
			if it.IsCA || it.Kind == inventory.KindCertificate && isDiskOf(it.Path, n.Endpoints) {
				items = append(items, it)
			}
		}
	}
	findings := n.evaluate(items)
	failed := 0
	for i := range items[:served] {
		it := &items[i]
		loc := Location{Endpoint: it.Path}
		var o Object
		for _, c := range it.Certs {
			ct := CertOf(c)
			o.Entries = append(o.Entries, Entry{Loc: loc, Cert: &ct, InChain: len(o.Entries) > 0})
		}
		if it.Served.Err != nil {
			failed++
			o.Entries = append(o.Entries, Entry{Loc: loc, Err: facts.ReasonUnreadable})
		}
		o.Findings = findings[i]
		objects["endpoint "+it.Path] = o
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d endpoints could not be read", failed, served)
	}
	return nil
}

func isDiskOf(p string, eps []Endpoint) bool {
	for _, e := range eps {
		if e.DiskPath == p {
			return true
		}
	}
	return false
}

func served(ctx context.Context, t Endpoint, timeout time.Duration) ([]*x509.Certificate, error) {
	sni := t.ServerName
	if sni == "" {
		host, _, err := net.SplitHostPort(t.Addr)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", t.Addr, err)
		}
		sni = host
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: &tls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true, //nolint:gosec // an observer reads what is served; the evaluation judges it
	}}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(cctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", t.Addr, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}
