package exporter

import (
	"context"
	"crypto/x509"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
)

// Node exposes every certificate check's inventory sources find on a node.
//
// Refresh lists the sources (cheap: fixed paths, manifests, directory
// listings) and stats every file an item read last time; when nothing
// changed, that is all it does. It reads, parses and judges again only the
// items whose listing or file identities changed (in batches, so that a first
// refresh of thousands of files never holds them all parsed), plus the items
// judged against a CA that changed. It keeps each item's series and
// findings, and the parsed certificates of the few items others are judged
// against (see keptItem). The Collector never triggers a read: scrapes only
// format what Refresh stored, with the time-dependent values and findings
// computed at scrape time.
type Node struct {
	Root    string // where the node's filesystem is mounted ("/" on the node)
	Sources []inventory.Source
	ID      SourceID
	Store   *Store
	Clock   clock.Clock
	// Policy is check's policy; its time-dependent reasons (expired,
	// expiring, not_yet_valid) are left to the Collector, which computes
	// them at scrape time with the same thresholds.
	Policy evaluation.Policy
	// Endpoints are live TLS endpoints read at every Refresh (check's
	// --endpoint); when empty and ManifestEndpoints is set, the endpoints the
	// static pod manifests and units name (the API server, etcd, the
	// controller-manager, the scheduler, the kubelet) are read instead.
	Endpoints         []endpoint.Target
	ManifestEndpoints bool
	Timeout           time.Duration // per endpoint; 0 means endpoint.DefaultTimeout

	expected []*x509.Certificate // a CA rotation's CAs (carotation.Anchors), read at each Refresh

	batch int // paths read per batch; 0 means defaultBatch (tests set 1)

	mu       sync.Mutex
	cache    map[string]*cachedKey
	files    map[string]Object // objects of the files, kept between refreshes
	pending  bool              // the cache changed since files was made
	interned map[string]string // issuer names, shared by the items
	parsed   atomic.Int64
}

// defaultBatch bounds how many paths are parsed at once: a few megabytes of
// parsed certificates, while a batch still amortises the evaluation of the
// context items beside it.
const defaultBatch = 500

// maxPasses bounds the re-reads of items whose CA turned out to be read
// after them; a third pass only happens when files change during a refresh.
const maxPasses = 3

// Parsed is how many items Refresh has read and parsed since the start (a
// test's way to see the cache work).
func (n *Node) Parsed() int64 { return n.parsed.Load() }

type staticSource []inventory.Item

func (staticSource) Name() string { return "changed" }
func (s staticSource) Items(ctx context.Context, _ *inventory.Reader) ([]inventory.Item, error) {
	return append([]inventory.Item(nil), s...), ctx.Err()
}

// Refresh rescans what changed and replaces the node's objects in the Store.
func (n *Node) Refresh(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cache == nil {
		n.cache, n.interned = map[string]*cachedKey{}, map[string]string{}
		n.Store.Register(n.ID)
	}
	r := inventory.NewReader(n.Root)
	defer r.Node.Close()
	n.expected = carotation.Anchors(r.Node) // a CA rotation in progress: both CAs are expected in bundles
	st := newStatter(r.Node)
	order, groups, err := list(ctx, r, n.Sources)
	if err != nil {
		n.Store.SetUp(n.ID, false)
		n.Store.AddError(n.ID, "list")
		return err
	}
	targets := n.targets(r)
	wanted := map[string]bool{}
	for _, t := range targets {
		for _, p := range t.DiskPaths {
			wanted[p] = true
		}
	}
	listings := make(map[string]uint64, len(order))
	var dirty []string
	for _, key := range order {
		sig := listingHash(groups[key])
		listings[key] = sig
		prev := n.cache[key]
		if prev != nil && prev.listing == sig && prev.ids != nil && !prev.stripped(wanted) && st.unchanged(prev.paths, prev.ids) {
			continue
		}
		dirty = append(dirty, key)
	}
	changed := len(dirty) > 0
	for key := range n.cache {
		if _, ok := groups[key]; !ok {
			delete(n.cache, key)
			changed = true
		}
	}
	n.pending = n.pending || changed || n.files == nil
	now := n.Clock.Now()
	for pass := 0; n.pending; pass++ {
		if pass == maxPasses {
			for _, key := range dirty {
				n.cache[key].ids = nil // judged against a CA that kept changing: read again next time
			}
			break
		}
		if len(dirty) > 0 {
			if err := n.read(ctx, r, st, dirty, order, groups, listings, wanted, now); err != nil {
				n.Store.SetUp(n.ID, false)
				n.Store.AddError(n.ID, "scan")
				return err // pending: what was read is judged and stored next time
			}
		}
		if dirty = n.stale(order); len(dirty) == 0 {
			break
		}
	}
	if n.pending {
		n.judgeContext(order, now)
		n.rebuild(order)
		n.pending = false
	}
	objects := n.files
	var epErr error
	if len(targets) > 0 {
		objects = make(map[string]Object, len(n.files)+len(targets))
		for k, o := range n.files {
			objects[k] = o
		}
		epErr = n.readEndpoints(ctx, targets, objects, now)
	}
	n.Store.Replace(n.ID, objects)
	n.Store.SetUp(n.ID, true)
	return epErr
}

