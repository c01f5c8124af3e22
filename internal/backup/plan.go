package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// step is what a restore does with one entry.
type step int

const (
	stepSame  step = iota // already as in the backup
	stepMeta              // content right; mode or owner to fix
	stepWrite             // a file to write (in the transaction)
	stepLink              // a symlink to create or replace
	stepDir               // a directory to create or fix
)

// planned is one entry of a restore and what it takes.
type planned struct {
	e    Entry
	loc  string // node path written: the entry's path with its directories resolved on the node
	step step
}

// restorePlan is a restore decided before anything is written.
type restorePlan struct {
	steps   []planned
	allowed []string // entries restored only because the operator confirmed them
}

// after is the node as the restore will leave it: the archive's entries
// being restored laid over the node, for resolving symlinks the way a later
// renew will.
type after struct {
	n     *nodefs.FS
	links map[string]string // symlink entries: path -> target
	other map[string]bool   // file and directory entries
}

func newAfter(n *nodefs.FS, entries []Entry) *after {
	a := &after{n: n, links: map[string]string{}, other: map[string]bool{}}
	for _, e := range entries {
		if e.Type == TypeSymlink {
			a.links[e.Path] = e.Target
		} else {
			a.other[e.Path] = true
		}
	}
	return a
}

// resolve follows symlinks inside the root as nodefs does, the archive's
// entries taking the place of what the node has; with final, the last
// element is followed too.
func (a *after) resolve(p string, final bool, hops *int) (string, error) {
	if p == "/" {
		return p, nil
	}
	dir, err := a.resolve(path.Dir(p), true, hops)
	if err != nil {
		return "", err
	}
	p = path.Join(dir, path.Base(p))
	if !final {
		return p, nil
	}
	target, ok := a.links[p]
	if !ok && !a.other[p] {
		if fi, err := a.n.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = a.n.Readlink(p); err != nil {
				return "", fmt.Errorf("%s: %w", p, err)
			}
			ok = true
		}
	}
	if !ok {
		return p, nil
	}
	if *hops++; *hops > nodefs.MaxLinks {
		return "", fmt.Errorf("%s: %w", p, nodefs.ErrLinkLoop)
	}
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(p), target)
	}
	return a.resolve(path.Clean("/"+target), true, hops)
}

func (a *after) where(p string, final bool) (string, error) {
	hops := 0
	return a.resolve(p, final, &hops)
}

