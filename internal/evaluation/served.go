package evaluation

import (
	"bytes"
	"crypto/x509"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// checkServed judges a chain fetched from a live endpoint: its own validity,
// and whether it is the certificate on disk that the endpoint should serve.
func (e *evaluator) checkServed(it *inventory.Item, r *Result, add addFunc) {
	s := it.Served
	if s == nil {
		return
	}
	if s.Err != nil {
		if s.Explicit {
			add(facts.ReasonUnreadable, facts.SeverityWarning, s.Addr, "could not fetch the served certificate from %s: %v", s.Addr, s.Err)
		} else {
			r.Notes = append(r.Notes, "not reachable: "+s.Err.Error())
		}
		return
	}
	leaf := it.Leaf()
	if leaf == nil {
		return
	}
	e.checkValidity(it, leaf, add)
	disk, how := e.diskFor(it, leaf)
	if disk == nil {
		if signer, found, _ := e.cas.signerOf(leaf); found {
			r.CA = signer.item.Name
		} else {
			r.CA = issuerName(leaf)
		}
		return
	}
	r.KeyPath = ""
	r.Resolved = disk.Path
	if dleaf := disk.Leaf(); dleaf != nil {
		if signer, found, _ := e.cas.signerOf(leaf); found {
			r.CA = signer.item.Name
		} else {
			r.CA = issuerName(leaf)
		}
		if !leaf.Equal(dleaf) {
			restart := "the component serving it"
			if s.Component != "" {
				restart = s.Component
			} else if len(disk.Components) > 0 {
				restart = disk.Components[0]
			}
			add(facts.ReasonServedDiffersFromDisk, facts.SeverityWarning, s.Addr,
				"%s serves a certificate (serial %s, expires %s) that is not the one on disk at %s%s (serial %s, expires %s): the file was changed but %s was not restarted; restart %s",
				s.Addr, facts.SerialHex(leaf), fmtTime(leaf.NotAfter), disk.Path, how, facts.SerialHex(dleaf), fmtTime(dleaf.NotAfter), restart, restart)
		}
	}
}

// diskFor finds the item on disk the endpoint should be serving: the one
// named for it, else the one with the same certificate, else one with the
// same subject and issuer (a renewed copy).
func (e *evaluator) diskFor(it *inventory.Item, leaf *x509.Certificate) (*inventory.Item, string) {
	if p := it.Served.DiskPath; p != "" {
		if d, ok := e.byPath[p]; ok {
			return d, ""
		}
	}
	var sameName *inventory.Item
	for i := range e.items {
		d := &e.items[i]
		dl := d.Leaf()
		if d.Kind != inventory.KindCertificate || dl == nil {
			continue
		}
		if dl.Equal(leaf) {
			return d, ""
		}
		if sameName == nil && !dl.IsCA && bytes.Equal(dl.RawSubject, leaf.RawSubject) && bytes.Equal(dl.RawIssuer, leaf.RawIssuer) {
			sameName = d
		}
	}
	if sameName != nil {
		return sameName, " (matched by subject and issuer)"
	}
	return nil, ""
}
