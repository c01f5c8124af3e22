package inventory

import (
	"context"
	"slices"
)

// Source says which files of a node to read. Items returns descriptions
// (kind, paths, role, expectations, where they were named); Scan reads them.
// A Source may read the node to list it (a directory, the manifests) but
// reports a bad file as an Item with Problems, never as an error: Items fails
// only when ctx is done.
type Source interface {
	Name() string
	Items(ctx context.Context, r *Reader) ([]Item, error)
}

// Scan runs the sources in order, merges the items that name the same file
// (List), reads and parses every file once in parallel, drops optional items
// whose file is absent, and points each item at the CA it should be signed by.
func Scan(ctx context.Context, r *Reader, sources ...Source) ([]Item, error) {
	all, err := List(ctx, r, sources...)
	if err != nil {
		return nil, err
	}
	r.Load(ctx, all)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, it := range all {
		if it.Missing && it.Optional && len(it.Problems) == 0 {
			continue
		}
		out = append(out, it)
	}
	resolveCAs(out)
	return out, nil
}

// List runs the sources in order and merges the items that name the same
// file: the same kind at the same node path once symlinks are followed
// inside the node (kubespray's /etc/kubernetes/pki is a link to
// /etc/kubernetes/ssl, so the kubeadm layout and the manifests name one file
// by two paths). The first naming keeps its path; the others add their
// sources and expectations. It reads nothing but directory entries and
// symlinks.
func List(ctx context.Context, r *Reader, sources ...Source) ([]Item, error) {
	var all []Item
	index := map[string]int{}
	for _, s := range sources {
		items, err := s.Items(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			k := r.mergeKey(&it)
			if i, ok := index[k]; ok {
				merge(&all[i], it)
				continue
			}
			index[k] = len(all)
			all = append(all, it)
		}
	}
	return all, nil
}

// mergeKey identifies an item's file for merging: its kind and the node path
// its path resolves to (the path itself when it cannot be resolved).
func (r *Reader) mergeKey(it *Item) string {
	if it.Kind == KindServed || it.Kind == KindFile || it.Path == "" {
		return it.key()
	}
	p, err := r.Node.Resolve(it.Path)
	if err != nil {
		p = it.Path
	}
	return string(it.Kind) + "\x00" + p
}

// merge folds b, another naming of the same file, into a.
func merge(a *Item, b Item) {
	a.Sources = appendUnique(a.Sources, b.Sources...)
	a.Components = appendUnique(a.Components, b.Components...)
	if a.Role == "" && b.Role != "" {
		a.Name, a.Role, a.IsCA, a.Organization = b.Name, b.Role, b.IsCA, b.Organization
		a.ExtKeyUsage = b.ExtKeyUsage
		if b.CA.Name != "" {
			a.CA.Name = b.CA.Name
		}
	}
	if a.ExtKeyUsage == nil {
		a.ExtKeyUsage = b.ExtKeyUsage
	}
	a.IsCA = a.IsCA || b.IsCA
	if b.CA.Path != "" && (a.CA.Path == "" || (b.caExplicit && !a.caExplicit)) {
		a.CA.Path, a.caExplicit = b.CA.Path, b.caExplicit
	}
	if a.CA.Name == "" {
		a.CA.Name = b.CA.Name
	}
	if a.KeyPath == "" {
		a.KeyPath = b.KeyPath
	}
	if a.PubPath == "" {
		a.PubPath = b.PubPath
	}
	a.Optional = a.Optional && b.Optional
	a.sniff = a.sniff && b.sniff
	for _, s := range b.ExpectSANs {
		if !slices.Contains(a.ExpectSANs, s) {
			a.ExpectSANs = append(a.ExpectSANs, s)
		}
	}
	a.Problems = append(a.Problems, b.Problems...)
}

func appendUnique(a []string, b ...string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// resolveCAs points items whose CA is known by role only, or whose CA file
// is not on the node, at the CA of that role that is.
func resolveCAs(items []Item) {
	present := map[string]bool{}
	byRole := map[string]string{}
	for _, it := range items {
		if it.Kind != KindCertificate || len(it.Certs) == 0 {
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

// Sources is every source a node scan uses by default, in the order their
// names win when several name the same file. Commands build their sources
// with NodeSources, which starts with these.
func Sources() []Source {
	return []Source{Kubeadm{}, Kubelet{}, Manifests{}, Systemd{}, Rancher{}, BinaryInstall{}}
}
