package exporter

import (
	"context"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
)

// Paths names certificate files by glob patterns (filepath.Match syntax in
// the last element, as x509-certificate-exporter's --watch-file and
// --watch-dir): a match that is a directory is read as inventory.Dir reads
// one (every *.crt, *.pem, ... under it), a file as an inventory file entry
// (certificate, or kubeconfig for .conf/.kubeconfig/.yaml, or key for .key).
type Paths struct {
	Patterns []string
}

// Name is "paths".
func (Paths) Name() string { return "paths" }

// Items lists the matches of every pattern.
func (p Paths) Items(ctx context.Context, r *inventory.Reader) ([]inventory.Item, error) {
	var items []inventory.Item
	for _, pat := range p.Patterns {
		pat = path.Clean("/" + pat)
		matches := []string{pat}
		if strings.ContainsAny(path.Base(pat), "*?[") {
			matches = r.Node.Glob(pat)
		}
		inv := &inventory.InventoryFile{Path: "--path " + pat}
		for _, m := range matches {
			inv.Entries = append(inv.Entries, inventory.FileEntry{Path: m})
		}
		got, err := inv.Items(ctx, r)
		if err != nil {
			return nil, err
		}
		if items == nil {
			items = got // one pattern: no copy
		} else {
			items = append(items, got...)
		}
	}
	return items, ctx.Err()
}
