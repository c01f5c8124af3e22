package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Options for Apply.
type Options struct {
	Root string // node root
	// AfterRename is called after each file is renamed into place (tests use it
	// to crash between two renames).
	AfterRename func(nodePath string)
	// Txn journals the deploy (see nodefs.Txn): a crash is finished or
	// abandoned by the next run. BeforeCommit records the audit intent once
	// every file is staged; Context abandons the deploy before its first
	// rename.
	Txn          *nodefs.Txn
	BeforeCommit func() error
	Context      context.Context
}

// Written is one deployed file.
type Written struct {
	Path   string // node path
	SHA256 string // of the new content
}

// Apply stages every file, then renames them all into place, with nodefs's
// one atomic writer: inside the root whatever the node's symlinks say.
func Apply(files []renewal.File, o Options) ([]Written, error) {
	puts := make([]nodefs.Put, 0, len(files))
	for _, f := range files {
		mode := f.Mode
		if f.Key {
			mode = atomicfile.KeyMode
		}
		puts = append(puts, nodefs.Put{Path: f.Path, Data: f.Data, Mode: mode})
	}
	renamed := 0
	fsys := nodefs.New(o.Root)
	defer fsys.Close()
	err := fsys.WriteSet(puts, nodefs.WriteOptions{Force: true, Txn: o.Txn, BeforeCommit: o.BeforeCommit, Context: o.Context, AfterRename: func(p string) {
		renamed++
		if o.AfterRename != nil {
			o.AfterRename(p)
		}
	}})
	if err != nil {
		if renamed == 0 {
			return nil, fmt.Errorf("deploy: %w (nothing was changed)", err)
		}
		return nil, fmt.Errorf("deploy: %w: roll back from the backup", err)
	}
	out := make([]Written, 0, len(files))
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		out = append(out, Written{Path: f.Path, SHA256: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// Matches reports which of the given files already hold their new content on
// the node (a rerun after a crash uses it to tell "all new" from "a mix").
func Matches(root string, files []Written) (matching, differing []string) {
	n := nodefs.New(root)
	defer n.Close()
	for _, w := range files {
		f, err := n.ReadFile(w.Path, pki.MaxPEMSize)
		if err == nil {
			sum := sha256.Sum256(f.Data)
			if strings.EqualFold(hex.EncodeToString(sum[:]), w.SHA256) {
				matching = append(matching, w.Path)
				continue
			}
		}
		differing = append(differing, w.Path)
	}
	return matching, differing
}

// CleanStale removes temporary files a crashed Apply left in the directories
// of the given node paths: nodefs's (nodefs.IsTemp) and those of earlier
// versions, which renameio named "." + base + digits. It returns what it
// removed, as node paths.
func CleanStale(root string, paths []string) []string {
	n := nodefs.New(root)
	defer n.Close()
	var removed []string
	dirs := map[string][]string{}
	for _, p := range paths {
		if rp, err := n.Resolve(p); err == nil {
			p = rp
		}
		dirs[path.Dir(p)] = append(dirs[path.Dir(p)], path.Base(p))
	}
	for dir, bases := range dirs {
		removed = append(removed, n.CleanTemps(dir)...)
		entries, err := n.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			for _, base := range bases {
				rest, ok := strings.CutPrefix(e.Name(), "."+base)
				if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
					continue
				}
				if p := path.Join(dir, e.Name()); n.Remove(p) == nil {
					removed = append(removed, p)
				}
			}
		}
	}
	return removed
}
