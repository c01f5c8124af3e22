package inventory

import (
	"context"
	"io/fs"
	"path"
	"strings"
)

// Rancher names the server certificates of k3s and RKE2 under
// /var/lib/rancher/{k3s,rke2}/server/tls (the dynamic listener's
// temporary-certs excepted) and the kubeconfigs in server/cred. CAs are the
// *-ca.crt files; each client-*, serving-* and etcd certificate is expected to
// be signed by the CA k3s signs it with.
type Rancher struct{}

// Name is "rancher".
func (Rancher) Name() string { return "rancher" }

// Items lists the k3s and RKE2 files.
func (Rancher) Items(ctx context.Context, r *Reader) ([]Item, error) {
	var items []Item
	for _, dist := range []string{"k3s", "rke2"} {
		base := "/var/lib/rancher/" + dist + "/server"
		tls := base + "/tls"
		entries, err := r.Node.Walk(tls, func(p string) bool { return path.Base(p) == "temporary-certs" })
		if err != nil {
			continue // no such distribution on this node
		}
		items = append(items, rancherTLS(dist, tls, entries)...)
		for _, p := range r.Node.Glob(base + "/cred/*.kubeconfig") {
			it := Item{Name: dist + "/" + strings.TrimSuffix(path.Base(p), ".kubeconfig"), Kind: KindKubeconfig, Path: p,
				Sources: []string{dist}, ExtKeyUsage: clientUsage, CA: CARef{Path: tls + "/client-ca.crt"}}
			items = append(items, it)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func rancherTLS(dist, tls string, entries []Entry) []Item {
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Path] = true
	}
	var items []Item
	for _, e := range entries {
		if e.Type.IsDir() {
			it := Item{Name: dist + "/" + strings.TrimPrefix(e.Path, tls+"/"), Kind: KindFile, Path: e.Path, Sources: []string{dist}}
			it.problem("unreadable", e.Path, "directory", fs.ErrPermission)
			items = append(items, it)
			continue
		}
		rel := strings.TrimPrefix(e.Path, tls+"/")
		switch {
		case strings.HasSuffix(rel, ".crt"):
			stem := strings.TrimSuffix(rel, ".crt")
			it := Item{Name: dist + "/" + stem, Kind: KindCertificate, Path: e.Path, Sources: []string{dist}}
			if names[tls+"/"+stem+".key"] {
				it.KeyPath = tls + "/" + stem + ".key"
			}
			rancherRole(&it, tls, stem)
			items = append(items, it)
		case strings.HasSuffix(rel, ".key"):
			stem := strings.TrimSuffix(rel, ".key")
			if !names[tls+"/"+stem+".crt"] {
				items = append(items, Item{Name: dist + "/" + stem + ".key", Kind: KindKey, Path: e.Path, Sources: []string{dist}})
			}
		}
	}
	return items
}

func rancherRole(it *Item, tls, stem string) {
	base := path.Base(stem)
	switch {
	case strings.HasSuffix(base, "-ca"):
		it.IsCA = true
	case stem == "client-auth-proxy":
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/request-header-ca.crt"
	case strings.HasPrefix(stem, "client-"):
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/client-ca.crt"
	case stem == "serving-kube-apiserver":
		it.Role, it.ExtKeyUsage, it.CA.Path = "apiserver", serverUsage, tls+"/server-ca.crt"
	case strings.HasPrefix(stem, "serving-"):
		it.ExtKeyUsage, it.CA.Path = serverUsage, tls+"/server-ca.crt"
	case strings.HasPrefix(stem, "etcd/peer-"):
		it.ExtKeyUsage, it.CA.Path = both, tls+"/etcd/peer-ca.crt"
	case stem == "etcd/client":
		it.ExtKeyUsage, it.CA.Path = clientUsage, tls+"/etcd/server-ca.crt"
	case strings.HasPrefix(stem, "etcd/"):
		it.ExtKeyUsage, it.CA.Path = both, tls+"/etcd/server-ca.crt"
	}
}
