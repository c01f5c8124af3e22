package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
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
// opts.Root through the node's view of its disk (symlinks on the way resolve
// inside the root; nothing lands outside it): directories first, then files
// (each written to a temporary name, fsynced, given its mode and owner, then
// renamed over the old one), then symlinks. Nothing is written unless the
// whole archive verified (and, with Undo, the undo archive was written).
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
	nfs := nodefs.New(opts.Root)
	if !nfs.IsDir("/") {
		return nil, fmt.Errorf("restore into %s: not a directory", opts.Root)
	}
	res := &RestoreResult{Info: &a.info}
	if opts.Undo != nil {
		if res.Undo, err = takeUndo(nfs, opts, entries, a.data); err != nil {
			return res, fmt.Errorf("restore %s: %w; nothing was restored", archivePath, err)
		}
	}
	touched := map[string]bool{}
	for _, pass := range []string{TypeDir, TypeFile, TypeSymlink} {
		for _, e := range entries {
			if e.Type != pass {
				continue
			}
			var changed bool
			switch e.Type {
			case TypeDir:
				err = restoreDir(nfs, e)
			case TypeFile:
				changed, err = restoreFile(nfs, e, a.data[e.Path])
			case TypeSymlink:
				changed, err = restoreSymlink(nfs, e)
			}
			if err != nil {
				return res, fmt.Errorf("restore %s into %s: %w (restored %d entries before this one; rerun the restore)", e.Path, opts.Root, err, len(res.Written))
			}
			if e.Type == TypeDir {
				continue
			}
			if changed {
				res.Written = append(res.Written, e.Path)
				touched[path.Dir(e.Path)] = true
			} else {
				res.Unchanged = append(res.Unchanged, e.Path)
			}
		}
	}
	for dir := range touched {
		if err := nfs.SyncDir(dir); err != nil {
			return res, err
		}
	}
	return res, nil
}

// takeUndo backs up every file and symlink of entries that exists on the
// node and differs from the archive (content, link target, mode or owner).
func takeUndo(nfs *nodefs.FS, opts RestoreOptions, entries []Entry, data map[string][]byte) (*Info, error) {
	var paths []string
	for _, e := range entries {
		if e.Type == TypeDir {
			continue
		}
		fi, err := nfs.Lstat(e.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("back up %s before overwriting it: %w", e.Path, err)
		}
		if !sameAsEntry(nfs, fi, e, data[e.Path]) {
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
func sameAsEntry(nfs *nodefs.FS, fi fs.FileInfo, e Entry, data []byte) bool {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && e.Type == TypeFile && (int(st.Uid) != e.UID || int(st.Gid) != e.GID) {
		return false
	}
	switch e.Type {
	case TypeFile:
		if !fi.Mode().IsRegular() || fi.Size() != e.Size || fi.Mode().Perm() != e.Mode.Perm() {
			return false
		}
		cur, err := nfs.ReadFile(e.Path, MaxFileSize)
		return err == nil && bytes.Equal(cur.Data, data)
	case TypeSymlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		cur, err := nfs.Readlink(e.Path)
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

func restoreDir(nfs *nodefs.FS, e Entry) error {
	fi, err := nfs.Lstat(e.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := nfs.MkdirAll(e.Path, e.Mode.Perm()); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("exists and is not a directory (%s); move it away first", nodefs.DescribeType(fi.Mode()))
	}
	return fixMeta(nfs, e)
}

func restoreFile(nfs *nodefs.FS, e Entry, data []byte) (bool, error) {
	fi, err := nfs.Lstat(e.Path)
	switch {
	case err == nil && fi.Mode().IsRegular() && fi.Size() == e.Size:
		if cur, err := nfs.ReadFile(e.Path, MaxFileSize); err == nil && bytes.Equal(cur.Data, data) {
			return false, fixMeta(nfs, e)
		}
	case err == nil && fi.IsDir():
		return false, errors.New("exists and is a directory; move it away first")
	}
	if err := nfs.MkdirAll(path.Dir(e.Path), 0o755); err != nil {
		return false, err
	}
	// Stage beside the target, then rename over it: the path becomes this
	// file even where the node has a symlink now (the archive says file).
	tmp := tempName(e.Path)
	if err := nfs.Write(tmp, data, e.Mode.Perm(), false); err != nil {
		return false, err
	}
	if err := chown(nfs, tmp, e); err != nil {
		_ = nfs.Remove(tmp)
		return false, err
	}
	if err := nfs.Rename(tmp, e.Path); err != nil {
		_ = nfs.Remove(tmp)
		return false, err
	}
	return true, nil
}

func restoreSymlink(nfs *nodefs.FS, e Entry) (bool, error) {
	if fi, err := nfs.Lstat(e.Path); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			if cur, err := nfs.Readlink(e.Path); err == nil && cur == e.Target {
				return false, nil
			}
		} else if fi.IsDir() {
			return false, errors.New("exists and is a directory; move it away first")
		}
	}
	if err := nfs.MkdirAll(path.Dir(e.Path), 0o755); err != nil {
		return false, err
	}
	tmp := tempName(e.Path)
	if err := nfs.Symlink(e.Target, tmp); err != nil {
		return false, err
	}
	if err := nfs.Rename(tmp, e.Path); err != nil {
		_ = nfs.Remove(tmp)
		return false, err
	}
	return true, nil
}

// fixMeta sets a file's or directory's mode and owner where they differ.
func fixMeta(nfs *nodefs.FS, e Entry) error {
	fi, err := nfs.Lstat(e.Path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != e.Mode.Perm() {
		if err := nfs.Chmod(e.Path, e.Mode.Perm()); err != nil {
			return err
		}
	}
	return chown(nfs, e.Path, e)
}

// chown gives a file or directory the entry's owner when it has another.
func chown(nfs *nodefs.FS, p string, e Entry) error {
	fi, err := nfs.Lstat(p)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != e.UID || int(st.Gid) != e.GID) {
		if err := nfs.Chown(p, e.UID, e.GID); err != nil {
			return fmt.Errorf("restore owner %d:%d: %w", e.UID, e.GID, err)
		}
	}
	return nil
}

func tempName(nodePath string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(nodePath), ".certrescue-restore-"+hex.EncodeToString(b)+".tmp")
}
