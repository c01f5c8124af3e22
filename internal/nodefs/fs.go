package nodefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// MaxLinks is how many symbolic links one lookup follows, as Linux's ELOOP.
const MaxLinks = 40

// ErrTooLarge is wrapped when a file is larger than the limit for its kind.
var ErrTooLarge = errors.New("too large")

// ErrLinkLoop is wrapped when resolving a path follows too many symlinks.
var ErrLinkLoop = errors.New("too many levels of symbolic links")

// ErrNotRegular is wrapped when a file that must be read or replaced is a
// FIFO, socket, device or directory: reading one could block forever.
var ErrNotRegular = errors.New("not a regular file")

// ErrRoot is wrapped when the directory the node's filesystem is mounted at
// cannot be opened.
var ErrRoot = errors.New("cannot open the node's root")

// FS is a node's filesystem mounted at a root directory of this machine.
type FS struct {
	root string // cleaned absolute host path
	host bool   // root is "/": node paths are this machine's

	rmu sync.Mutex
	r   *os.Root

	mu   sync.Mutex
	dirs map[string]string     // resolved directories, node path -> node path
	fds  map[string]*dirHandle // descriptors of resolved directories (at_linux.go)
}

// New returns the FS of the node mounted at root ("" means "/"). Nothing is
// opened until the first operation.
func New(root string) *FS {
	if root == "" {
		root = "/"
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	root = filepath.Clean(root)
	return &FS{root: root, host: root == "/", dirs: map[string]string{}}
}

// Host is the FS of this machine: root "/". Relative paths given to it are
// relative to the working directory (an operator's own files).
func Host() *FS { return New("/") }

// Root is the host directory the node is mounted at.
func (f *FS) Root() string { return f.root }

// IsHost reports whether the node is this machine (root "/").
func (f *FS) IsHost() bool { return f.host }

// HostPath maps a node path to this machine's path lexically, without
// resolving symlinks. It is for messages and for handing a path to another
// program; never open the result yourself: use the FS.
func (f *FS) HostPath(nodePath string) string {
	p := f.clean(nodePath)
	if f.host {
		return p
	}
	return filepath.Join(f.root, p)
}

// Clean returns the node path p names: absolute, cleaned, never above "/".
// On the host FS a relative path is taken from the working directory.
func (f *FS) Clean(p string) string { return f.clean(p) }

func (f *FS) clean(p string) string {
	if f.host && !path.IsAbs(p) {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return path.Clean("/" + p)
}

// osRoot opens the root (once, until Close). An *os.Root refuses any path
// that would leave it, whatever the links on the way.
func (f *FS) osRoot() (*os.Root, error) {
	f.rmu.Lock()
	defer f.rmu.Unlock()
	if f.r != nil {
		return f.r, nil
	}
	r, err := os.OpenRoot(f.root)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrRoot, f.root, unwrapPath(err))
	}
	f.r = r
	return r, nil
}

// Close releases the descriptors the FS holds (the root and cached
// directories). Call it when no operation is running; the FS reopens what it
// needs if used again. Without Close they are released when the FS is
// collected.
func (f *FS) Close() error {
	f.mu.Lock()
	fds := f.fds
	f.fds = nil
	clear(f.dirs)
	f.mu.Unlock()
	for _, d := range fds {
		d.file.Close()
	}
	f.rmu.Lock()
	defer f.rmu.Unlock()
	if f.r == nil {
		return nil
	}
	err := f.r.Close()
	f.r = nil
	return err
}

// rel is the os.Root name of a node path already resolved.
func rel(nodePath string) string {
	r := strings.TrimPrefix(path.Clean("/"+nodePath), "/")
	if r == "" {
		return "."
	}
	return r
}

// Resolve follows the symlinks of nodePath inside the root and returns the
// node path they lead to. A missing final component is not an error.
func (f *FS) Resolve(nodePath string) (string, error) {
	return f.resolve(f.clean(nodePath), 0)
}

func (f *FS) resolve(p string, hops int) (string, error) {
	if p == "/" {
		return p, nil
	}
	dir, err := f.resolveDir(path.Dir(p), hops)
	if err != nil {
		return "", err
	}
	base := path.Base(p)
	p = path.Join(dir, base)
	if _, err := f.osRoot(); err != nil {
		return "", err
	}
	fi, err := f.lstatIn(dir, base)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return p, nil
	}
	if hops >= MaxLinks {
		return "", fmt.Errorf("%s: %w", p, ErrLinkLoop)
	}
	target, err := f.readlinkIn(dir, base)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(p), target)
	}
	return f.resolve(path.Clean("/"+target), hops+1)
}

func (f *FS) resolveDir(dir string, hops int) (string, error) {
	if dir == "/" {
		return dir, nil
	}
	f.mu.Lock()
	r, ok := f.dirs[dir]
	f.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := f.resolve(dir, hops)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	f.dirs[dir] = r
	f.mu.Unlock()
	return r, nil
}

// forget drops cached directory resolutions (after this FS changed the tree).
func (f *FS) forget() {
	f.mu.Lock()
	clear(f.dirs)
	f.fds = nil // descriptors still in use stay open; the rest close when collected
	f.mu.Unlock()
}

// UnwrapPath drops the host path from a path error (callers name the node path).
func UnwrapPath(err error) error { return unwrapPath(err) }

// unwrapPath drops the host path from *fs.PathError and *os.LinkError:
// callers name the node path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// DescribeType says what kind of non-regular file a mode is, for messages.
func DescribeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return m.Type().String()
}

// IsUnder reports whether node path p is dir or below it.
func IsUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
