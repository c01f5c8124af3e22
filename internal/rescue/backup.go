package rescue

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
)

// TakeBackup backs up the node before a plan is deployed, as rescue and renew
// both do: every file the plan replaces and every trust file it relies on
// (backup.PathsFor), plus paths (the operator's --path; backup.DefaultPaths
// when nil), into dir. It then checks the archive's manifest holds every
// planned file that exists on the node: a backup that could not bring one
// back is an error, and the caller must change nothing.
func TakeBackup(root string, plan *renewal.Plan, roles []layout.Role, items []inventory.Item, paths []string, dir string, now time.Time) (*backup.Info, error) {
	if paths == nil {
		paths = backup.DefaultPaths
	}
	set := backup.PathsFor(root, plan, roles, items)
	info, err := backup.Create(backup.Options{Root: root, Paths: paths, Files: set.Files(), Dir: dir, Now: now})
	if err != nil {
		return nil, err
	}
	if err := Holds(root, info, set.Change); err != nil {
		return info, err
	}
	return info, nil
}

// Holds checks a backup holds every one of the files a change replaces: as
// an entry, or listed as missing from the node and still absent (a new file
// the change creates).
func Holds(root string, info *backup.Info, change []string) error {
	n := nodefs.New(root)
	lacks := info.Manifest.Lacks(change)
	for _, p := range info.Manifest.Missing {
		if slices.Contains(change, p) && n.Exists(p) {
			lacks = append(lacks, p+" (listed as absent, but it is on the node)")
		}
	}
	if len(lacks) == 0 {
		return nil
	}
	if len(lacks) == len(change) {
		return fmt.Errorf("%w: %s holds none of the %d files the renewal replaces (%s)", backup.ErrIncomplete, info.Path, len(change), strings.Join(lacks, ", "))
	}
	return fmt.Errorf("%w: %s lacks %d of the %d files the renewal replaces: %s", backup.ErrIncomplete, info.Path, len(lacks), len(change), strings.Join(lacks, ", "))
}
