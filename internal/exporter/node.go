package exporter

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
)

// Node exposes every certificate check's inventory sources find on a node.
//
// Refresh lists the sources (cheap: fixed paths, manifests, directory
// listings), stats every file an item read last time, and re-reads and
// re-parses only the items whose listing or file identities changed. The
// Collector never triggers a read: scrapes only format what Refresh stored.
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

	mu      sync.Mutex
	cache   map[string]*cachedItems
	files   map[string]Object // objects of the files, kept between refreshes
	parsed  atomic.Int64
	endErrs int
}

// cachedItems is what one node path yielded at the last read.
type cachedItems struct {
	listing uint64              // hash of what the sources said about the path
	paths   []string            // every file read for it
	ids     []fileID            // their identities when read; nil forces a re-read
	items   []inventory.Item    // nil when the path is optional and absent
	objects map[string]Object   // derived from items and the evaluation
	extra   map[string][]string // cluster names of kubeconfigs, by path
}

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
		n.cache = map[string]*cachedItems{}
		n.Store.Register(n.ID)
	}
	r := inventory.NewReader(n.Root)
	order, groups, err := list(ctx, r, n.Sources)
	if err != nil {
		n.Store.SetUp(n.ID, false)
		n.Store.AddError(n.ID, "list")
		return err
	}
	var dirty []inventory.Item
	pre := map[string][]fileID{}
	changed := false
	for _, key := range order {
		sig := listingHash(groups[key])
		prev := n.cache[key]
		if prev != nil && prev.listing == sig && prev.ids != nil && sameIDs(prev.ids, identities(r.Node, prev.paths)) {
			continue
		}
		changed = true
		dirty = append(dirty, groups[key]...)
		pre[key] = identities(r.Node, listedPaths(groups[key]))
	}
	for key := range n.cache {
		if _, ok := groups[key]; !ok {
			delete(n.cache, key)
			changed = true
		}
	}
	if len(dirty) > 0 {
		scanned, err := inventory.Scan(ctx, r, staticSource(dirty))
		if err != nil {
			n.Store.SetUp(n.ID, false)
			n.Store.AddError(n.ID, "scan")
			return err
		}
		n.parsed.Add(int64(len(scanned)))
		fresh := map[string]*cachedItems{}
		for key := range pre {
			fresh[key] = &cachedItems{listing: listingHash(groups[key])}
		}
		for _, it := range scanned {
			c := fresh[it.Path] // Scan keeps paths (it may change a kind)
			if c == nil {
				c = &cachedItems{}
				fresh[it.Path] = c
			}
			c.items = append(c.items, it)
		}
		for key, c := range fresh {
			listed := listedPaths(groups[key])
			c.paths = append(listed, readPaths(c.items, listed)...)
			ids := identities(r.Node, c.paths)
			if sameIDs(pre[key], ids[:len(listed)]) {
				c.ids = ids
			} // else a file changed while it was read: read it again next time
			c.extra = clusterNames(r, c.items)
			n.cache[key] = c
		}
	}
	if changed || n.files == nil {
		n.rebuild(order)
	}
	objects := n.files
	var epErr error
	if len(n.Endpoints) > 0 || n.ManifestEndpoints {
		objects = make(map[string]Object, len(n.files)+len(n.Endpoints))
		for k, o := range n.files {
			objects[k] = o
		}
		epErr = n.readEndpoints(ctx, r, objects)
	}
	n.Store.Replace(n.ID, objects)
	n.Store.SetUp(n.ID, true)
	return epErr
}

// rebuild evaluates every item and replaces the node's objects.
func (n *Node) rebuild(order []string) {
	var all []inventory.Item
	var owner []string
	for _, key := range order {
		if c := n.cache[key]; c != nil {
			for _, it := range c.items {
				all = append(all, it)
				owner = append(owner, key)
			}
		}
	}
	resolveCAs(all)
	findings := n.evaluate(all)
	objects := make(map[string]Object, len(all))
	for i := range all {
		o := objects[owner[i]]
		o.Entries = append(o.Entries, entriesOf(&all[i], n.cache[owner[i]].extra)...)
		o.Findings = append(o.Findings, findings[i]...)
		objects[owner[i]] = o
	}
	n.files = objects
}

