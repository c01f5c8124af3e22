package exporter

import (
	"crypto/x509"
	"hash/fnv"

	"github.com/certrescue/certrescue/internal/inventory"
)

// cachedKey is what one node path yielded at its last read.
type cachedKey struct {
	listing uint64      // hash of what the sources said about the path
	paths   []string    // every file read for it
	ids     []fileID    // their identities when read; nil forces a re-read
	items   []*keptItem // nil when the path is optional and absent
}

// keptItem is what the exporter keeps of one read item between refreshes:
// its series, its findings, and what deciding whether they are still right
// needs. The parsed certificates (full) are kept only for the items other
// items are judged against (context): the CAs, the API server's certificate,
// the kubeconfigs, and the files live endpoints should serve. For the others
// they are dropped once judged, which is most of an exporter's memory with
// thousands of files.
type keptItem struct {
	full    *inventory.Item // parsed item; nil once dropped
	context bool            // a CA, the API server's certificate or a kubeconfig

	kind           inventory.Kind
	path, resolved string
	role           string
	isCA           bool   // expected to be a CA (the item's role says so)
	hasCerts       bool   // a certificate was read
	caName, caPath string // the CA it should chain to, as read (before resolveCA)
	issuer         string // raw issuer of its first certificate (interned)

	// dep is the CAs its findings were computed against (caView.dep); the
	// item is read and judged again when the node's CAs make it differ.
	dep uint64

	entries  []Entry
	findings []Finding
}

// isContext reports whether other items' findings depend on it: the CA index
// (CAs), the cluster CA and SAN checks (the API server's certificate, the
// kubeconfigs). Evaluating any set of items plus every context item gives each
// of them the same findings as evaluating the whole node.
func isContext(it *inventory.Item) bool {
	if it.Kind == inventory.KindKubeconfig {
		return true
	}
	leaf := it.Leaf()
	if it.Kind != inventory.KindCertificate || leaf == nil {
		return false
	}
	return it.Role == "apiserver" || it.IsCA || leaf.IsCA
}

// isCAItem reports whether evaluation indexes the item as a CA: a
// certificate file whose certificate or role says CA.
func (k *keptItem) isCAItem() bool {
	if k.full == nil || k.kind != inventory.KindCertificate {
		return false
	}
	leaf := k.full.Leaf()
	return leaf != nil && (leaf.IsCA || k.isCA)
}

// keep makes the kept form of a freshly read item.
func keep(it *inventory.Item, extra map[string][]string, interned map[string]string) *keptItem {
	k := &keptItem{kind: it.Kind, path: it.Path, resolved: it.Resolved, role: it.Role, isCA: it.IsCA,
		hasCerts: len(it.Certs) > 0, caName: it.CA.Name, caPath: it.CA.Path, context: isContext(it)}
	if leaf := it.Leaf(); leaf != nil {
		k.issuer = intern(interned, leaf.RawIssuer)
	}
	o := Object{Entries: entriesOf(it, extra)}
	o.prepare()
	k.entries = o.Entries
	cp := *it
	k.full = &cp
	return k
}

func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	m[s] = s
	return s
}

// strip drops what a judged item no longer needs, unless it is context or
// an endpoint's disk certificate.
func (k *keptItem) strip(wanted map[string]bool) {
	if k.context || wanted[k.path] || (k.resolved != "" && wanted[k.resolved]) {
		return
	}
	k.full = nil
}

// setFindings stores an item's findings with their label sets rendered.
func (k *keptItem) setFindings(fs []Finding) {
	o := Object{Findings: fs}
	o.prepare()
	k.findings = o.Findings
}

// caRef is one CA certificate of the node and a hash of its DER.
type caRef struct {
	cert *x509.Certificate
	sum  uint64
}

// caView is what a non-context item's findings depend on: the node's CA
// certificates by path and by subject (as evaluation's CA index sees them),
// and what resolveCA needs to point an item at its CA.
type caView struct {
	byPath    map[string]caRef
	bySubject map[string][]caRef
	present   map[string]bool   // paths holding a certificate
	byRole    map[string]string // path of the first CA of each role
}

// newCAView indexes the kept items in node order (keys in order, items in
// read order), as evaluation and resolveCAs would over one scan.
func newCAView(order []string, cache map[string]*cachedKey) *caView {
	v := &caView{byPath: map[string]caRef{}, bySubject: map[string][]caRef{}, present: map[string]bool{}, byRole: map[string]string{}}
	for _, key := range order {
		c := cache[key]
		if c == nil {
			continue
		}
		for _, k := range c.items {
			if k.kind != inventory.KindCertificate || !k.hasCerts {
				continue
			}
			v.present[k.path] = true
			if k.isCA && k.role != "" {
				if _, ok := v.byRole[k.role]; !ok {
					v.byRole[k.role] = k.path
				}
			}
			if !k.context || k.full == nil {
				continue
			}
			if !k.isCAItem() {
				continue
			}
			leaf := k.full.Leaf()
			h := fnv.New64a()
			_, _ = h.Write(leaf.Raw)
			ref := caRef{cert: leaf, sum: h.Sum64()}
			v.byPath[k.path] = ref // the last of a path wins, as in evaluation
			if k.resolved != "" {
				v.byPath[k.resolved] = ref
			}
			v.bySubject[string(leaf.RawSubject)] = append(v.bySubject[string(leaf.RawSubject)], ref)
		}
	}
	return v
}

// resolveCA is the CA path an item is judged against: the one it names
// when a certificate is there, else that of the CA of the role it names
// (inventory.Scan's resolveCAs, over the whole node).
func (v *caView) resolveCA(name, p string) string {
	if name == "" || v.present[p] {
		return p
	}
	if rp, ok := v.byRole[name]; ok {
		return rp
	}
	return p
}

// dep summarises the CAs a non-context item's findings depend on: the one at
// its resolved CA path and every one named like its issuer (evaluation looks
// no further for a certificate that is not itself a CA).
func (v *caView) dep(k *keptItem) uint64 {
	if k.context || k.kind != inventory.KindCertificate || !k.hasCerts {
		return 0
	}
	h := hasher(fnvOffset)
	p := v.resolveCA(k.caName, k.caPath)
	h.str(p)
	h.u64(v.byPath[p].sum)
	for _, c := range v.bySubject[k.issuer] {
		h.u64(c.sum)
	}
	return uint64(h) | 1 // never 0, which means "depends on nothing"
}

// contextItems is every context item in node order, its CA path resolved,
// ready to be evaluated beside other items; with onlyCAs, only the CAs, all
// that the findings of an item that is not context depend on.
func contextItems(order []string, cache map[string]*cachedKey, v *caView, onlyCAs bool) (items []inventory.Item, kept []*keptItem) {
	for _, key := range order {
		c := cache[key]
		if c == nil {
			continue
		}
		for _, k := range c.items {
			if !k.context || k.full == nil || (onlyCAs && !k.isCAItem()) {
				continue
			}
			it := *k.full
			it.CA.Path = v.resolveCA(k.caName, k.caPath)
			items = append(items, it)
			kept = append(kept, k)
		}
	}
	return items, kept
}
