package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Entry types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// ManifestName is the first member of every archive.
const ManifestName = "manifest.json"

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Limits on what an archive may hold; real backups are a few hundred kilobytes.
const (
	MaxEntries      = 100_000
	MaxFileSize     = 32 << 20  // one member
	MaxTotalSize    = 256 << 20 // all members, uncompressed
	MaxManifestSize = 8 << 20
	maxPathLen      = 4096
)

// Manifest describes an archive's contents.
type Manifest struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Paths are the node paths and globs that were asked for.
	Paths []string `json:"paths"`
	// Missing are requested paths that did not exist on the node.
	Missing []string `json:"missing,omitempty"`
	// Skipped are special files (sockets, devices) that were left out.
	Skipped []string `json:"skipped,omitempty"`
	Entries []Entry  `json:"entries"`
}

// Entry is one file, directory or symlink of a backup.
type Entry struct {
	Path   string    `json:"path"` // absolute node path: /etc/kubernetes/pki/ca.crt
	Type   string    `json:"type"` // file, dir or symlink
	Mode   Mode      `json:"mode"` // permission bits
	UID    int       `json:"uid"`
	GID    int       `json:"gid"`
	Size   int64     `json:"size,omitempty"`
	SHA256 string    `json:"sha256,omitempty"` // files: hex sha256 of the content
	Target string    `json:"target,omitempty"` // symlinks: the link target, verbatim
	MTime  time.Time `json:"mtime"`
}

// Mode is a permission mode that reads and writes as an octal string ("0600").
type Mode fs.FileMode

// MarshalText writes the mode as four octal digits.
func (m Mode) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%04o", uint32(m)), nil }

// UnmarshalText reads an octal mode.
func (m *Mode) UnmarshalText(b []byte) error {
	var v uint32
	if len(b) == 0 || len(b) > 6 {
		return fmt.Errorf("mode %q: want octal digits such as 0600", b)
	}
	for _, c := range b {
		if c < '0' || c > '7' {
			return fmt.Errorf("mode %q: want octal digits such as 0600", b)
		}
		v = v*8 + uint32(c-'0')
	}
	*m = Mode(v)
	return nil
}

// Perm returns the mode as fs.FileMode permission bits.
func (m Mode) Perm() fs.FileMode { return fs.FileMode(m) & fs.ModePerm }

// ErrUnsafe is wrapped by every refusal of an archive entry that could write
// outside the root or create something other than a file, directory or symlink.
var ErrUnsafe = errors.New("unsafe archive entry")

// ErrCorrupt is wrapped when an archive does not match its manifest.
var ErrCorrupt = errors.New("archive does not match its manifest")

// memberName is the tar member name of a node path.
func memberName(nodePath string) string { return strings.TrimPrefix(nodePath, "/") }

