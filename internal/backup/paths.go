package backup

import (
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Set is what a backup before a change must hold, as node paths with the
// symlinks of their directories resolved inside the node (a link itself is
// kept as a link, and the file it leads to is in the set too).
type Set struct {
	// Change are the files the change replaces: a restore must bring each
	// back, so the backup must hold every one that exists.
	Change []string
	// Trust are the files the change relies on and leaves alone: the CA
	// certificates and keys that sign and verify the renewed credentials,
	// the key files they keep, the files kubeconfigs reference, symlinks
	// leading to changed files.
	Trust []string
}

// Files is every path of the set: Change, then Trust.
func (s Set) Files() []string { return append(append([]string(nil), s.Change...), s.Trust...) }

// PathsFor is the backup set of a renewal plan on the node at root, whatever
// its layout: every file the plan writes, and every trust file of each
// renewed credential, from its role (certificate, key, the CA role's
// certificate and key) and from what the inventory found for it (key file,
// expected CA, a kubeconfig's certificate-authority and referenced client
// certificate and key). Trust files absent from the node are left out; a
// change file absent from the node is a new file (a rotated key written
// where there was none) that a backup cannot hold.
func PathsFor(root string, plan *renewal.Plan, roles []layout.Role, items []inventory.Item) Set {
	n := nodefs.New(root)
	var s Set
	seen := map[string]bool{}
	for _, f := range plan.Files() {
		addPath(n, &s.Change, seen, f.Path, false)
	}
	var trust []string
	for _, it := range plan.Items {
		trust = append(trust, it.Path, it.Role.CertPath, it.Role.KeyPath, it.Role.PubPath)
		if i := slices.IndexFunc(roles, func(r layout.Role) bool { return r.Name == it.Role.CA }); i >= 0 {
			trust = append(trust, roles[i].CertPath, roles[i].KeyPath)
		}
		for i := range items {
			if inv := &items[i]; matches(n, inv, it) {
				trust = append(trust, itemPaths(inv)...)
			}
		}
	}
	for _, p := range trust {
		addPath(n, &s.Trust, seen, p, true)
	}
	return s
}

// PathsOf is every file the inventory items name (certificates, keys,
// kubeconfigs and what they reference, CA certificates) that exists on the
// node: what `certrescue backup` holds beside DefaultPaths on any layout.
func PathsOf(root string, items []inventory.Item) []string {
	n := nodefs.New(root)
	var out []string
	seen := map[string]bool{}
	for i := range items {
		if items[i].Kind == inventory.KindServed {
			continue
		}
		for _, p := range itemPaths(&items[i]) {
			addPath(n, &out, seen, p, true)
		}
	}
	return out
}

// matches reports whether an inventory item is the credential a plan item
// renews (or the kubeconfig whose referenced certificate it renews).
func matches(n *nodefs.FS, inv *inventory.Item, it renewal.Item) bool {
	if inv.Kind != inventory.KindCertificate && inv.Kind != inventory.KindKubeconfig {
		return false
	}
	for _, p := range []string{inv.Path, inv.Resolved} {
		if p != "" && (p == it.Path || p == it.Role.CertPath) {
			return true
		}
	}
	if kc := inv.Kubeconfig; kc != nil && kc.CertPath != "" {
		if rp, err := n.Resolve(kc.CertPath); err == nil && rp == it.Path {
			return true
		}
	}
	return false
}

func itemPaths(inv *inventory.Item) []string {
	out := []string{inv.Path, inv.Resolved, inv.KeyPath, inv.KeyFile, inv.PubPath, inv.CA.Path}
	if kc := inv.Kubeconfig; kc != nil {
		out = append(out, kc.CAPath, kc.CertPath)
	}
	return out
}

// addPath adds a node path in its backup form: the directories' symlinks
// resolved, the last element kept; for a symlink, the file it leads to as
// well. With existing, a path absent from the node is left out.
func addPath(n *nodefs.FS, out *[]string, seen map[string]bool, p string, existing bool) {
	if p == "" || !path.IsAbs(p) || strings.ContainsRune(p, 0) {
		return
	}
	p = path.Clean(p)
	dir, err := n.Resolve(path.Dir(p))
	if err != nil {
		return // a loop: nothing a backup can hold
	}
	forms := []string{path.Join(dir, path.Base(p))}
	if full, err := n.Resolve(p); err == nil && full != forms[0] {
		forms = append(forms, full)
	}
	for _, f := range forms {
		if seen[f] || f == "/" || (existing && !n.Exists(f)) {
			continue
		}
		seen[f] = true
		*out = append(*out, f)
	}
}