// targets is the endpoints to read at this refresh.
func (n *Node) targets(r *inventory.Reader) []endpoint.Target {
	if len(n.Endpoints) > 0 {
		return n.Endpoints
	}
	if !n.ManifestEndpoints {
		return nil
	}
	comps, _ := r.Components()
	return endpoint.Defaults(comps)
}

// stripped reports whether an endpoint now wants a certificate of the path
// whose parsed form was dropped: it is read again.
func (c *cachedKey) stripped(wanted map[string]bool) bool {
	for _, k := range c.items {
		if k.full == nil && (wanted[k.path] || (k.resolved != "" && wanted[k.resolved])) {
			return true
		}
	}
	return false
}

// read reads and judges the given paths, a batch at a time: each batch is
// parsed, judged beside every context item known so far, and its parsed
// certificates dropped (but the context's) before the next is read.
func (n *Node) read(ctx context.Context, r *inventory.Reader, st *statter, keys, order []string,
	groups map[string][]inventory.Item, listings map[string]uint64, wanted map[string]bool, now time.Time) error {
	size := n.batch
	if size <= 0 {
		size = defaultBatch
	}
	for len(keys) > 0 {
		batch := keys[:min(size, len(keys))]
		keys = keys[len(batch):]
		pre := map[string][]fileID{}
		var listed []inventory.Item
		for _, key := range batch {
			pre[key] = st.identities(listedPaths(groups[key]))
			listed = append(listed, groups[key]...)
		}
		scanned, err := inventory.Scan(ctx, r, staticSource(listed))
		if err != nil {
			return err
		}
		n.parsed.Add(int64(len(scanned)))
		byKey := map[string][]inventory.Item{}
		for _, it := range scanned {
			byKey[it.Path] = append(byKey[it.Path], it) // Scan keeps paths (it may change a kind)
		}
		var fresh []*keptItem
		for _, key := range batch {
			items := byKey[key]
			c := &cachedKey{listing: listings[key]}
			lp := listedPaths(groups[key])
			c.paths = append(lp, readPaths(items, lp)...)
			ids := st.identities(c.paths)
			if sameIDs(pre[key], ids[:len(lp)]) {
				c.ids = ids
			} // else a file changed while it was read: read it again next time
			extra := clusterNames(r, items)
			for i := range items {
				c.items = append(c.items, keep(&items[i], extra, n.interned))
			}
			fresh = append(fresh, c.items...)
			n.cache[key] = c
		}
		n.judge(order, fresh, now)
		for _, k := range fresh {
			k.strip(wanted)
		}
		if len(keys) > 0 {
			// A batch leaves megabytes of garbage (file contents, parsed
			// certificates, the evaluation's report): collected now, the heap
			// of a first read of thousands of files stays near what it keeps
			// instead of growing to twice that before the collector runs.
			runtime.GC()
		}
	}
	return nil
}

// rebuild makes the node's objects from the kept items: one per path, with
// the series and findings of every item read for it.
func (n *Node) rebuild(order []string) {
	objects := make(map[string]Object, len(order))
	for _, key := range order {
		c := n.cache[key]
		if c == nil || len(c.items) == 0 {
			continue
		}
		if len(c.items) == 1 {
			objects[key] = Object{Entries: c.items[0].entries, Findings: c.items[0].findings}
			continue
		}
		var o Object
		for _, k := range c.items {
			o.Entries = append(o.Entries, k.entries...)
			o.Findings = append(o.Findings, k.findings...)
		}
		objects[key] = o
	}
	n.files = objects
	n.interned = map[string]string{} // forget the issuers of files that are gone
	for _, c := range n.cache {
		for _, k := range c.items {
			if k.issuer != "" {
				n.interned[k.issuer] = k.issuer
			}
		}
	}
}
