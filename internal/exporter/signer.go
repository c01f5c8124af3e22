package exporter

import (
	"bytes"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// caExpiry is when an item's ca_expires_before_leaf finding turns from
// warning to critical: when the CA that signed its certificate expires. It
// follows evaluation's choice of that CA (checkChain): the CA at the item's
// CA path when it signed the certificate, else the next certificate of the
// file when the leaf names it as issuer, else the first CA of the node named
// like the leaf's issuer that signed it. It runs only for items with that
// finding, so its signature checks are rare.
func caExpiry(it *inventory.Item, v *caView) (time.Time, bool) {
	leaf := it.Leaf()
	if leaf == nil || v == nil {
		return time.Time{}, false
	}
	if e, ok := v.byPath[it.CA.Path]; ok && !e.cert.Equal(leaf) {
		if leaf.CheckSignatureFrom(e.cert) == nil {
			return e.cert.NotAfter, true
		}
		return time.Time{}, false
	}
	if len(it.Certs) > 1 && bytes.Equal(leaf.RawIssuer, it.Certs[1].RawSubject) {
		return it.Certs[1].NotAfter, true
	}
	for _, e := range v.bySubject[string(leaf.RawIssuer)] {
		if e.cert.Equal(leaf) {
			continue
		}
		if leaf.CheckSignatureFrom(e.cert) == nil {
			return e.cert.NotAfter, true
		}
	}
	return time.Time{}, false
}

// datedFinding makes a ca_expires_before_leaf finding judged at now follow
// the clock: warning until its CA expires, critical after. When the CA found
// does not explain the severity evaluation gave (it would if both chose the
// same CA), the finding keeps that severity until the next evaluation.
func datedFinding(f Finding, it *inventory.Item, v *caView, now time.Time) Finding {
	if f.Reason != facts.ReasonCAExpiresBeforeLeaf {
		return f
	}
	at, ok := caExpiry(it, v)
	if !ok || !at.Before(it.Leaf().NotAfter) {
		return f
	}
	want := facts.SeverityWarning
	if now.After(at) {
		want = facts.SeverityCritical
	}
	if want != f.Severity {
		return f
	}
	f.Severity, f.critAfter = facts.SeverityWarning, at
	return f
}
