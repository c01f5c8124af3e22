package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/renameio/v2"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Options for Apply.
type Options struct {
	Root string // node root
	// AfterRename is called after each file is renamed into place (tests use it
	// to crash between two renames).
	AfterRename func(nodePath string)
}

// Written is one deployed file.
type Written struct {
	Path   string // node path
	SHA256 string // of the new content
}

// Apply stages every file, then renames them all into place.
func Apply(files []renewal.File, o Options) ([]Written, error) {
	n := renewal.Node{Root: o.Root}
	staged := make([]*renameio.PendingFile, 0, len(files))
	cleanup := func() {
		for _, p := range staged {
			p.Cleanup() //nolint:errcheck // best effort: removing our own temp file
		}
	}
	for _, f := range files {
		p, err := stage(n, f)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("deploy: stage %s: %w (nothing was changed)", f.Path, err)
		}
		staged = append(staged, p)
	}
	out := make([]Written, 0, len(files))
	dirs := map[string]bool{}
	for i, p := range staged {
		f := files[i]
		if err := p.CloseAtomicallyReplace(); err != nil {
			for _, q := range staged[i+1:] {
				q.Cleanup() //nolint:errcheck // see cleanup
			}
			return out, fmt.Errorf("deploy: rename into %s: %w (%d of %d files already replaced: roll back from the backup)", f.Path, err, i, len(files))
		}
		sum := sha256.Sum256(f.Data)
		out = append(out, Written{Path: f.Path, SHA256: hex.EncodeToString(sum[:])})
		dirs[filepath.Dir(n.Real(f.Path))] = true
		if o.AfterRename != nil {
			o.AfterRename(f.Path)
		}
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return out, fmt.Errorf("deploy: %w", err)
		}
	}
	return out, nil
}

func stage(n renewal.Node, f renewal.File) (*renameio.PendingFile, error) {
	real := n.Real(f.Path)
	mode := f.Mode
	if f.Key {
		mode = atomicfile.KeyMode
	}
	uid, gid := -1, -1
	if fi, err := os.Lstat(real); err == nil {
		if fi.IsDir() {
			return nil, errors.New("is a directory")
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	p, err := renameio.NewPendingFile(real, renameio.WithPermissions(mode), renameio.IgnoreUmask(),
		renameio.WithTempDir(filepath.Dir(real)))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.Cleanup() //nolint:errcheck // removing our own temp file
		}
	}()
	if _, err := p.Write(f.Data); err != nil {
		return nil, err
	}
	if err := p.Chmod(mode); err != nil {
		return nil, err
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := p.Chown(uid, gid); err != nil {
			return nil, fmt.Errorf("keep owner %d:%d: %w", uid, gid, err)
		}
	}
	if err := p.Sync(); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// Matches reports which of the given files already hold their new content on
// the node (a rerun after a crash uses it to tell "all new" from "a mix").
func Matches(root string, files []Written) (matching, differing []string) {
	n := renewal.Node{Root: root}
	for _, w := range files {
		b, err := os.ReadFile(n.Real(w.Path))
		sum := sha256.Sum256(b)
		if err == nil && strings.EqualFold(hex.EncodeToString(sum[:]), w.SHA256) {
			matching = append(matching, w.Path)
		} else {
			differing = append(differing, w.Path)
		}
	}
	return matching, differing
}

// CleanStale removes temporary files a crashed Apply left next to the given
// node paths (renameio names them "." + base + digits). It returns what it
// removed.
func CleanStale(root string, paths []string) []string {
	n := renewal.Node{Root: root}
	var removed []string
	for _, p := range paths {
		real := n.Real(p)
		prefix := "." + filepath.Base(real)
		des, err := os.ReadDir(filepath.Dir(real))
		if err != nil {
			continue
		}
		for _, de := range des {
			name := de.Name()
			rest, ok := strings.CutPrefix(name, prefix)
			if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !de.Type().IsRegular() {
				continue
			}
			if os.Remove(filepath.Join(filepath.Dir(real), name)) == nil {
				removed = append(removed, filepath.Join(filepath.Dir(p), name))
			}
		}
	}
	return removed
}
