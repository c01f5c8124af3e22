package renewal

import (
	"crypto/x509"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// RolesFromInventory turns what check's inventory found on a node (the
// kubeadm layout, static pod manifests, systemd units, binary-install
// directories, k3s/RKE2, inventory files, directories) into renewal roles, so
// every layout renews the way check sees it: each credential from its own
// certificate as template, signed by the CA check's chain analysis says
// verifies it (evaluation.Signers), never by a CA assumed from a layout.
//
// A kubeadm file at its kubeadm path keeps its kubeadm name and kind; its CA
// is still the one that verifies it (admin.conf on a binary install is signed
// by /etc/kubernetes/ssl/ca.pem, not pki/ca.crt). Kubeadm's other renewable
// roles are listed when the node has any kubeadm file, with no CA, so that
// `renew super-admin.conf` on a node without it says "not present". Every CA
// certificate becomes a CA role (its key is the inventory's, else the cfssl
// or kubeadm sibling: ca-key.pem, ca.key); every other certificate or
// kubeconfig a CA of the node verifies becomes a leaf, bundle or kubeconfig
// role named as the inventory names it (its path when that name is taken).
// What cannot be renewed (no CA of the node verifies it, unreadable) is
// returned in skipped with the reason.
func RolesFromInventory(root string, items []inventory.Item) (roles []layout.Role, skipped []Skip) {
	n := NewNode(root)
	node := n.FS
	// Roles name files by the node paths their symlinks lead to, resolved
	// inside the node (kubespray's /etc/kubernetes/pki -> /etc/kubernetes/ssl).
	real := func(p string) string {
		if p == "" {
			return p
		}
		if rp, err := node.Resolve(p); err == nil {
			return rp
		}
		return p
	}
	defer func() {
		for i := range roles {
			roles[i].CertPath, roles[i].KeyPath = real(roles[i].CertPath), real(roles[i].KeyPath)
		}
	}()
	signers := evaluation.Signers(items)
	taken := map[string]bool{}
	used := map[string]bool{} // node paths already covered
	caByPath := map[string]string{}
	caCert := map[string]*x509.Certificate{} // CA role name -> certificate
	kubeadmNode := false
	for i := range items {
		if _, ok := kubeadmFile(&items[i]); ok {
			taken[items[i].Role] = true
			kubeadmNode = true
		}
	}
	name := func(it *inventory.Item) string {
		if r, ok := kubeadmFile(it); ok {
			return r.Name
		}
		nm := it.Name
		if nm == "" || taken[nm] {
			nm = it.Path
		}
		taken[nm] = true
		return nm
	}
	caPaths := map[string]bool{}
	for i := range items {
		if isCA(&items[i]) {
			caPaths[real(items[i].Path)] = true
		}
	}
	for i := range items {
		it := &items[i]
		if !isCA(it) || used[it.Path] || it.Leaf() == nil {
			continue
		}
		if orig, ok := layout.SigningOriginal(it.Path); ok && caPaths[real(orig)] {
			// A CA rotation's signing copy (ca-signing.crt beside ca.crt,
			// package carotation): the CA file's certificate, not a CA of
			// its own to renew or rotate.
			used[it.Path] = true
			continue
		}
		used[it.Path] = true
		r := layout.Role{Name: name(it), Kind: layout.KindCA, CertPath: it.Path, Components: it.Components}
		if it.KeyPath != "" && n.Exists(real(it.KeyPath)) {
			r.KeyPath = it.KeyPath
		} else {
			r.KeyPath = siblingKey(n, real(it.Path))
		}
		roles = append(roles, r)
		caByPath[it.Path] = r.Name
		caCert[r.Name] = it.Leaf()
	}
	// A copy of a CA certificate without its key (the hard way's
	// /etc/etcd/ca.pem beside /var/lib/kubernetes/ca.pem and ca-key.pem) signs
	// with the key of the copy that has it: the same certificate, the same key.
	for i := range roles {
		if roles[i].Kind != layout.KindCA || roles[i].KeyPath != "" {
			continue
		}
		for _, o := range roles {
			if o.Kind == layout.KindCA && o.KeyPath != "" && caCert[o.Name].Equal(caCert[roles[i].Name]) {
				roles[i].KeyPath = o.KeyPath
				break
			}
		}
	}
	for i := range items {
		it := &items[i]
		if used[it.Path] || isCA(it) || (it.Kind != inventory.KindCertificate && it.Kind != inventory.KindKubeconfig) {
			continue
		}
		used[it.Path] = true
		skipName := it.Path
		if r, ok := kubeadmFile(it); ok {
			skipName = r.Name
		}
		skip := func(why string) { skipped = append(skipped, Skip{Name: skipName, Reason: why}) }
		if len(it.Problems) > 0 || it.Leaf() == nil {
			skip("unreadable or malformed: " + problemText(*it))
			continue
		}
		ca, ok := caByPath[signers[i]]
		switch {
		case !ok && path.Dir(it.Path) == layout.KubeletPKIDir && path.Base(it.Path) == "kubelet.crt":
			skip("the kubelet's self-signed serving certificate: the kubelet makes a new one when it is removed and the kubelet restarts")
			continue
		case !ok:
			skip(fmt.Sprintf("no CA certificate on this node verifies it (issuer %q); name the CA with ca: in an inventory file", it.Leaf().Issuer.CommonName))
			continue
		}
		roles = append(roles, leafRole(it, name(it), ca))
	}
	if kubeadmNode {
		for _, r := range layout.Kubeadm {
			if Renewable(r) && !taken[r.Name] && !used[r.CertPath] {
				r.CA = "" // absent: no CA verifies it
				roles = append(roles, r)
			}
		}
	}
	return roles, skipped
}

// leafRole is the renewal role of a leaf, bundle or kubeconfig item signed
// by the CA role ca.
func leafRole(it *inventory.Item, name, ca string) layout.Role {
	if k, ok := kubeadmFile(it); ok {
		k.CA = ca
		for _, c := range it.Components {
			if !slices.Contains(k.Components, c) {
				k.Components = append(slices.Clone(k.Components), c)
			}
		}
		return k
	}
	r := layout.Role{Name: name, CertPath: it.Path, CA: ca, ExtKeyUsage: it.ExtKeyUsage,
		Organization: it.Organization, Components: it.Components}
	switch {
	case it.Kind == inventory.KindKubeconfig:
		r.Kind = layout.KindKubeconfig
	case it.KeyPath == "" || it.KeyPath == it.Path || it.KeyFile == it.Path:
		r.Kind = layout.KindBundle
	default:
		r.Kind, r.KeyPath = layout.KindLeaf, it.KeyPath
	}
	return r
}

// kubeadmFile is the kubeadm role of an item at its kubeadm path.
func kubeadmFile(it *inventory.Item) (layout.Role, bool) {
	r, ok := layout.KubeadmRole(it.Role)
	if !ok || r.Kind == layout.KindKeyPair || r.CertPath != it.Path {
		return layout.Role{}, false
	}
	return r, true
}

func isCA(it *inventory.Item) bool {
	return it.Kind == inventory.KindCertificate && (it.IsCA || (it.Leaf() != nil && it.Leaf().IsCA))
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
