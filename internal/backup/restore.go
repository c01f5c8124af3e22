package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// RestoreOptions says where to restore and what.
type RestoreOptions struct {
	Root string   // node root; every write stays inside it
	Only []string // node paths to restore; every entry when empty
	// Undo, when set, first backs up every file and symlink the restore is
	// about to overwrite, so the restore itself can be undone.
	Undo *UndoOptions
}

// UndoOptions says where the undo archive of a restore goes.
type UndoOptions struct {
	Dir string    // backups directory, a real path
	Now time.Time // names the archive
}

// RestoreResult lists what a restore did, by node path.
type RestoreResult struct {
	Info      *Info
	Written   []string // files and symlinks replaced or created
	Unchanged []string // already identical (content, mode, owner fixed if needed)
	// Undo is the archive of what the restore overwrote (nil when it was not
	// asked for, or when nothing on the node differed from the backup).
	// Files the restore creates are not in it: undoing leaves them.
	Undo *Info
}

// Restore verifies the whole archive, then puts its entries back under
// opts.Root: directories first, then files (each written to a temporary name,
// fsynced, given its mode and owner, then renamed over the old one), then
// symlinks. Nothing is written unless the whole archive verified.
func Restore(archivePath string, opts RestoreOptions) (*RestoreResult, error) {
	a, err := readArchive(archivePath)
	if err != nil {
		return nil, err
	}
	entries, err := selectEntries(a.info.Manifest, opts.Only)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", archivePath, err)
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	root, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("restore into %s: %w", opts.Root, err)
	}
	defer root.Close()
	res := &RestoreResult{Info: &a.info}
	if opts.Undo != nil {
		if res.Undo, err = takeUndo(root, opts, entries, a.data); err != nil {
			return res, fmt.Errorf("restore %s: %w; nothing was restored", archivePath, err)
		}
	}
	touched := map[string]bool{}
	for _, pass := range []string{TypeDir, TypeFile, TypeSymlink} {
		for _, e := range entries {
			if e.Type != pass {
				continue
			}
			rel := strings.TrimPrefix(e.Path, "/")
			var changed bool
			switch e.Type {
			case TypeDir:
				err = restoreDir(root, rel, e)
			case TypeFile:
				changed, err = restoreFile(root, rel, e, a.data[e.Path])
			case TypeSymlink:
				changed, err = restoreSymlink(root, rel, e)
			}
			if err != nil {
				return res, fmt.Errorf("restore %s into %s: %w (restored %d entries before this one; rerun the restore)", e.Path, opts.Root, err, len(res.Written))
			}
			if e.Type == TypeDir {
				continue
			}
			if changed {
				res.Written = append(res.Written, e.Path)
				touched[path.Dir(rel)] = true
			} else {
				res.Unchanged = append(res.Unchanged, e.Path)
			}
		}
	}
	for dir := range touched {
		if err := syncRootDir(root, dir); err != nil {
			return res, err
		}
	}
	return res, nil
}

// takeUndo backs up every file and symlink of entries that exists on the
// node and differs from the archive (content, link target, mode or owner).
func takeUndo(root *os.Root, opts RestoreOptions, entries []Entry, data map[string][]byte) (*Info, error) {
	var paths []string
	for _, e := range entries {
		if e.Type == TypeDir {
			continue
		}
		rel := strings.TrimPrefix(e.Path, "/")
		fi, err := root.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("back up %s before overwriting it: %w", e.Path, err)
		}
		if !sameAsEntry(root, rel, fi, e, data[e.Path]) {
			paths = append(paths, e.Path)
		}
	}
	if len(paths) == 0 {
		return nil, nil
	}
	info, err := Create(Options{Root: opts.Root, Files: paths, Dir: opts.Undo.Dir, Now: opts.Undo.Now, Prefix: PrefixUndo})
	if err != nil {
		return nil, fmt.Errorf("back up what the restore would overwrite: %w", err)
	}
	if lacks := info.Manifest.Lacks(paths); len(lacks) > 0 {
		return info, fmt.Errorf("%w: the undo archive %s lacks %s", ErrIncomplete, info.Path, strings.Join(lacks, ", "))
	}
	return info, nil
}

