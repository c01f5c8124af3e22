package exporter

import (
	"io/fs"
	"path"
	"syscall"

	"github.com/certrescue/certrescue/internal/inventory"
)

// fileID identifies the content of a file without reading it: the path its
// symbolic links lead to, the device and inode, the size and the modification
// time. A rename over the file (atomic writes, kubeadm, cert-manager) changes
// the inode; an in-place write changes the size or the time.
type fileID struct {
	Resolved string // "" when it is the path itself (most files: no string kept)
	Dev, Ino uint64
	Size     int64
	MtimeNs  int64
	Missing  bool
}

// statter identifies files of one node for one refresh. It resolves each
// directory's symbolic links once and then costs one lstat per file that is
// not itself a link (a stat after the link is resolved otherwise).
type statter struct {
	node *inventory.Node
	dirs map[string]string // node directory -> where its links lead ("" when that fails)
}

func newStatter(n *inventory.Node) *statter { return &statter{node: n, dirs: map[string]string{}} }

// identify stats a node path through the node's symlinks.
func (s *statter) identify(nodePath string) fileID {
	nodePath = path.Clean("/" + nodePath)
	dir := path.Dir(nodePath)
	rdir, ok := s.dirs[dir]
	if !ok {
		r, err := s.node.Resolve(dir)
		if err != nil {
			r = ""
		}
		s.dirs[dir], rdir = r, r
	}
	if rdir == "" {
		return s.follow(nodePath)
	}
	p := path.Join(rdir, path.Base(nodePath))
	fi, err := s.node.Lstat(p)
	if err != nil {
		return fileID{Resolved: p, Missing: true}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return s.follow(nodePath)
	}
	if p == nodePath {
		p = ""
	}
	return idOf(p, fi)
}

// follow resolves every link of a path, then stats where it leads.
func (s *statter) follow(nodePath string) fileID {
	resolved, err := s.node.Resolve(nodePath)
	if err != nil {
		return fileID{Resolved: nodePath, Missing: true}
	}
	fi, err := s.node.Stat(resolved)
	if err != nil {
		return fileID{Resolved: resolved, Missing: true}
	}
	return idOf(resolved, fi)
}

func idOf(resolved string, fi fs.FileInfo) fileID {
	id := fileID{Resolved: resolved, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), st.Ino
	}
	return id
}

// identities stats every path; the result compares with sameIDs.
func (s *statter) identities(paths []string) []fileID {
	out := make([]fileID, len(paths))
	for i, p := range paths {
		out[i] = s.identify(p)
	}
	return out
}

// unchanged reports whether every path still has the identity in ids,
// stopping at the first that does not.
func (s *statter) unchanged(paths []string, ids []fileID) bool {
	if len(paths) != len(ids) {
		return false
	}
	for i, p := range paths {
		if s.identify(p) != ids[i] {
			return false
		}
	}
	return true
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
