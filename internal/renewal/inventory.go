package renewal

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// RolesFromInventory turns what check's inventory found on a node (the kubeadm
// layout, static pod manifests, systemd units, inventory files) into renewal
// roles, so layouts other than kubeadm's renew the same way: from the
// certificate itself as template, signed by the CA the inventory says signs it.
//
// On a kubeadm node (any kubeadm certificate present) the kubeadm roles keep
// their kubeadm names. Every other
// CA certificate becomes a CA role (its key is the inventory's, else the
// cfssl or kubeadm sibling: ca-key.pem, ca.key); every other certificate or
// kubeconfig signed by a known CA becomes a leaf, bundle or kubeconfig role
// named as the inventory names it (its path when that name is taken). What
// cannot be renewed (no known CA, self-signed, unreadable) is returned in
// skipped with the reason.
func RolesFromInventory(root string, items []inventory.Item) (roles []layout.Role, skipped []Skip) {
	n := NewNode(root)
	taken := map[string]bool{}
	used := map[string]bool{} // node paths already covered
	caByPath := map[string]string{}
	kubeadm := slices.ContainsFunc(layout.Kubeadm, func(r layout.Role) bool { return r.Kind != layout.KindKeyPair && n.Exists(r.CertPath) })
	for _, r := range layout.Kubeadm {
		if !kubeadm {
			break
		}
		// Every kubeadm role, present or not, so `renew super-admin.conf`
		// on a node without it says so rather than "unknown".
		roles = append(roles, r)
		taken[r.Name] = true
		if n.Exists(r.CertPath) {
			used[r.CertPath] = true
		}
		if r.Kind == layout.KindCA {
			caByPath[r.CertPath] = r.Name
		}
	}
	name := func(it inventory.Item) string {
		nm := it.Name
		if nm == "" || taken[nm] {
			nm = it.Path
		}
		taken[nm] = true
		return nm
	}
	isCA := func(it inventory.Item) bool {
		return it.Kind == inventory.KindCertificate && (it.IsCA || (it.Leaf() != nil && it.Leaf().IsCA))
	}
	for _, it := range items {
		if !isCA(it) || used[it.Path] || it.Leaf() == nil {
			continue
		}
		used[it.Path] = true
		r := layout.Role{Name: name(it), Kind: layout.KindCA, CertPath: it.Path, KeyPath: it.KeyPath, Components: it.Components}
		if r.KeyPath == "" {
			r.KeyPath = siblingKey(n, it.Path)
		}
		roles = append(roles, r)
		caByPath[it.Path] = r.Name
	}
	// CAs named only as the signer of something (an inventory file's ca:).
	for _, it := range items {
		p := it.CA.Path
		if p == "" || caByPath[p] != "" || used[p] || !n.Exists(p) {
			continue
		}
		used[p] = true
		stem := strings.TrimSuffix(path.Base(p), path.Ext(p))
		r := layout.Role{Name: name(inventory.Item{Name: stem, Path: p}), Kind: layout.KindCA, CertPath: p, KeyPath: siblingKey(n, p)}
		roles = append(roles, r)
		caByPath[p] = r.Name
	}
	for _, it := range items {
		if used[it.Path] || isCA(it) || (it.Kind != inventory.KindCertificate && it.Kind != inventory.KindKubeconfig) {
			continue
		}
		used[it.Path] = true
		skip := func(why string) { skipped = append(skipped, Skip{Name: it.Path, Reason: why}) }
		if len(it.Problems) > 0 || it.Leaf() == nil {
			skip("unreadable or malformed: " + problemText(it))
			continue
		}
		ca, ok := caByPath[it.CA.Path]
		if !ok {
			ca, ok = issuerCA(it, items, caByPath)
		}
		switch {
		case !ok && path.Dir(it.Path) == layout.KubeletPKIDir && path.Base(it.Path) == "kubelet.crt":
			skip("the kubelet's self-signed serving certificate: the kubelet makes a new one when it is removed and the kubelet restarts")
			continue
		case !ok:
			skip(fmt.Sprintf("its CA is not known (issuer %q); name it with ca: in an inventory file", it.Leaf().Issuer.CommonName))
			continue
		}
		r := layout.Role{Name: name(it), CertPath: it.Path, CA: ca, ExtKeyUsage: it.ExtKeyUsage,
			Organization: it.Organization, Components: it.Components}
		switch {
		case it.Kind == inventory.KindKubeconfig:
			r.Kind = layout.KindKubeconfig
		case it.KeyPath == "" || it.KeyPath == it.Path || it.KeyFile == it.Path:
			r.Kind = layout.KindBundle
		default:
			r.Kind, r.KeyPath = layout.KindLeaf, it.KeyPath
		}
		roles = append(roles, r)
	}
	return roles, skipped
}

// issuerCA finds the known CA whose certificate signed the item's.
func issuerCA(it inventory.Item, items []inventory.Item, caByPath map[string]string) (string, bool) {
	leaf := it.Leaf()
	for _, c := range items {
		name, ok := caByPath[c.Path]
		if !ok || c.Leaf() == nil {
			continue
		}
		if leaf.CheckSignatureFrom(c.Leaf()) == nil {
			return name, true
		}
	}
	return "", false
}

// siblingKey guesses a CA key file next to its certificate, as kubeadm
// (ca.crt, ca.key) and cfssl (ca.pem, ca-key.pem) name them.
func siblingKey(n Node, certPath string) string {
	dir, base := path.Split(certPath)
	stem := strings.TrimSuffix(base, path.Ext(base))
	for _, c := range []string{stem + ".key", stem + "-key.pem", stem + ".key.pem"} {
		if p := path.Join(dir, c); n.Exists(p) {
			return p
		}
	}
	return ""
}

func problemText(it inventory.Item) string {
	var s []string
	for _, p := range it.Problems {
		s = append(s, p.Error())
	}
	if len(s) == 0 {
		return "no certificate"
	}
	return strings.Join(slices.Compact(s), "; ")
}
