package hardening

import (
	"encoding/pem"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Modes the field guide asks for.
const (
	KeyMode   fs.FileMode = 0o600 // private keys (0400 with --key-mode)
	CAKeyMode fs.FileMode = 0o400 // CA private keys: read-only even for the owner
	DirMode   fs.FileMode = 0o700 // directories holding keys
)

// DefaultDirs are the node directories hardened when none is given.
var DefaultDirs = []string{"/etc/kubernetes/pki"}

// Kinds of things a Change applies to.
const (
	KindKey   = "private key"
	KindCAKey = "CA private key"
	KindDir   = "directory"
)

// Change is one mode change: what Plan wants and Apply does.
type Change struct {
	Path string      `json:"path"`
	Kind string      `json:"kind"`
	From fs.FileMode `json:"from"`
	To   fs.FileMode `json:"to"`
}

func (c Change) String() string {
	return fmt.Sprintf("%s %s: %04o -> %04o", c.Kind, c.Path, c.From.Perm(), c.To.Perm())
}

// Skip is something Plan saw and left alone, with why.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Options say where to look and which modes to set.
type Options struct {
	FS        *nodefs.FS  // the node's disk
	Dirs      []string    // node paths
	KeyMode   fs.FileMode // default KeyMode
	CAKeyMode fs.FileMode // default CAKeyMode
	DirMode   fs.FileMode // default DirMode
}

// maxKeyFile caps what is read to decide whether a file is a key.
const maxKeyFile = 1 << 20

// Plan walks each directory (not following symbolic links) and lists the mode
// changes needed: directories to DirMode, private keys (files that parse as one,
// or hold an encrypted key) to KeyMode, CA keys to CAKeyMode. A mode already at
// least as strict is left alone: Plan never loosens. Certificates and other
// files are not touched. It changes nothing.
func Plan(o Options) ([]Change, []Skip, error) {
	if o.KeyMode == 0 {
		o.KeyMode = KeyMode
	}
	if o.CAKeyMode == 0 {
		o.CAKeyMode = CAKeyMode
	}
	if o.DirMode == 0 {
		o.DirMode = DirMode
	}
	if o.FS == nil {
		o.FS = nodefs.Host()
	}
	var changes []Change
	var skips []Skip
	for _, dir := range o.Dirs {
		if err := plan(o, dir, true, &changes, &skips); err != nil {
			return nil, nil, fmt.Errorf("harden %s: %w", dir, err)
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, skips, nil
}

// plan looks at p (a directory when top) without following symbolic links.
func plan(o Options, p string, top bool, changes *[]Change, skips *[]Skip) error {
	info, err := o.FS.Lstat(p)
	if err != nil {
		if top {
			return err
		}
		*skips = append(*skips, Skip{p, err.Error()})
		return nil
	}
	mode := info.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		if top {
			return fmt.Errorf("is a symbolic link, not followed (harden its target)")
		}
		if isKeyName(p) {
			*skips = append(*skips, Skip{p, "symbolic link, not followed (harden its target)"})
		}
	case mode.IsDir():
		*changes = appendIfLooser(*changes, p, KindDir, mode, o.DirMode)
		entries, err := o.FS.ReadDir(p)
		if err != nil {
			if top {
				return err
			}
			*skips = append(*skips, Skip{p, err.Error()})
			return nil
		}
		for _, e := range entries {
			if err := plan(o, path.Join(p, e.Name()), false, changes, skips); err != nil {
				return err
			}
		}
	case mode.IsRegular():
		isKey, why := keyFile(o.FS, p, info.Size())
		switch {
		case why != "":
			*skips = append(*skips, Skip{p, why})
		case isKey && isCAKey(p):
			*changes = appendIfLooser(*changes, p, KindCAKey, mode, o.CAKeyMode)
		case isKey:
			*changes = appendIfLooser(*changes, p, KindKey, mode, o.KeyMode)
		}
	}
	return nil
}

// appendIfLooser adds a change when mode allows anything target does not.
func appendIfLooser(changes []Change, path, kind string, mode, target fs.FileMode) []Change {
	if mode.Perm()&^target == 0 && mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == 0 {
		return changes
	}
	to := mode.Perm() & target
	if to&0o400 == 0 || (kind == KindDir && to&0o100 == 0) {
		to = target // never lock the owner out
	}
	return append(changes, Change{Path: path, Kind: kind, From: mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), To: to})
}

// keyFile says whether the file at p holds a private key; why is set when the
// file could not be read.
func keyFile(n *nodefs.FS, p string, size int64) (isKey bool, why string) {
	if size > maxKeyFile || size == 0 {
		return false, ""
	}
	f, err := n.ReadFile(p, maxKeyFile)
	if err != nil {
		return false, err.Error()
	}
	data := f.Data
	if _, err := pki.ParsePrivateKeyPEM(data); err == nil {
		return true, ""
	}
	// An encrypted or damaged key is still key material.
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return false, ""
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return true, ""
		}
	}
}

// isCAKey recognises the CA keys of kubeadm (ca.key, etcd/ca.key,
// front-proxy-ca.key) and cfssl (ca-key.pem, *-ca-key.pem).
func isCAKey(p string) bool {
	b := path.Base(p)
	return b == "ca.key" || b == "front-proxy-ca.key" || strings.HasSuffix(b, "ca-key.pem")
}

func isKeyName(p string) bool {
	b := path.Base(p)
	return strings.HasSuffix(b, ".key") || strings.HasSuffix(b, "-key.pem")
}

// Apply makes one change, checking first that the file is still what Plan saw
// (same mode, not replaced by a symbolic link).
func Apply(n *nodefs.FS, c Change) error {
	fi, err := n.Lstat(c.Path)
	if err != nil {
		return fmt.Errorf("chmod %s: %w", c.Path, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("chmod %s: became a symbolic link since it was checked; not followed", c.Path)
	}
	if got := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky); got != c.From {
		return fmt.Errorf("chmod %s: mode changed to %04o since it was checked (was %04o); run harden again", c.Path, got, c.From)
	}
	if err := n.Chmod(c.Path, c.To); err != nil {
		return fmt.Errorf("chmod %s: %w", c.Path, err)
	}
	return nil
}
