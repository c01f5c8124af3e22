package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// maxLinks is how many symbolic links one lookup follows, as Linux's ELOOP.
const maxLinks = 40

// ErrTooLarge is wrapped when a file is larger than the limit for its kind.
var ErrTooLarge = errors.New("too large")

// ErrLinkLoop is wrapped when resolving a path follows too many symlinks.
var ErrLinkLoop = errors.New("too many levels of symbolic links")

// Node is a node's filesystem mounted at Root. Paths given to it are node
// paths (absolute, as on the node); symlinks with absolute targets are followed
// under Root, as a chroot would, so a mounted node's kubelet-client-current.pem
// never leads to this machine's files.
type Node struct {
	Root string

	mu   sync.Mutex
	dirs map[string]string // resolved directories, node path -> node path
}

// NewNode returns a Node rooted at root ("" means "/").
func NewNode(root string) *Node {
	if root == "" {
		root = "/"
	}
	return &Node{Root: filepath.Clean(root), dirs: map[string]string{}}
}

// Host maps a node path to this machine's path.
func (n *Node) Host(nodePath string) string {
	if n.Root == "/" {
		return nodePath
	}
	return filepath.Join(n.Root, nodePath)
}

// Resolve follows the symlinks of nodePath under the root and returns the node
// path they lead to. A missing final component is not an error here.
func (n *Node) Resolve(nodePath string) (string, error) {
	return n.resolve(path.Clean("/"+nodePath), 0)
}

func (n *Node) resolve(p string, hops int) (string, error) {
	if p == "/" {
		return p, nil
	}
	dir, err := n.resolveDir(path.Dir(p), hops)
	if err != nil {
		return "", err
	}
	p = path.Join(dir, path.Base(p))
	fi, err := os.Lstat(n.Host(p))
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return p, nil
	}
	if hops >= maxLinks {
		return "", fmt.Errorf("%s: %w", p, ErrLinkLoop)
	}
	target, err := os.Readlink(n.Host(p))
	if err != nil {
		return "", err
	}
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(p), target)
	}
	return n.resolve(path.Clean(target), hops+1)
}

func (n *Node) resolveDir(dir string, hops int) (string, error) {
	if dir == "/" {
		return dir, nil
	}
	n.mu.Lock()
	r, ok := n.dirs[dir]
	n.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := n.resolve(dir, hops)
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	n.dirs[dir] = r
	n.mu.Unlock()
	return r, nil
}

// File is a file read from the node.
type File struct {
	Path     string      // node path as asked
	Resolved string      // node path after symlinks
	Mode     fs.FileMode // permission bits and type
	Data     []byte
}

// ReadFile reads a regular file of at most limit bytes. It never blocks on a
// FIFO or device and never reads more than limit+1 bytes.
func (n *Node) ReadFile(nodePath string, limit int64) (*File, error) {
	resolved, err := n.Resolve(nodePath)
	if err != nil {
		return nil, err
	}
	host := n.Host(resolved)
	fi, err := os.Stat(host)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", describeType(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for this kind of file", ErrTooLarge, fi.Size(), limit)
	}
	f, err := os.OpenFile(host, os.O_RDONLY|syscallNonblock, 0)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than the %d-byte limit for this kind of file", ErrTooLarge, limit)
	}
	return &File{Path: nodePath, Resolved: resolved, Mode: fi.Mode(), Data: data}, nil
}

// Exists reports whether nodePath names something (a dangling symlink counts:
// it is a problem to report, not an absence).
func (n *Node) Exists(nodePath string) bool {
	resolved, err := n.Resolve(nodePath)
	if err != nil {
		return true
	}
	if _, err := os.Lstat(n.Host(resolved)); err == nil {
		return true
	}
	_, err = os.Lstat(n.Host(nodePath))
	return err == nil
}

// Glob lists node paths matching pattern (filepath.Match syntax in the last
// element only), sorted.
func (n *Node) Glob(pattern string) []string {
	dir, err := n.Resolve(path.Dir(pattern))
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(n.Host(dir))
	if err != nil {
		return nil
	}
	var out []string
	base := path.Base(pattern)
	for _, e := range entries {
		if ok, _ := path.Match(base, e.Name()); ok {
			out = append(out, path.Join(path.Dir(pattern), e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// Entry is a directory entry found by Walk.
type Entry struct {
	Path string // node path
	Type fs.FileMode
}

// Walk lists every non-directory entry under dir (node path), depth first in
// name order, following symlinked directories at most maxLinks deep and never
// into a loop. skip, if set, prunes directories by node path.
func (n *Node) Walk(dir string, skip func(string) bool) ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	var walk func(string, int) error
	walk = func(d string, depth int) error {
		resolved, err := n.Resolve(d)
		if err != nil {
			return err
		}
		if seen[resolved] || depth > maxLinks {
			return nil
		}
		seen[resolved] = true
		entries, err := os.ReadDir(n.Host(resolved))
		if err != nil {
			return unwrapPath(err)
		}
		for _, e := range entries {
			p := path.Join(d, e.Name())
			t := e.Type()
			if t&fs.ModeSymlink != 0 {
				if r, err := n.Resolve(p); err == nil {
					if fi, err := os.Stat(n.Host(r)); err == nil && fi.IsDir() {
						t = fs.ModeDir
					}
				}
			}
			if t.IsDir() {
				if skip != nil && skip(p) {
					continue
				}
				if err := walk(p, depth+1); err != nil {
					out = append(out, Entry{Path: p, Type: fs.ModeDir})
				}
				continue
			}
			out = append(out, Entry{Path: p, Type: t})
		}
		return nil
	}
	return out, walk(dir, 0)
}

func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// unwrapPath drops the host path from *fs.PathError: callers name the node path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// nodeDir is the node directory of a node path (for relative kubeconfig references).
func nodeDir(p string) string { return path.Dir(p) }

// isUnder reports whether p is dir or below it.
func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