// checkNodePath accepts only clean absolute paths below "/" with no ".."
// element, no NUL and a sane length.
func checkNodePath(p string) error {
	switch {
	case p == "" || p[0] != '/':
		return fmt.Errorf("%w: path %q is not absolute", ErrUnsafe, p)
	case len(p) > maxPathLen:
		return fmt.Errorf("%w: path of %d bytes is too long", ErrUnsafe, len(p))
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: path %q contains NUL", ErrUnsafe, p)
	case p == "/":
		return fmt.Errorf("%w: path %q is the root itself", ErrUnsafe, p)
	}
	for _, el := range strings.Split(p[1:], "/") {
		if el == ".." {
			return fmt.Errorf("%w: path %q contains \"..\"", ErrUnsafe, p)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("%w: path %q is not clean (want %q)", ErrUnsafe, p, path.Clean(p))
	}
	return nil
}

// validate checks a manifest on its own: known version, safe paths, allowed
// types and modes, no duplicates, and no entry below a symlink entry (a symlink
// followed by a file through it).
func (m *Manifest) validate() error {
	if m.Version != FormatVersion {
		return fmt.Errorf("%s: version %d: this certrescue reads version %d", ManifestName, m.Version, FormatVersion)
	}
	if len(m.Entries) > MaxEntries {
		return fmt.Errorf("%s: %d entries, more than the %d limit", ManifestName, len(m.Entries), MaxEntries)
	}
	seen := make(map[string]string, len(m.Entries))
	var total int64
	for i, e := range m.Entries {
		where := fmt.Sprintf("%s: entries[%d]", ManifestName, i)
		if err := checkNodePath(e.Path); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if _, dup := seen[e.Path]; dup {
			return fmt.Errorf("%s: %w: %s listed twice", where, ErrUnsafe, e.Path)
		}
		seen[e.Path] = e.Type
		if fs.FileMode(e.Mode)&^fs.ModePerm != 0 {
			return fmt.Errorf("%s: %w: %s has mode %04o: only permission bits are restored (no setuid, setgid or sticky)", where, ErrUnsafe, e.Path, uint32(e.Mode))
		}
		if e.UID < 0 || e.GID < 0 || e.UID > 1<<31-2 || e.GID > 1<<31-2 {
			return fmt.Errorf("%s: %s: uid %d / gid %d out of range", where, e.Path, e.UID, e.GID)
		}
		switch e.Type {
		case TypeFile:
			if e.Size < 0 || e.Size > MaxFileSize {
				return fmt.Errorf("%s: %s: size %d outside 0..%d", where, e.Path, e.Size, MaxFileSize)
			}
			if len(e.SHA256) != 64 {
				return fmt.Errorf("%s: %s: sha256 %q is not 64 hex digits", where, e.Path, e.SHA256)
			}
			total += e.Size
		case TypeDir:
		case TypeSymlink:
			if e.Target == "" || len(e.Target) > maxPathLen || strings.ContainsRune(e.Target, 0) {
				return fmt.Errorf("%s: %s: bad symlink target %q", where, e.Path, e.Target)
			}
		default:
			return fmt.Errorf("%s: %w: %s has type %q: only file, dir and symlink are restored (no hard links, devices or FIFOs)", where, ErrUnsafe, e.Path, e.Type)
		}
	}
	if total > MaxTotalSize {
		return fmt.Errorf("%s: %d bytes in total, more than the %d limit", ManifestName, total, MaxTotalSize)
	}
	for _, e := range m.Entries {
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			switch seen[dir] {
			case TypeSymlink:
				return fmt.Errorf("%s: %w: %s lies below the symlink %s: a restore would write through the link", ManifestName, ErrUnsafe, e.Path, dir)
			case TypeFile:
				return fmt.Errorf("%s: %w: %s lies below the file %s", ManifestName, ErrUnsafe, e.Path, dir)
			}
		}
	}
	return nil
}

// Files returns the number of regular files in the manifest.
func (m *Manifest) Files() int {
	n := 0
	for _, e := range m.Entries {
		if e.Type == TypeFile {
			n++
		}
	}
	return n
}

// ErrIncomplete is wrapped when a backup lacks files it was made to hold.
var ErrIncomplete = errors.New("the backup does not hold every file it must")

// ErrTooLarge is wrapped when what a backup would hold passes its caps
// (MaxFileSize, MaxTotalSize, MaxEntries): credentials are small, so the paths
// asked for are wider than they need to be.
var ErrTooLarge = errors.New("more than a backup of credentials holds")

// ErrDiskFull is wrapped when the backup directory's disk is full; nothing was
// changed.
var ErrDiskFull = errors.New("the disk is full")

// Lacks returns the paths that are neither an entry of the manifest (file or
// symlink) nor listed as missing from the node when it was taken: what a
// restore of this archive could not bring back.
func (m *Manifest) Lacks(paths []string) []string {
	held := make(map[string]bool, len(m.Entries)+len(m.Missing))
	for _, e := range m.Entries {
		if e.Type == TypeFile || e.Type == TypeSymlink {
			held[e.Path] = true
		}
	}
	for _, p := range m.Missing {
		held[p] = true
	}
	var out []string
	for _, p := range paths {
		if !held[path.Clean(p)] {
			out = append(out, p)
		}
	}
	return out
}

// Find returns the entry for a node path.
func (m *Manifest) Find(nodePath string) (Entry, bool) {
	for _, e := range m.Entries {
		if e.Path == nodePath {
			return e, true
		}
	}
	return Entry{}, false
}
