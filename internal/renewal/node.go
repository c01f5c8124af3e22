package renewal

import (
	"io/fs"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Node is the node's disk as renewal reads it: nodefs, the one view of the
// node's filesystem (node paths are absolute; symlinks, absolute targets
// included, resolve inside the root).
type Node struct{ *nodefs.FS }

// NewNode reads the node mounted at root.
func NewNode(root string) Node { return Node{nodefs.New(root)} }

// Read reads a node file (following symlinks inside the node), capped at
// pki.MaxPEMSize; FIFOs and devices are refused without blocking.
// Errors do not repeat the path: callers name it.
func (n Node) Read(p string) ([]byte, error) {
	f, err := n.ReadFile(p, pki.MaxPEMSize)
	if err != nil {
		return nil, err
	}
	return f.Data, nil
}

// Exists reports whether a node path exists (a dangling symlink does not).
func (n Node) Exists(p string) bool {
	if p == "" {
		return false
	}
	_, err := n.Stat(p)
	return err == nil
}

// Mode returns a node file's permission bits, or def when it does not exist.
func (n Node) Mode(p string, def fs.FileMode) fs.FileMode {
	fi, err := n.Stat(p)
	if err != nil {
		return def
	}
	return fi.Mode().Perm()
}