// evaluate runs check's evaluation and returns each item's findings, less
// the time-dependent ones.
func (n *Node) evaluate(items []inventory.Item) [][]Finding {
	rep := evaluation.Evaluate(items, n.Clock.Now(), n.policy())
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
			out[i] = append(out[i], Finding{Loc: loc, Reason: f.Reason, Severity: f.Severity, SubjectCN: cn})
		}
	}
	return out
}

func (n *Node) policy() evaluation.Policy {
	if n.Policy.Warn == 0 && n.Policy.Critical == 0 && n.Policy.MinRSABits == 0 {
		return evaluation.DefaultPolicy()
	}
	return n.Policy
}

// list runs the sources and groups what they name by node path, in the
// order the sources first name each path.
func list(ctx context.Context, r *inventory.Reader, sources []inventory.Source) ([]string, map[string][]inventory.Item, error) {
	var order []string
	groups := map[string][]inventory.Item{}
	for _, s := range sources {
		items, err := s.Items(ctx, r)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", s.Name(), err)
		}
		for _, it := range items {
			if _, ok := groups[it.Path]; !ok {
				order = append(order, it.Path)
			}
			groups[it.Path] = append(groups[it.Path], it)
		}
	}
	return order, groups, nil
}

// listingHash summarises what the sources said about a path (kinds, roles,
// expectations, companion files): a change makes the path read again.
func listingHash(items []inventory.Item) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%v", items)
	return h.Sum64()
}

func listedPaths(items []inventory.Item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		for _, p := range []string{it.Path, it.KeyPath, it.PubPath} {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// readPaths is the files a read item depends on beyond those listed: the
// files a kubeconfig references.
func readPaths(items []inventory.Item, listed []string) []string {
	seen := map[string]bool{}
	for _, p := range listed {
		seen[p] = true
	}
	var out []string
	for _, it := range items {
		ps := []string{it.KeyFile}
		if k := it.Kubeconfig; k != nil {
			ps = append(ps, k.CertPath, k.CAPath)
		}
		for _, p := range ps {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// clusterNames reads the cluster name of each kubeconfig (the embedded_key
// of its CA's series), which the inventory does not keep.
func clusterNames(r *inventory.Reader, items []inventory.Item) map[string][]string {
	var out map[string][]string
	for _, it := range items {
		if it.Kind != inventory.KindKubeconfig || it.Kubeconfig == nil || !it.Kubeconfig.CAEmbedded {
			continue
		}
		f, err := r.Node.ReadFile(it.Path, kubeconfig.MaxSize)
		if err != nil {
			continue
		}
		kc, err := kubeconfig.Parse(f.Data, path.Dir(it.Path), func(string) ([]byte, error) { return nil, errNotRead })
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[it.Path] = []string{kc.Cluster}
	}
	return out
}

type notRead struct{}

func (notRead) Error() string { return "not read" }

var errNotRead error = notRead{}

// resolveCAs points an item whose CA is known by role only at the item of
// that role, as inventory.Scan does within one scan; Refresh scans changed
// items alone, so it is done again over all of them.
func resolveCAs(items []inventory.Item) {
	present := map[string]bool{}
	byRole := map[string]string{}
	for _, it := range items {
		if it.Kind != inventory.KindCertificate || len(it.Certs) == 0 {
			continue
		}
		present[it.Path] = true
		if it.IsCA && it.Role != "" {
			if _, ok := byRole[it.Role]; !ok {
				byRole[it.Role] = it.Path
			}
		}
	}
	for i := range items {
		it := &items[i]
		if it.CA.Name == "" || present[it.CA.Path] {
			continue
		}
		if p, ok := byRole[it.CA.Name]; ok {
			it.CA.Path = p
		}
	}
}
