package inventory

import (
	"context"
	"path"
	"strings"
)

// binaryDirs are the directories binary installs keep their certificates in,
// read whole (recursively, *.pem, *.crt, ... as Dir reads them) when they
// exist: the field guide and kubeasz (/etc/kubernetes/ssl, cfssl's ca.pem,
// admin.pem, kube-proxy.pem, ... beside what the units name), kubespray's
// etcd (/etc/ssl/etcd/ssl/{ca,admin-NODE,member-NODE,node-NODE}.pem, named
// by an environment file rather than flags), etcd's own directories, and
// kubernetes-the-hard-way's /var/lib/kubernetes.
var binaryDirs = []string{
	"/etc/kubernetes/ssl",
	"/etc/ssl/etcd/ssl",
	"/etc/etcd/ssl",
	"/etc/etcd/pki",
	"/var/lib/kubernetes",
}

// binaryTopDirs are read at their top level only: they also hold what is
// not the node's own (a kubelet's pod volumes, etcd's data directory).
var binaryTopDirs = []string{
	"/etc/etcd",
	"/var/lib/kubelet",
	"/var/lib/rancher/k3s/agent",
	"/var/lib/rancher/rke2/agent",
}

// binaryKubeconfigs are kubeconfig files and patterns of binary installs,
// k3s/RKE2 and operators' copies, read when they exist.
var binaryKubeconfigs = []string{
	"/etc/kubernetes/*.kubeconfig",
	"/var/lib/kubernetes/*.kubeconfig",
	"/var/lib/kubelet/kubeconfig",
	"/var/lib/kubelet/*.kubeconfig",
	"/var/lib/kube-proxy/kubeconfig",
	"/var/lib/rancher/k3s/agent/*.kubeconfig",
	"/var/lib/rancher/rke2/agent/*.kubeconfig",
	"/etc/rancher/k3s/k3s.yaml",
	"/etc/rancher/rke2/rke2.yaml",
	"/root/.kube/config",
}

// BinaryInstall names the certificates, keys and kubeconfigs that binary
// installs (the field guide, kubeasz, kubespray's etcd, the hard way) and the
// k3s/RKE2 agent keep in their usual places, whether or not a unit flag names
// them: a client certificate such as admin.pem is used by no component, and
// kubespray's etcd reads its files from an environment file. Directories and
// files that do not exist are not problems.
type BinaryInstall struct{}

// Name is "binary-install".
func (BinaryInstall) Name() string { return "binary-install" }

// Items lists what exists of those places.
func (BinaryInstall) Items(ctx context.Context, r *Reader) ([]Item, error) {
	var items []Item
	for _, d := range binaryDirs {
		if !r.isDir(d) {
			continue
		}
		sub, err := Dir{Path: d, Source: "binary-install " + d}.Items(ctx, r)
		if err != nil {
			return nil, err
		}
		items = append(items, sub...)
	}
	for _, d := range binaryTopDirs {
		if !r.isDir(d) {
			continue
		}
		items = append(items, r.topLevel(d)...)
	}
	for _, pat := range binaryKubeconfigs {
		matches := []string{pat}
		if strings.ContainsAny(path.Base(pat), "*?[") {
			matches = r.Node.Glob(pat)
		}
		for _, p := range matches {
			if !r.Node.Exists(p) || r.isDir(p) {
				continue
			}
			name := strings.TrimPrefix(p, "/")
			items = append(items, Item{Name: name, Kind: KindKubeconfig, Path: p, Sources: []string{"binary-install " + p},
				ExtKeyUsage: clientUsage})
		}
	}
	return items, ctx.Err()
}

// topLevel lists the PEM files directly in dir, pairing keys as Dir does.
func (r *Reader) topLevel(dir string) []Item {
	var entries []Entry
	for _, ext := range []string{"*.crt", "*.pem", "*.cer", "*.cert", "*.key"} {
		for _, p := range r.Node.Glob(path.Join(dir, ext)) {
			if !r.isDir(p) {
				entries = append(entries, Entry{Path: p})
			}
		}
	}
	return dirItems(dir, "binary-install "+dir, entries)
}

// isDir reports whether a node path is a directory (through symlinks).
func (r *Reader) isDir(p string) bool {
	return r.Node.IsDir(p)
}
