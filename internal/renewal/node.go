package renewal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/certrescue/certrescue/internal/pki"
)

// Node reads a node's files through its root: node paths are absolute
// (/etc/kubernetes/pki/ca.crt) and live under Root; absolute symlink targets
// are node paths too.
type Node struct{ Root string }

// Real maps a node path to the path on this machine.
func (n Node) Real(p string) string {
	if n.Root == "" || n.Root == "/" {
		return p
	}
	return filepath.Join(n.Root, p)
}

// Resolve follows symlinks of a node path, inside the node, and returns the
// node path of the file at the end of the chain.
func (n Node) Resolve(p string) (string, error) {
	cur := path.Clean(p)
	for hops := 0; hops < 16; hops++ {
		fi, err := os.Lstat(n.Real(cur))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return cur, nil
		}
		target, err := os.Readlink(n.Real(cur))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(cur), target)
		}
		cur = path.Clean(target) // Clean of an absolute path cannot climb above "/"
	}
	return "", fmt.Errorf("%s: too many levels of symlinks", p)
}

// Read reads a node file (following symlinks inside the node), capped at
// pki.MaxPEMSize.
func (n Node) Read(p string) ([]byte, error) {
	rp, err := n.Resolve(p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(n.Real(rp))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	if fi.Size() > pki.MaxPEMSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d-byte limit", p, fi.Size(), pki.MaxPEMSize)
	}
	return io.ReadAll(io.LimitReader(f, pki.MaxPEMSize+1))
}

// Exists reports whether a node path exists (a dangling symlink does not).
func (n Node) Exists(p string) bool {
	if p == "" {
		return false
	}
	rp, err := n.Resolve(p) // symlinks with absolute targets point inside the node
	if err != nil {
		return false
	}
	_, err = os.Stat(n.Real(rp))
	return err == nil
}

// Mode returns a node file's permission bits, or def when it does not exist.
func (n Node) Mode(p string, def fs.FileMode) fs.FileMode {
	if rp, err := n.Resolve(p); err == nil {
		p = rp
	}
	fi, err := os.Stat(n.Real(p))
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return def
	}
	return fi.Mode().Perm()
}
