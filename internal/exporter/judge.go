package exporter

import (
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
)

// judge evaluates the freshly read non-context items beside every CA of the
// node read so far (the fresh ones included) and stores their findings and
// what those depend on. Context items are judged all together by
// judgeContext.
func (n *Node) judge(order []string, fresh []*keptItem, now time.Time) {
	v := newCAView(order, n.cache)
	items, _ := contextItems(order, n.cache, v, true)
	nctx := len(items)
	var judged []*keptItem
	for _, k := range fresh {
		if k.context {
			continue
		}
		it := *k.full
		it.CA.Path = v.resolveCA(k.caName, k.caPath)
		items = append(items, it)
		judged = append(judged, k)
	}
	if len(judged) == 0 {
		return
	}
	findings := n.evaluate(items, v, now)
	for i, k := range judged {
		k.setFindings(findings[nctx+i])
		k.dep = v.dep(k)
	}
}

// judgeContext evaluates the context items together and stores their
// findings.
func (n *Node) judgeContext(order []string, now time.Time) {
	v := newCAView(order, n.cache)
	items, kept := contextItems(order, n.cache, v, false)
	if len(items) == 0 {
		return
	}
	findings := n.evaluate(items, v, now)
	for i, k := range kept {
		k.setFindings(findings[i])
	}
}

// stale is the paths with an item judged against other CAs than the node
// has now (a CA read after it, replaced, or removed).
func (n *Node) stale(order []string) []string {
	v := newCAView(order, n.cache)
	var out []string
	for _, key := range order {
		c := n.cache[key]
		if c == nil {
			continue
		}
		for _, k := range c.items {
			if !k.context && k.dep != v.dep(k) {
				out = append(out, key)
				break
			}
		}
	}
	return out
}

// evaluate runs check's evaluation and returns each item's findings, less
// the time-dependent ones, which the Collector computes at scrape time;
// ca_expires_before_leaf follows the clock from the CA's expiry (v may be
// nil where no item has a chain to judge).
func (n *Node) evaluate(items []inventory.Item, v *caView, now time.Time) [][]Finding {
	rep := evaluation.Evaluate(items, now, n.policy())
	index := map[string][]int{}
	for i := range items {
		k := string(items[i].Kind) + "\x00" + items[i].Path
		index[k] = append(index[k], i)
	}
	out := make([][]Finding, len(items))
	for _, r := range rep.Results {
		k := string(r.Kind) + "\x00" + r.Path
		is := index[k]
		if len(is) == 0 {
			continue
		}
		i := is[0]
		index[k] = is[1:]
		cn := ""
		if r.Cert != nil {
			cn = r.Cert.Subject.CommonName
		}
		for _, f := range r.Findings {
			if timeReason(f.Reason) {
				continue
			}
			loc := Location{Path: f.Path}
			if items[i].Kind == inventory.KindServed {
				loc = Location{Endpoint: items[i].Path}
			} else if loc.Path == "" {
				loc.Path = r.Path
			}
			out[i] = append(out[i], datedFinding(Finding{Loc: loc, Reason: f.Reason, Severity: f.Severity, SubjectCN: cn}, &items[i], v, now))
		}
	}
	return out
}

func (n *Node) policy() evaluation.Policy {
	p := n.Policy
	if p.Warn == 0 && p.Critical == 0 && p.MinRSABits == 0 {
		p = evaluation.DefaultPolicy()
	}
	p.Expected = append(p.Expected[:len(p.Expected):len(p.Expected)], n.expected...)
	return p
}
