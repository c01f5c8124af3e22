package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Listed is one entry of List: an archive's Info, or why it could not be read.
type Listed struct {
	Info
	Err error // the manifest could not be read: the archive is damaged
}

// List returns the archives in dir, oldest first. A damaged archive is listed
// with its error rather than stopping the listing. A missing dir is empty.
func List(dir string) ([]Listed, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var out []Listed
	for _, de := range des {
		if de.IsDir() || !strings.HasSuffix(de.Name(), archiveExt) || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		info, err := ReadManifest(p)
		if err != nil {
			out = append(out, Listed{Info: Info{ID: idOf(p), Path: p}, Err: err})
			continue
		}
		out = append(out, Listed{Info: *info})
	}
	sort.SliceStable(out, func(i, j int) bool {
		mi, mj := out[i].Manifest, out[j].Manifest
		if mi != nil && mj != nil && !mi.Created.Equal(mj.Created) {
			return mi.Created.Before(mj.Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ErrNoBackup means Resolve found no archive by that ID (or, for "latest",
// none readable) in the directory.
var ErrNoBackup = errors.New("no backup")

// IsUndo reports whether an archive is the undo archive of a restore (what
// the restore overwrote) rather than a backup taken before a change.
func (i *Info) IsUndo() bool { return strings.HasPrefix(i.ID, PrefixUndo+"-") }

// Resolve finds an archive by ID in dir, or takes a path to an archive file.
// "latest" is the newest backup in dir taken before a change: undo archives
// of restores are skipped (restore one by its ID), so a second
// `restore latest` restores the same backup again rather than undoing the
// first.
func Resolve(dir, idOrPath string) (string, error) {
	if idOrPath == "latest" {
		all, err := List(dir)
		if err != nil {
			return "", err
		}
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].Err == nil && !all[i].IsUndo() {
				return all[i].Path, nil
			}
		}
		return "", fmt.Errorf("%w: none readable in %s", ErrNoBackup, dir)
	}
	if strings.ContainsRune(idOrPath, '/') || strings.HasSuffix(idOrPath, archiveExt) {
		if _, err := os.Stat(idOrPath); err != nil {
			return "", fmt.Errorf("backup %s: %w", idOrPath, err)
		}
		return idOrPath, nil
	}
	p := filepath.Join(dir, idOrPath+archiveExt)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w %q in %s: %w", ErrNoBackup, idOrPath, dir, err)
	}
	return p, nil
}