// sameAsEntry reports whether what is on the node already is the entry.
func sameAsEntry(root *os.Root, rel string, fi fs.FileInfo, e Entry, data []byte) bool {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != e.UID || int(st.Gid) != e.GID) {
		return false
	}
	switch e.Type {
	case TypeFile:
		if !fi.Mode().IsRegular() || fi.Size() != e.Size || fi.Mode().Perm() != e.Mode.Perm() {
			return false
		}
		cur, err := root.ReadFile(rel)
		return err == nil && bytes.Equal(cur, data)
	case TypeSymlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		cur, err := root.Readlink(rel)
		return err == nil && cur == e.Target
	}
	return false
}

func selectEntries(m *Manifest, only []string) ([]Entry, error) {
	entries := append([]Entry(nil), m.Entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	if len(only) == 0 {
		return entries, nil
	}
	var out []Entry
	for _, p := range only {
		e, ok := m.Find(path.Clean(p))
		if !ok {
			return nil, fmt.Errorf("%s is not in the backup", p)
		}
		out = append(out, e)
	}
	return out, nil
}

func restoreDir(root *os.Root, rel string, e Entry) error {
	fi, err := root.Lstat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := root.MkdirAll(rel, e.Mode.Perm()); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("exists and is not a directory (%s); move it away first", fi.Mode().Type())
	}
	return fixMeta(root, rel, e, false)
}

func restoreFile(root *os.Root, rel string, e Entry, data []byte) (bool, error) {
	if fi, err := root.Lstat(rel); err == nil && fi.Mode().IsRegular() && fi.Size() == e.Size {
		if cur, err := root.ReadFile(rel); err == nil && bytes.Equal(cur, data) {
			return false, fixMeta(root, rel, e, false)
		}
	} else if err == nil && fi.IsDir() {
		return false, errors.New("exists and is a directory; move it away first")
	}
	if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return false, err
	}
	tmp := tempName(rel)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return false, err
	}
	if err := f.Chmod(e.Mode.Perm()); err != nil {
		return false, err
	}
	if err := chownFile(f, e.UID, e.GID); err != nil {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := root.Rename(tmp, rel); err != nil {
		return false, err
	}
	done = true
	return true, nil
}

func restoreSymlink(root *os.Root, rel string, e Entry) (bool, error) {
	if fi, err := root.Lstat(rel); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			if cur, err := root.Readlink(rel); err == nil && cur == e.Target {
				return false, fixMeta(root, rel, e, true)
			}
		} else if fi.IsDir() {
			return false, errors.New("exists and is a directory; move it away first")
		}
	}
	if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return false, err
	}
	tmp := tempName(rel)
	if err := root.Symlink(e.Target, tmp); err != nil {
		return false, err
	}
	if err := fixMeta(root, tmp, e, true); err != nil {
		root.Remove(tmp)
		return false, err
	}
	if err := root.Rename(tmp, rel); err != nil {
		root.Remove(tmp)
		return false, err
	}
	return true, nil
}

// fixMeta sets mode and owner where they differ (a symlink's mode is not
// restored: Linux ignores it).
func fixMeta(root *os.Root, rel string, e Entry, link bool) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if !link && fi.Mode().Perm() != e.Mode.Perm() {
		if err := root.Chmod(rel, e.Mode.Perm()); err != nil {
			return err
		}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != e.UID || int(st.Gid) != e.GID) {
		if err := root.Lchown(rel, e.UID, e.GID); err != nil {
			return fmt.Errorf("restore owner %d:%d: %w", e.UID, e.GID, err)
		}
	}
	return nil
}

func chownFile(f *os.File, uid, gid int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("restore owner %d:%d: %w", uid, gid, err)
	}
	return nil
}

func tempName(rel string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(rel), ".certrescue-restore-"+hex.EncodeToString(b)+".tmp")
}

func syncRootDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
