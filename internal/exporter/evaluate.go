package exporter

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/pki"
)

// Evaluate judges items with check's reason codes, one list of findings per
// item. It covers what can be judged from the files alone: problems reading
// them, key mismatch, chain, SANs, usages, weak keys, key permissions,
// kubeconfig CAs. Expiry is judged at scrape time by the Collector.
//
// It stands in for check's evaluation package until that lands; Node.Evaluate
// takes check's instead, so the reasons stay the same in both places.
func Evaluate(items []inventory.Item, now time.Time) [][]Finding {
	byPath := map[string]*inventory.Item{}
	for i := range items {
		if items[i].Kind == inventory.KindCertificate && len(items[i].Certs) > 0 {
			byPath[items[i].Path] = &items[i]
		}
	}
	out := make([][]Finding, len(items))
	for i := range items {
		out[i] = evaluateItem(&items[i], byPath)
	}
	return out
}

func evaluateItem(it *inventory.Item, byPath map[string]*inventory.Item) []Finding {
	var out []Finding
	leaf := it.Leaf()
	cn := ""
	if leaf != nil {
		cn = leaf.Subject.CommonName
	}
	at := Location{Path: it.Path}
	add := func(loc Location, r facts.Reason, sev facts.Severity) {
		out = append(out, Finding{Loc: loc, Reason: r, Severity: sev, SubjectCN: cn})
	}
	for _, p := range it.Problems {
		add(Location{Path: p.Path}, p.Reason, facts.SeverityCritical)
	}
	if it.KeyModeSet && it.KeyMode&0o077 != 0 {
		add(Location{Path: it.KeyFile}, facts.ReasonKeyPermissions, facts.SeverityWarning)
	}
	if it.Kind == inventory.KindKeyPair && it.Key != nil && it.PubKey != nil && !pki.PublicKeysEqual(it.Key, it.PubKey) {
		add(at, facts.ReasonKeyMismatch, facts.SeverityCritical)
	}
	if leaf == nil {
		return out
	}
	if it.Key != nil && !pki.PublicKeysEqual(it.Key, leaf.PublicKey) {
		add(at, facts.ReasonKeyMismatch, facts.SeverityCritical)
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		add(at, facts.ReasonWeakKey, facts.SeverityWarning)
	}
	if ca := byPath[it.CA.Path]; ca != nil && ca != it {
		caCert := ca.Leaf()
		if leaf.CheckSignatureFrom(caCert) != nil {
			add(at, facts.ReasonUntrustedChain, facts.SeverityCritical)
		} else if caCert.NotAfter.Before(leaf.NotAfter) {
			add(at, facts.ReasonCAExpiresBeforeLeaf, facts.SeverityWarning)
		}
		if k := it.Kubeconfig; k != nil && len(k.CACerts) > 0 && !slices.ContainsFunc(k.CACerts, func(c *x509.Certificate) bool {
			return bytes.Equal(c.Raw, caCert.Raw)
		}) {
			add(at, facts.ReasonKubeconfigCAMismatch, facts.SeverityCritical)
		}
	}
	for _, s := range it.ExpectSANs {
		if leaf.VerifyHostname(s.Value) != nil {
			add(at, facts.ReasonSANMissing, facts.SeverityCritical)
			break
		}
	}
	for _, u := range it.ExtKeyUsage {
		if !slices.Contains(leaf.ExtKeyUsage, u) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			add(at, facts.ReasonWrongUsage, facts.SeverityCritical)
			break
		}
	}
	return out
}
