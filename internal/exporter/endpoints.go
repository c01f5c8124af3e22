package exporter

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/pki"
)

// Endpoint is a live TLS endpoint whose served chain is exposed.
type Endpoint struct {
	Addr       string // host:port
	ServerName string // SNI; the host of Addr when empty
	// DiskPath is the node path of the certificate the endpoint should
	// serve; when set, a served leaf that differs from it is a
	// served_differs_from_disk finding (a component not restarted after a
	// renewal).
	DiskPath string
}

// Endpoints reads the chains of live TLS endpoints at every Refresh. It only
// reads what is served and never authenticates the server (the handshake does
// not verify, the evaluation does): it is an observer.
type Endpoints struct {
	Targets []Endpoint
	Root    string // node root for DiskPath
	Timeout time.Duration
	ID      SourceID
	Store   *Store

	once sync.Once
}

// Refresh dials every endpoint and replaces the source's objects.
func (e *Endpoints) Refresh(ctx context.Context) error {
	e.once.Do(func() { e.Store.Register(e.ID) })
	timeout := e.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	node := inventory.NewNode(e.Root)
	objects := map[string]Object{}
	failed := 0
	for _, t := range e.Targets {
		o, err := e.read(ctx, node, t, timeout)
		if err != nil {
			failed++
			e.Store.AddError(e.ID, "dial")
		}
		objects[t.Addr] = o
	}
	e.Store.Replace(e.ID, objects)
	e.Store.SetUp(e.ID, failed == 0)
	if failed > 0 {
		return fmt.Errorf("%d of %d endpoints could not be read", failed, len(e.Targets))
	}
	return nil
}

func (e *Endpoints) read(ctx context.Context, node *inventory.Node, t Endpoint, timeout time.Duration) (Object, error) {
	loc := Location{Endpoint: t.Addr}
	certs, err := served(ctx, t, timeout)
	if err != nil {
		return Object{
			Entries:  []Entry{{Loc: loc, Err: facts.ReasonUnreadable}},
			Findings: []Finding{{Loc: loc, Reason: facts.ReasonUnreadable, Severity: facts.SeverityCritical}},
		}, err
	}
	var o Object
	for _, c := range certs {
		ct := CertOf(c)
		o.Entries = append(o.Entries, Entry{Loc: loc, Cert: &ct})
	}
	if t.DiskPath != "" && len(certs) > 0 {
		f, err := node.ReadFile(t.DiskPath, pki.MaxPEMSize)
		if err == nil {
			disk := inventory.Decode(f.Data)
			if len(disk.Certs) > 0 && !bytes.Equal(disk.Certs[0].Raw, certs[0].Raw) {
				o.Findings = append(o.Findings, Finding{Loc: loc, Reason: facts.ReasonServedDiffersFromDisk,
					Severity: facts.SeverityCritical, SubjectCN: certs[0].Subject.CommonName})
			}
		}
	}
	return o, nil
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
		InsecureSkipVerify: true, //nolint:gosec // an observer reads what is served; evaluation judges it
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
