package exporter

import (
	"context"
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// readEndpoints fetches what the endpoints serve (package endpoint, as check
// does: nothing is trusted, the evaluation judges it), evaluates the served
// chains against the node's files (the disk certificates and the CAs) and
// adds one object per endpoint.
func (n *Node) readEndpoints(ctx context.Context, targets []endpoint.Target, objects map[string]Object, now time.Time) error {
	onDisk := map[string]bool{}
	var related []inventory.Item // the CAs and the disk certificates the endpoints name
	wanted := map[string]bool{}
	for _, t := range targets {
		for _, p := range t.DiskPaths {
			wanted[p] = true
		}
	}
	for _, c := range n.cache {
		for _, k := range c.items {
			if !k.hasCerts {
				continue
			}
			onDisk[k.path] = true
			if k.full != nil && (k.isCA || wanted[k.path] || wanted[k.resolved]) {
				related = append(related, *k.full)
			}
		}
	}
	items := endpoint.Probe(ctx, targets, n.Timeout, func(p string) bool { return onDisk[p] })
	served := len(items)
	findings := n.evaluate(append(items, related...), nil, now)
	failed := 0
	for i := range items[:served] {
		it := &items[i]
		loc := Location{Endpoint: it.Path}
		var o Object
		for j, c := range it.Certs {
			ct := CertOf(c)
			o.Entries = append(o.Entries, Entry{Loc: loc, Cert: &ct, InChain: j > 0})
		}
		if it.Served.Err != nil {
			n.Store.AddError(n.ID, "endpoint")
			if it.Served.Explicit {
				failed++
				o.Entries = append(o.Entries, Entry{Loc: loc, Err: facts.ReasonUnreadable})
			}
		}
		o.Findings = findings[i]
		objects["endpoint "+it.Path] = o
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d endpoints could not be read", failed, served)
	}
	return nil
}
