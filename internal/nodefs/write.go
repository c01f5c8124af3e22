package nodefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrExists is returned when a target exists and overwriting was not allowed.
var ErrExists = errors.New("file exists")

// Put is one file of a WriteSet: a node path, its new content and its exact
// permission bits.
type Put struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// WriteOptions shape a WriteSet.
type WriteOptions struct {
	// Force replaces existing targets; without it an existing target is
	// refused with ErrExists before anything is written.
	Force bool
	// AfterRename is called after each file is renamed into place, with its
	// node path (tests crash between two renames there).
	AfterRename func(nodePath string)
	// Txn journals the set so that a crash is finished or abandoned by the
	// next run (see Txn and Recover).
	Txn *Txn
	// BeforeCommit runs once every file is staged and durable, before the
	// first rename: the audit log's intent. An error abandons the set and
	// nothing changes.
	BeforeCommit func() error
	// Context, when done before the first rename, abandons the set; once
	// renames have begun they are finished (they take microseconds).
	Context context.Context
}

// syncfsThreshold is the batch size from which one syncfs(2) of the filesystem
// replaces an fsync per file: a hundred certificates are three hundred files,
// and three hundred fsyncs in a row cost more than issuing them.
const syncfsThreshold = 16

// maxParallel bounds the temporary files open at once.
const maxParallel = 32

// tempMarker is in the name of every temporary file WriteSet creates:
// ".apiserver.key.certrescue-tmp.0123abcd".
const tempMarker = ".certrescue-tmp."

// IsTemp reports whether a file name is one of WriteSet's temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMarker)
}

func tempName(base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "." + base + tempMarker + hex.EncodeToString(b[:])
}

// Write writes one file atomically (see WriteSet).
func (f *FS) Write(nodePath string, data []byte, mode fs.FileMode, force bool) error {
	return f.WriteSet([]Put{{Path: nodePath, Data: data, Mode: mode}}, WriteOptions{Force: force})
}

type target struct {
	put      Put
	resolved string // node path written (a symlink's target: the link stays)
	tmp      string // node path of the staged file
	file     *os.File
	uid, gid int // owner to keep; -1 when new
}

// WriteSet writes every file atomically. Before writing anything it refuses
// if a target exists (without Force), is not a regular file, is named twice,
// or has no directory, so a refusal changes nothing. A target that is a
// symlink is written where the link leads, inside the root; the link stays.
//
// Order: every temporary file is created next to its target and written with
// its exact mode (and the owner of the file it replaces); then all of them
// are made durable (fsync each, or one syncfs for a large batch); only then
// is each renamed over its target, and each directory is fsynced so the
// renames survive a crash. A crash at any point leaves every target either
// old or wholly new, never torn, and at worst temporary files IsTemp names.
func (f *FS) WriteSet(files []Put, o WriteOptions) error {
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	ts, err := f.precheck(files, o.Force)
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i].tmp = path.Join(path.Dir(ts[i].resolved), tempName(path.Base(ts[i].resolved)))
	}
	var jp string
	var j *journal
	if o.Txn != nil {
		unlock, err := f.LockTxnDir(o.Txn.Dir)
		if err != nil {
			return err
		}
		defer unlock()
		if jp, j, err = f.beginTxn(o.Txn, ts); err != nil {
			return err
		}
	}
	committing := false
	defer func() {
		if committing {
			return // the journal finishes what is left: keep the staged files
		}
		for _, t := range ts {
			if t.file != nil {
				t.file.Close()
			}
			_ = r.Remove(rel(t.tmp))
		}
		if jp != "" {
			_ = f.Remove(jp)
		}
	}()
	batch := len(ts) >= syncfsThreshold
	if err := parallel(len(ts), func(i int) error { return f.stage(r, &ts[i], !batch) }); err != nil {
		return err
	}
	if batch {
		if err := syncAll(ts); err != nil {
			return err
		}
	}
	for i := range ts {
		if err := ts[i].file.Close(); err != nil {
			return fmt.Errorf("write %s: %w", ts[i].put.Path, unwrapPath(err))
		}
		ts[i].file = nil
	}
	if err := f.commitPoint(o.Context, o, jp, j); err != nil {
		return err
	}
	committing = j != nil
	dirs := map[string]bool{}
	for i := range ts {
		t := &ts[i]
		if err := r.Rename(rel(t.tmp), rel(t.resolved)); err != nil {
			if committing {
				return fmt.Errorf("write %s: rename: %w (%d of %d files already replaced; the next run finishes transaction %s)", t.put.Path, unwrapPath(err), i, len(ts), o.Txn.ID)
			}
			committing = true // what is renamed stays renamed; leave the rest for the caller's backup
			for _, u := range ts[i:] {
				_ = r.Remove(rel(u.tmp))
			}
			return fmt.Errorf("write %s: rename: %w (%d of %d files already replaced)", t.put.Path, unwrapPath(err), i, len(ts))
		}
		dirs[path.Dir(t.resolved)] = true
		if o.AfterRename != nil {
			o.AfterRename(t.put.Path)
		}
	}
	for d := range dirs {
		if err := f.SyncDir(d); err != nil {
			return err
		}
	}
	if jp != "" {
		if err := f.Remove(jp); err != nil {
			return fmt.Errorf("transaction journal %s: %w", jp, err)
		}
		_ = f.SyncDir(path.Dir(jp))
	}
	return nil
}