// planRestore decides every entry before anything is written: refused
// (outside the credentials and not allowed, certrescue's state, a database,
// an unsafe symlink, a type the node cannot take), already in place, or what
// to write. Every refusal is collected, so the operator sees them all at once.
func planRestore(n *nodefs.FS, entries []Entry, data map[string][]byte, creds *Credentials, o RestoreOptions) (*restorePlan, []Refusal) {
	protected := append([]string{StateDir}, o.Protect...)
	isProtected := func(ps ...string) bool {
		for _, p := range ps {
			if underAny(p, protected) {
				return true
			}
		}
		return false
	}
	view := newAfter(n, entries)
	// plain is the node's credentials alone; creds adds what the operator
	// confirmed (RestoreResult.Allowed lists what only that permits).
	plain := &Credentials{trees: creds.trees, globs: creds.globs, files: creds.files, names: creds.names, dirs: creds.dirs}
	creds = &Credentials{trees: creds.trees, globs: creds.globs, files: creds.files, names: creds.names, dirs: creds.dirs,
		allowed: append([]string(nil), creds.allowed...)}
	if o.AllowManifest {
		for _, e := range entries {
			creds.allowed = append(creds.allowed, e.Path)
		}
	}
	linkDirs, plainLinkDirs := linkTargets(view, entries, creds, isProtected), linkTargets(view, entries, plain, isProtected)
	var refused []Refusal
	refuse := func(e Entry, reason, allow, format string, a ...any) {
		refused = append(refused, Refusal{Path: e.Path, Reason: reason, Detail: fmt.Sprintf(format, a...), Allow: allow})
	}
	p := &restorePlan{}
	for _, e := range entries {
		loc, err := dirResolved(n, e.Path)
		if err != nil {
			refuse(e, RefuseSymlink, "", "its directory cannot be resolved on the node: %v", err)
			continue
		}
		later, err := view.where(e.Path, false)
		if err != nil {
			refuse(e, RefuseSymlink, "", "its directory cannot be resolved after the restore: %v", err)
			continue
		}
		at := ""
		if loc != e.Path {
			at = " (it would land at " + loc + ")"
		}
		if isProtected(e.Path, loc, later) {
			refuse(e, RefuseState, "", "certrescue's own state%s: the audit store, journals, locks and backups are never restored (restore an audit store with its own tools, with certrescue not running)", at)
			continue
		}
		if e.Type == TypeFile {
			if why := isDatabase(e.Path, data[e.Path]); why != "" {
				refuse(e, RefuseDatabase, "", "%s; a restore never writes a database (a live one would be corrupted): restore it with the tool that owns it, with that program stopped", why)
				continue
			}
		}
		if !fits(creds, linkDirs, e.Type, loc, later) {
			refuse(e, RefuseOutside, e.Path, "not a credential of this node%s: credentials are %s", at, creds.describe())
			continue
		}
		if !fits(plain, plainLinkDirs, e.Type, loc, later) {
			p.allowed = append(p.allowed, e.Path)
		}
		if e.Type == TypeSymlink {
			if r, bad := checkLink(view, creds, e, isProtected); bad {
				refused = append(refused, r)
				continue
			}
		}
		st, r := stepFor(n, e, loc, data[e.Path])
		if r != nil {
			refused = append(refused, *r)
			continue
		}
		p.steps = append(p.steps, planned{e: e, loc: loc, step: st})
	}
	sort.SliceStable(p.steps, func(i, j int) bool { return p.steps[i].e.Path < p.steps[j].e.Path })
	return p, refused
}

// linkTargets are the directories that stand for a credential directory
// once the restore is done: the target of an archive's symlink that replaces
// one of DefaultPaths' directories (kubespray's /etc/kubernetes/pki ->
// /etc/kubernetes/ssl makes a backup hold /etc/kubernetes/ssl and everything
// below it), when that target already holds credentials (or is confirmed)
// and is neither certrescue's state nor a directory above a default one
// (/etc/kubernetes itself would let an archive write anywhere in it).
func linkTargets(view *after, entries []Entry, c *Credentials, isProtected func(...string) bool) map[string]bool {
	out := map[string]bool{}
	for _, e := range entries {
		if e.Type != TypeSymlink {
			continue
		}
		loc, err := view.where(e.Path, false)
		if err != nil || !slices.Contains(DefaultPaths, loc) {
			continue
		}
		t, err := view.where(e.Path, true)
		if err != nil || !c.holdsTarget(t) || isProtected(t) || slices.ContainsFunc(DefaultPaths, func(d string) bool { return nodefs.IsUnder(d, t) }) {
			continue
		}
		out[t] = true
	}
	return out
}

// fits reports whether an entry of type typ, written at loc on the node and
// found at later once the restore is done, is a credential of c.
func fits(c *Credentials, linkDirs map[string]bool, typ, loc, later string) bool {
	holds := c.holdsFile
	if typ == TypeDir {
		holds = c.holdsDir
	}
	return (holds(loc) || underLinkDir(loc, linkDirs)) && (holds(later) || underLinkDir(later, linkDirs))
}

func underLinkDir(p string, dirs map[string]bool) bool {
	for d := range dirs {
		if nodefs.IsUnder(p, d) {
			return true
		}
	}
	return false
}

