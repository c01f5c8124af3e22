package exporter

import (
	"os"
	"syscall"

	"github.com/certrescue/certrescue/internal/inventory"
)

// fileID identifies the content of a file without reading it: the path its
// symbolic links lead to, the device and inode, the size and the modification
// time. A rename over the file (atomic writes, kubeadm, cert-manager) changes
// the inode; an in-place write changes the size or the time.
type fileID struct {
	Resolved string
	Dev, Ino uint64
	Size     int64
	MtimeNs  int64
	Missing  bool
}

// identify stats a node path through the node's symlinks.
func identify(n *inventory.Node, nodePath string) fileID {
	resolved, err := n.Resolve(nodePath)
	if err != nil {
		return fileID{Resolved: nodePath, Missing: true}
	}
	fi, err := os.Stat(n.Host(resolved))
	if err != nil {
		return fileID{Resolved: resolved, Missing: true}
	}
	id := fileID{Resolved: resolved, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), st.Ino
	}
	return id
}

// identities stats every path; the result compares with ==-by-element.
func identities(n *inventory.Node, paths []string) []fileID {
	out := make([]fileID, len(paths))
	for i, p := range paths {
		out[i] = identify(n, p)
	}
	return out
}

func sameIDs(a, b []fileID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
