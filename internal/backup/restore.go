package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// RestoreOptions says where to restore and what.
type RestoreOptions struct {
	Root string   // node root; every write stays inside it
	Only []string // node paths to restore; every entry when empty
	// Credentials is what a backup of this node is made of, the only paths
	// the restore writes (CredentialsOf the node's inventory, plus what the
	// operator allowed); nil scans the node with the inventory's default
	// sources (ScanCredentials).
	Credentials *Credentials
	// AllowManifest confirms every path the archive's manifest lists, as
	// though each were given to Credentials.Allow. StateDir, Protect,
	// database files and unsafe symlinks stay refused.
	AllowManifest bool
	// Protect are more node paths never written, besides StateDir: the
	// backups directory and the audit store when they are elsewhere.
	Protect []string
	// Undo, when set, first backs up every file and symlink the restore is
	// about to overwrite, so the restore itself can be undone.
	Undo *UndoOptions
	// Now is the caller's clock: it names the transaction.
	Now time.Time
	// TxnDir is the node directory of the transaction journal; TxnDir
	// (/var/lib/certrescue/txn) when empty.
	TxnDir string
	// BeforeCommit runs once every file is staged and durable, before the
	// first one replaces its target, with the undo archive (nil when none)
	// and the node paths about to change: the audit log's intent. An error
	// changes nothing.
	BeforeCommit func(undo *Info, changes []string) error
	// Context, when done before the first file is replaced, abandons the
	// restore with nothing changed.
	Context context.Context

	afterRename func(nodePath string) // tests crash here
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
	// Allowed are entries restored only because the operator confirmed
	// them (Credentials.Allow, AllowManifest): not credentials of this node.
	Allowed []string
	// Undo is the archive of what the restore overwrote (nil when it was not
	// asked for, or when nothing on the node differed from the backup).
	// Files the restore creates are not in it: undoing leaves them.
	Undo *Info
	// Txn is the ID of the restore's transaction ("" when nothing was written).
	Txn string
	// Recovered are unfinished transactions of earlier runs (a restore or
	// any other command killed part-way) that this one finished or
	// abandoned before it began.
	Recovered []nodefs.Recovered
}

// Restore verifies the whole archive, finishes what an earlier run left
// unfinished (nodefs.Recover), decides every entry and refuses the archive
// (a *RefusedError, nothing written) if any entry is not what a backup of
// this node is made of: a path outside opts.Credentials, certrescue's own
// state, a database, a symlink a later renew would follow elsewhere, or a
// type the node cannot take in place. Then, through the node's view of its
// disk (nothing lands outside the root): the undo archive; missing
// directories; every file in one journaled nodefs WriteSet (staged beside its
// target with its mode, made durable, the intent passed to BeforeCommit, then
// renamed into place: a crash is finished by the next run); then owners and
// modes the backup gives, and symlinks (each created under a temporary name
// and renamed over the old path), after the files they may lead to.
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
	if opts.TxnDir == "" {
		opts.TxnDir = TxnDir
	}
	nfs := nodefs.New(opts.Root)
	if !nfs.IsDir("/") {
		return nil, fmt.Errorf("restore into %s: not a directory", opts.Root)
	}
	res := &RestoreResult{Info: &a.info}
	res.Recovered = nfs.Recover(opts.TxnDir)
	creds := opts.Credentials
	if creds == nil {
		ctx := opts.Context
		if ctx == nil {
			ctx = context.Background()
		}
		if creds, err = ScanCredentials(ctx, opts.Root); err != nil {
			return res, fmt.Errorf("restore %s: find the node's credentials: %w; nothing was restored", archivePath, err)
		}
	}
	plan, refused := planRestore(nfs, entries, a.data, creds, opts)
	if len(refused) > 0 {
		return res, &RefusedError{Archive: archivePath, Refusals: refused}
	}
	res.Allowed = plan.allowed
	if opts.Undo != nil {
		if res.Undo, err = takeUndo(nfs, opts, plan); err != nil {
			return res, fmt.Errorf("restore %s: %w; nothing was restored", archivePath, err)
		}
	}
	if err := apply(nfs, archivePath, plan, a, opts, res); err != nil {
		return res, err
	}
	return res, nil
}