// checkLink refuses a symlink a later renew would follow elsewhere: one
// whose target (resolved as the node will be after the restore) is not a
// credential, is certrescue's state, is another credential's file, or is a
// directory the link itself lies in.
func checkLink(view *after, creds *Credentials, e Entry, isProtected func(...string) bool) (Refusal, bool) {
	bad := func(allow, format string, a ...any) (Refusal, bool) {
		return Refusal{Path: e.Path, Reason: RefuseSymlink, Detail: fmt.Sprintf(format, a...), Allow: allow}, true
	}
	target, err := view.where(e.Path, true)
	if err != nil {
		return bad("", "symlink to %q: %v", e.Target, err)
	}
	if isProtected(target) {
		return bad("", "symlink to %q leads into certrescue's own state (%s): never restored", e.Target, target)
	}
	if why := isDatabase(target, nil); why != "" {
		return bad("", "symlink to %q leads to a database file (%s)", e.Target, target)
	}
	if !creds.holdsTarget(target) {
		r, _ := bad("", "symlink to %q leads to %s, which is not a credential of this node: a renew would read and write it there", e.Target, target)
		r.Target = target
		return r, true
	}
	if creds.foreign(e.Path, target) {
		return bad("", "symlink to %q makes %s (%s) lead to %s (%s): a renew of one would overwrite the other",
			e.Target, e.Path, strings.Join(creds.names[e.Path], ", "), target, strings.Join(creds.names[target], ", "))
	}
	if nodefs.IsUnder(path.Dir(e.Path), target) {
		return bad("", "symlink to %q makes %s lead to %s, a directory the link itself lies in: its files would alias others", e.Target, e.Path, target)
	}
	return Refusal{}, false
}

// stepFor compares an entry with what the node has at loc: a conflict is a
// refusal (a directory where the backup has a file, a symlink where it has a
// file, which a write would follow, a FIFO, socket or device).
func stepFor(n *nodefs.FS, e Entry, loc string, data []byte) (step, *Refusal) {
	conflict := func(format string, a ...any) (step, *Refusal) {
		return 0, &Refusal{Path: e.Path, Reason: RefuseType, Detail: fmt.Sprintf(format, a...)}
	}
	fi, err := n.Lstat(loc)
	if errors.Is(err, fs.ErrNotExist) {
		switch e.Type {
		case TypeDir:
			return stepDir, nil
		case TypeSymlink:
			return stepLink, nil
		}
		return stepWrite, nil
	}
	if err != nil {
		return conflict("cannot be examined on the node: %v", err)
	}
	isLink := fi.Mode()&fs.ModeSymlink != 0
	switch e.Type {
	case TypeDir:
		if !fi.IsDir() {
			return conflict("a directory in the backup, %s on the node: move it away first", nodefs.DescribeType(fi.Mode()))
		}
		return stepDir, nil
	case TypeSymlink:
		if fi.IsDir() {
			return conflict("a symlink in the backup, a directory on the node: move it away first")
		}
		if isLink {
			if cur, err := n.Readlink(loc); err == nil && cur == e.Target {
				return stepSame, nil
			}
		} else if !fi.Mode().IsRegular() {
			return conflict("a symlink in the backup, %s on the node: move it away first", nodefs.DescribeType(fi.Mode()))
		}
		return stepLink, nil
	}
	switch {
	case isLink:
		target, _ := n.Readlink(loc)
		return conflict("a file in the backup, a symlink on the node (to %q): the restore would write through it; remove the link and rerun, or restore the other paths on their own", target)
	case !fi.Mode().IsRegular():
		return conflict("a file in the backup, %s on the node: move it away first", nodefs.DescribeType(fi.Mode()))
	}
	if fi.Size() == e.Size {
		if cur, err := n.ReadFile(loc, MaxFileSize); err == nil && bytes.Equal(cur.Data, data) {
			if fi.Mode().Perm() != e.Mode.Perm() || !sameOwner(fi, e) {
				return stepMeta, nil
			}
			return stepSame, nil
		}
	}
	return stepWrite, nil
}

func sameOwner(fi fs.FileInfo, e Entry) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || (int(st.Uid) == e.UID && int(st.Gid) == e.GID)
}
