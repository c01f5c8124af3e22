package nodefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"syscall"
)

// File is a file read from the node.
type File struct {
	Path     string      // node path as asked
	Resolved string      // node path after symlinks
	Mode     fs.FileMode // permission bits and type
	Data     []byte
}

// open opens a resolved node path for reading without blocking: a FIFO or a
// device is refused by its type before anything is read.
func (f *FS) open(resolved string) (*os.File, fs.FileInfo, error) {
	file, err := f.openIn(path.Dir(resolved), path.Base(resolved))
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			// O_NOFOLLOW met a symlink swapped in since resolving.
			return nil, nil, fmt.Errorf("%w (became a symbolic link)", ErrNotRegular)
		}
		return nil, nil, err
	}
	// What was opened is what is judged: a FIFO opened O_NONBLOCK returns
	// at once and is refused here before any read.
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		file.Close()
		return nil, nil, fmt.Errorf("%w (%s)", ErrNotRegular, DescribeType(fi.Mode()))
	}
	return file, fi, nil
}

// ReadFile reads a regular file of at most limit bytes. It never blocks on a
// FIFO or device and never reads more than limit+1 bytes. Errors do not
// repeat the path: callers name the node path as they asked it.
func (f *FS) ReadFile(nodePath string, limit int64) (*File, error) {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return nil, err
	}
	file, fi, err := f.open(resolved)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for this kind of file", ErrTooLarge, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than the %d-byte limit for this kind of file", ErrTooLarge, limit)
	}
	return &File{Path: nodePath, Resolved: resolved, Mode: fi.Mode(), Data: data}, nil
}

// Read is ReadFile's data, with the node path in the error.
func (f *FS) Read(nodePath string, limit int64) ([]byte, error) {
	file, err := f.ReadFile(nodePath, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nodePath, err)
	}
	return file.Data, nil
}

// Stat follows symlinks inside the root.
func (f *FS) Stat(nodePath string) (fs.FileInfo, error) {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return nil, err
	}
	return f.lstatIn(path.Dir(resolved), path.Base(resolved))
}

// Lstat does not follow a final symlink (directories on the way are
// resolved inside the root).
func (f *FS) Lstat(nodePath string) (fs.FileInfo, error) {
	p := f.clean(nodePath)
	dir, err := f.resolveDir(path.Dir(p), 0)
	if err != nil {
		return nil, err
	}
	return f.lstatIn(dir, path.Base(p))
}

// Readlink reads a symlink's target as stored.
func (f *FS) Readlink(nodePath string) (string, error) {
	p := f.clean(nodePath)
	dir, err := f.resolveDir(path.Dir(p), 0)
	if err != nil {
		return "", err
	}
	return f.readlinkIn(dir, path.Base(p))
}

// Exists reports whether nodePath names something (a dangling symlink counts:
// it is a problem to report, not an absence).
func (f *FS) Exists(nodePath string) bool {
	if nodePath == "" {
		return false
	}
	if _, err := f.Stat(nodePath); err == nil {
		return true
	}
	_, err := f.Lstat(nodePath)
	return err == nil
}

// IsRegular reports whether nodePath resolves to a regular file.
func (f *FS) IsRegular(nodePath string) bool {
	fi, err := f.Stat(nodePath)
	return err == nil && fi.Mode().IsRegular()
}

// IsDir reports whether nodePath resolves to a directory.
func (f *FS) IsDir(nodePath string) bool {
	fi, err := f.Stat(nodePath)
	return err == nil && fi.IsDir()
}

// ReadDir lists a directory, sorted by name.
func (f *FS) ReadDir(nodePath string) ([]fs.DirEntry, error) {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return nil, err
	}
	r, err := f.osRoot()
	if err != nil {
		return nil, err
	}
	d, err := r.Open(rel(resolved))
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.IsDir() {
		return nil, errors.New("not a directory")
	}
	entries, err := d.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, unwrapPath(err)
}

// Glob lists node paths matching pattern (path.Match syntax in the last
// element only), sorted.
func (f *FS) Glob(pattern string) []string {
	entries, err := f.ReadDir(path.Dir(pattern))
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
	return out
}

// Entry is a directory entry found by Walk.
type Entry struct {
	Path string // node path
	Type fs.FileMode
}

// Walk lists every non-directory entry under dir (node path), depth first in
// name order, following symlinked directories at most MaxLinks deep and never
// into a loop. skip, if set, prunes directories by node path. A directory
// that cannot be listed is returned as an entry of type fs.ModeDir.
func (f *FS) Walk(dir string, skip func(string) bool) ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	var walk func(string, int) error
	walk = func(d string, depth int) error {
		resolved, err := f.Resolve(d)
		if err != nil {
			return err
		}
		if seen[resolved] || depth > MaxLinks {
			return nil
		}
		seen[resolved] = true
		entries, err := f.ReadDir(resolved)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(d, e.Name())
			t := e.Type()
			if t&fs.ModeSymlink != 0 && f.IsDir(p) {
				t = fs.ModeDir
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
	return out, walk(f.clean(dir), 0)
}