// apply carries out a plan: directories, the files' transaction, owners and
// modes, symlinks.
func apply(nfs *nodefs.FS, archivePath string, plan *restorePlan, a *archive, opts RestoreOptions, res *RestoreResult) error {
	fail := func(p planned, err error) error {
		return fmt.Errorf("restore %s into %s: %w (restored %d entries before this one; rerun the restore)", p.e.Path, opts.Root, err, len(res.Written))
	}
	for _, p := range plan.steps {
		if p.step != stepDir {
			continue
		}
		if err := nfs.MkdirAll(p.loc, p.e.Mode.Perm()); err != nil {
			return fail(p, err)
		}
		if err := fixMeta(nfs, p.loc, p.e); err != nil {
			return fail(p, err)
		}
	}
	var puts []nodefs.Put
	var changes []string
	for _, p := range plan.steps {
		switch p.step {
		case stepWrite:
			puts = append(puts, nodefs.Put{Path: p.loc, Data: a.data[p.e.Path], Mode: p.e.Mode.Perm()})
		case stepLink:
		default:
			continue
		}
		changes = append(changes, p.e.Path)
		if err := nfs.MkdirAll(path.Dir(p.loc), 0o755); err != nil {
			return fail(p, err)
		}
	}
	before := func() error {
		if opts.BeforeCommit == nil || len(changes) == 0 {
			return nil
		}
		return opts.BeforeCommit(res.Undo, changes)
	}
	if len(puts) > 0 {
		txn := &nodefs.Txn{ID: txnID(a.info.ID, opts.Now), Command: "restore " + a.info.ID, Started: opts.Now, Dir: opts.TxnDir}
		err := nfs.WriteSet(puts, nodefs.WriteOptions{Force: true, Txn: txn, BeforeCommit: before, Context: opts.Context, AfterRename: opts.afterRename})
		if err != nil {
			return fmt.Errorf("restore %s into %s: %w", archivePath, opts.Root, err)
		}
		res.Txn = txn.ID
	} else if err := before(); err != nil {
		return fmt.Errorf("restore %s into %s: %w; nothing was restored", archivePath, opts.Root, err)
	}
	touched := map[string]bool{}
	for _, p := range plan.steps {
		var err error
		switch p.step {
		case stepWrite:
			res.Written = append(res.Written, p.e.Path)
			err = chown(nfs, p.loc, p.e)
		case stepMeta:
			res.Unchanged = append(res.Unchanged, p.e.Path)
			err = fixMeta(nfs, p.loc, p.e)
			touched[path.Dir(p.loc)] = true
		case stepSame:
			res.Unchanged = append(res.Unchanged, p.e.Path)
		}
		if err != nil {
			return fail(p, err)
		}
	}
	for _, p := range plan.steps {
		if p.step != stepLink {
			continue
		}
		if err := replaceLink(nfs, p.loc, p.e.Target); err != nil {
			return fail(p, err)
		}
		res.Written = append(res.Written, p.e.Path)
		touched[path.Dir(p.loc)] = true
	}
	for dir := range touched {
		if err := nfs.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// txnID names a restore's transaction: the archive it restores and the
// caller's clock, in the characters a journal name may hold.
func txnID(archiveID string, now time.Time) string {
	clean := strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, archiveID)
	if len(clean) > 120 {
		clean = clean[:120]
	}
	return "restore-" + now.UTC().Format("20060102T150405.000000000Z") + "-" + clean
}

// takeUndo backs up every file and symlink the plan writes that exists on
// the node (content, link target, mode or owner differ): what the restore
// overwrites.
func takeUndo(nfs *nodefs.FS, opts RestoreOptions, plan *restorePlan) (*Info, error) {
	var paths []string
	for _, p := range plan.steps {
		if p.step != stepWrite && p.step != stepMeta && p.step != stepLink {
			continue
		}
		if _, err := nfs.Lstat(p.loc); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("back up %s before overwriting it: %w", p.e.Path, err)
		}
		paths = append(paths, p.loc)
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

// replaceLink makes node path loc (its directories already resolved) the
// symlink to target: created under a temporary name beside it, renamed over
// whatever file or link is there.
func replaceLink(nfs *nodefs.FS, loc, target string) error {
	tmp := tempName(loc)
	if err := nfs.Symlink(target, tmp); err != nil {
		return err
	}
	if err := nfs.Rename(tmp, loc); err != nil {
		_ = nfs.Remove(tmp)
		return err
	}
	return nil
}

// fixMeta sets a file's or directory's mode and owner where they differ.
func fixMeta(nfs *nodefs.FS, loc string, e Entry) error {
	fi, err := nfs.Lstat(loc)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != e.Mode.Perm() {
		if err := nfs.Chmod(loc, e.Mode.Perm()); err != nil {
			return err
		}
	}
	return chown(nfs, loc, e)
}

// chown gives a file or directory the entry's owner when it has another.
func chown(nfs *nodefs.FS, loc string, e Entry) error {
	fi, err := nfs.Lstat(loc)
	if err != nil {
		return err
	}
	if !sameOwner(fi, e) {
		if err := nfs.Chown(loc, e.UID, e.GID); err != nil {
			return fmt.Errorf("restore owner %d:%d: %w", e.UID, e.GID, err)
		}
	}
	return nil
}

// tempName is a symlink's temporary name beside its target (nodefs's own
// temporary names are for the files a WriteSet stages).
func tempName(nodePath string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(nodePath), ".certrescue-restore-"+hex.EncodeToString(b)+".tmp")
}