func (f *FS) precheck(files []Put, force bool) ([]target, error) {
	ts := make([]target, 0, len(files))
	seen := map[string]string{}
	for _, p := range files {
		resolved, err := f.Resolve(p.Path)
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", p.Path, err)
		}
		if other, ok := seen[resolved]; ok {
			return nil, fmt.Errorf("write %s: %s names the same file", p.Path, other)
		}
		seen[resolved] = p.Path
		t := target{put: p, resolved: resolved, uid: -1, gid: -1}
		fi, err := f.Lstat(resolved)
		switch {
		case err == nil && fi.IsDir():
			return nil, fmt.Errorf("write %s: is a directory", p.Path)
		case err == nil && !fi.Mode().IsRegular():
			return nil, fmt.Errorf("write %s: %w (%s)", p.Path, ErrNotRegular, DescribeType(fi.Mode()))
		case err == nil && !force:
			return nil, fmt.Errorf("write %s: %w", p.Path, ErrExists)
		case err == nil:
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				t.uid, t.gid = int(st.Uid), int(st.Gid)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("write %s: %w", p.Path, err)
		}
		if !f.IsDir(path.Dir(resolved)) {
			return nil, fmt.Errorf("write %s: directory %s does not exist", p.Path, path.Dir(resolved))
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// stage creates the temporary file beside the target holding the data with
// exactly the mode (chmod after create, so the umask never loosens or
// tightens it) and the replaced file's owner.
func (f *FS) stage(r *os.Root, t *target, fsync bool) error {
	file, err := r.OpenFile(rel(t.tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.put.Path, unwrapPath(err))
	}
	t.file = file
	if err := file.Chmod(t.put.Mode.Perm()); err != nil {
		return fmt.Errorf("write %s: chmod: %w", t.put.Path, unwrapPath(err))
	}
	if t.uid >= 0 && (t.uid != os.Geteuid() || t.gid != os.Getegid()) {
		if err := file.Chown(t.uid, t.gid); err != nil {
			return fmt.Errorf("write %s: keep owner %d:%d: %w", t.put.Path, t.uid, t.gid, unwrapPath(err))
		}
	}
	if _, err := file.Write(t.put.Data); err != nil {
		return fmt.Errorf("write %s: %w", t.put.Path, unwrapPath(err))
	}
	if fsync {
		if err := file.Sync(); err != nil {
			return fmt.Errorf("write %s: fsync: %w", t.put.Path, unwrapPath(err))
		}
	}
	return nil
}

func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncAll makes a batch of temporary files durable: one syncfs(2) per
// filesystem they are on (usually one), falling back to an fsync per file.
func syncAll(ts []target) error {
	byDev := map[uint64]*os.File{}
	for _, t := range ts {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(t.file.Fd()), &st); err != nil {
			return fmt.Errorf("write %s: %w", t.put.Path, err)
		}
		if _, ok := byDev[st.Dev]; !ok {
			byDev[st.Dev] = t.file
		}
	}
	for _, file := range byDev {
		if err := unix.Syncfs(int(file.Fd())); err != nil {
			return parallel(len(ts), func(i int) error {
				if err := ts[i].file.Sync(); err != nil {
					return fmt.Errorf("write %s: fsync: %w", ts[i].put.Path, err)
				}
				return nil
			})
		}
	}
	return nil
}

// SyncDir fsyncs a directory so that a rename inside it survives a crash.
func (f *FS) SyncDir(nodeDir string) error {
	resolved, err := f.Resolve(nodeDir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", nodeDir, err)
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	d, err := r.Open(rel(resolved))
	if err != nil {
		return fmt.Errorf("sync %s: %w", nodeDir, unwrapPath(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", nodeDir, unwrapPath(err))
	}
	return nil
}

// MkdirAll creates a directory and its missing parents, each with exactly
// mode (whatever the umask). Existing directories keep their mode.
func (f *FS) MkdirAll(nodeDir string, mode fs.FileMode) error {
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	p := f.clean(nodeDir)
	if p == "/" {
		return nil
	}
	parent, err := f.Resolve(path.Dir(p))
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", nodeDir, err)
	}
	if !f.IsDir(parent) {
		if err := f.MkdirAll(parent, mode); err != nil {
			return err
		}
	}
	resolved, err := f.Resolve(p)
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", nodeDir, err)
	}
	if f.IsDir(resolved) {
		return nil
	}
	if err := r.Mkdir(rel(resolved), mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", nodeDir, unwrapPath(err))
	}
	f.forget()
	if err := r.Chmod(rel(resolved), mode.Perm()); err != nil {
		return fmt.Errorf("mkdir %s: chmod: %w", nodeDir, unwrapPath(err))
	}
	return nil
}

// Chmod sets the permission bits of what nodePath resolves to.
func (f *FS) Chmod(nodePath string, mode fs.FileMode) error {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return err
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	return unwrapPath(r.Chmod(rel(resolved), mode))
}

// Chown sets the owner of what nodePath resolves to.
func (f *FS) Chown(nodePath string, uid, gid int) error {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return err
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	return unwrapPath(r.Chown(rel(resolved), uid, gid))
}

// Remove removes a file, an empty directory or a symlink (not its target).
func (f *FS) Remove(nodePath string) error {
	p := f.clean(nodePath)
	dir, err := f.Resolve(path.Dir(p))
	if err != nil {
		return err
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	err = r.Remove(rel(path.Join(dir, path.Base(p))))
	f.forget()
	return unwrapPath(err)
}

// Rename renames a file inside the node (a final symlink is renamed itself).
func (f *FS) Rename(oldPath, newPath string) error {
	op, np := f.clean(oldPath), f.clean(newPath)
	od, err := f.Resolve(path.Dir(op))
	if err != nil {
		return err
	}
	nd, err := f.Resolve(path.Dir(np))
	if err != nil {
		return err
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	err = r.Rename(rel(path.Join(od, path.Base(op))), rel(path.Join(nd, path.Base(np))))
	f.forget()
	return unwrapPath(err)
}

// Symlink creates a symlink at nodePath holding target as it is (a node
// path when absolute).
func (f *FS) Symlink(target, nodePath string) error {
	p := f.clean(nodePath)
	dir, err := f.Resolve(path.Dir(p))
	if err != nil {
		return err
	}
	r, err := f.osRoot()
	if err != nil {
		return err
	}
	err = r.Symlink(target, rel(path.Join(dir, path.Base(p))))
	f.forget()
	return unwrapPath(err)
}

// CleanTemps removes the temporary files a crashed WriteSet left in a node
// directory and returns their node paths.
func (f *FS) CleanTemps(nodeDir string) []string {
	entries, err := f.ReadDir(nodeDir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !IsTemp(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		p := path.Join(f.clean(nodeDir), e.Name())
		if f.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// HostResolved is the host path of what nodePath resolves to, for handing to
// a program that opens paths itself (a database driver, crictl): every link
// on the way has been resolved inside the root.
func (f *FS) HostResolved(nodePath string) (string, error) {
	resolved, err := f.Resolve(nodePath)
	if err != nil {
		return "", err
	}
	return f.HostPath(resolved), nil
}
