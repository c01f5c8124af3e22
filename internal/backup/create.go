package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// DefaultPaths are what a backup holds unless told otherwise: every kubeadm
// credential, kubeconfig and static pod manifest, and the kubelet's own PKI.
var DefaultPaths = []string{
	"/etc/kubernetes/pki",
	"/etc/kubernetes/*.conf",
	"/etc/kubernetes/manifests",
	"/var/lib/kubelet/pki",
}

// DefaultDir is where backups are kept, as a node path.
const DefaultDir = "/var/lib/certrescue/backups"

// DirMode is the mode of the backups directory: archives hold private keys.
const DirMode fs.FileMode = 0o700

// ArchiveMode is the mode of an archive.
const ArchiveMode fs.FileMode = 0o600

const archiveExt = ".tar.gz"

// Prefixes of archive names: a backup taken before a change, and the undo
// archive a restore takes of what it is about to overwrite.
const (
	PrefixBackup = "certrescue-backup"
	PrefixUndo   = "certrescue-undo"
)

// Options says what to back up and where.
type Options struct {
	Root  string   // node root: "/" on the node itself, or where its disk is mounted
	Paths []string // absolute node paths or globs; DefaultPaths when empty and Files is empty
	// Files are node paths taken as they are (no globbing): the files a
	// change will replace and the ones it relies on. A file that does not
	// exist is listed in the manifest's Missing.
	Files []string
	Dir   string    // backups directory, a real path (already under Root)
	Now   time.Time // names the archive and stamps the manifest
	// Prefix starts the archive's name; PrefixBackup when empty.
	Prefix string
	// wrap, when set, wraps the archive file's writer (tests simulate a full disk).
	wrap func(io.Writer) io.Writer
}

// Info is one archive.
type Info struct {
	ID       string // file name without .tar.gz: certrescue-backup-20260102T030405Z
	Path     string
	Size     int64
	Manifest *Manifest
}

type collected struct {
	entry Entry
	data  []byte
}

// Create snapshots the paths into a new archive in opts.Dir and verifies it.
// On any error (a full disk, an unreadable file) the partial archive is removed
// and nothing else has been touched.
func Create(opts Options) (*Info, error) {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if len(opts.Paths) == 0 && len(opts.Files) == 0 {
		opts.Paths = DefaultPaths
	}
	if opts.Prefix == "" {
		opts.Prefix = PrefixBackup
	}
	if opts.Dir == "" {
		return nil, errors.New("backup: no backups directory given")
	}
	m := &Manifest{Version: FormatVersion, Created: opts.Now.UTC(), Paths: append(append([]string(nil), opts.Paths...), opts.Files...)}
	items, err := collect(opts, m)
	if err != nil {
		return nil, err
	}
	if err := ensureDir(opts.Dir); err != nil {
		return nil, err
	}
	// The archive is built in memory (it holds credentials: a few hundred
	// kilobytes, MaxTotalSize at most) and written with nodefs's one atomic
	// writer, never over an existing archive.
	var buf bytes.Buffer
	var w io.Writer = &buf
	if opts.wrap != nil {
		w = opts.wrap(w)
	}
	fail := func(err error) (*Info, error) {
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("back up to %s: %w (%w); nothing was changed: free space there", opts.Dir, ErrDiskFull, err)
		}
		return nil, fmt.Errorf("back up to %s: %w", opts.Dir, err)
	}
	if err := writeArchive(w, m, items); err != nil {
		return fail(err)
	}
	final, err := writeUnique(opts.Dir, opts.Prefix+"-"+opts.Now.UTC().Format("20060102T150405Z"), buf.Bytes())
	if err != nil {
		return fail(err)
	}
	info, err := Verify(final)
	if err != nil {
		os.Remove(final)
		return nil, fmt.Errorf("backup %s failed verification right after writing (removed): %w", final, err)
	}
	return info, nil
}

// collect walks the requested paths through the node's view of its disk
// (symlinks resolve inside the root), reading every file once. Entries are
// named by node paths whose directories are resolved, so no entry lies below
// a symlink entry; a symlink is kept as a link, and the file or directory it
// leads to is taken too when the link was asked for by name (or leads to a
// file), so a backup of /etc/kubernetes/pki -> ssl holds ssl's files.
func collect(opts Options, m *Manifest) ([]collected, error) {
	nfs := nodefs.New(opts.Root)
	skip := backupsNodeDir(nfs, opts.Dir)
	byPath := map[string]collected{}
	var total int64
	var add func(np string, top bool) error
	add = func(np string, top bool) error {
		if np == "/" || (skip != "" && nodefs.IsUnder(np, skip)) {
			return nil // never the whole node, never the backups themselves
		}
		if nodefs.IsUnder(np, StateDir) {
			// certrescue's own state (the audit store, journals, locks) is
			// never restored, so never backed up: a copy of a live database
			// taken file by file is not a database.
			if !slices.Contains(m.Skipped, np) {
				m.Skipped = append(m.Skipped, np)
			}
			return nil
		}
		if _, ok := byPath[np]; ok {
			return nil
		}
		fi, err := nfs.Lstat(np)
		if err != nil {
			return fmt.Errorf("back up %s: %w", np, err)
		}
		e := Entry{Path: np, Mode: Mode(fi.Mode().Perm()), MTime: fi.ModTime().UTC()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = int(st.Uid), int(st.Gid)
		}
		var data []byte
		var follow string
		switch {
		case fi.Mode().IsRegular():
			f, err := nfs.ReadFile(np, MaxFileSize)
			if err != nil {
				if errors.Is(err, nodefs.ErrTooLarge) {
					return fmt.Errorf("back up %s: %w (%w: a file larger than %d bytes is not a credential)", np, err, ErrTooLarge, MaxFileSize)
				}
				return fmt.Errorf("back up %s: %w", np, err)
			}
			data = f.Data
			sum := sha256.Sum256(data)
			e.Type, e.Size, e.SHA256 = TypeFile, int64(len(data)), hex.EncodeToString(sum[:])
			total += e.Size
			if total > MaxTotalSize {
				return fmt.Errorf("back up: more than %d bytes under %v: %w", MaxTotalSize, opts.Paths, ErrTooLarge)
			}
		case fi.IsDir():
			e.Type = TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := nfs.Readlink(np)
			if err != nil {
				return fmt.Errorf("back up %s: %w", np, err)
			}
			e.Type, e.Target = TypeSymlink, target
			if r, err := nfs.Resolve(np); err == nil && r != np && (top || nfs.IsRegular(r)) && nfs.Exists(r) {
				follow = r
			}
		default:
			m.Skipped = append(m.Skipped, np)
			return nil
		}
		byPath[np] = collected{entry: e, data: data}
		if len(byPath) > MaxEntries {
			return fmt.Errorf("back up: more than %d entries under %v: %w", MaxEntries, opts.Paths, ErrTooLarge)
		}
		if follow != "" {
			return add(follow, top)
		}
		if e.Type != TypeDir {
			return nil
		}
		des, err := nfs.ReadDir(np)
		if err != nil {
			return fmt.Errorf("back up %s: %w", np, err)
		}
		for _, de := range des {
			if err := add(path.Join(np, de.Name()), false); err != nil {
				return err
			}
		}
		return nil
	}
	walk := func(p string, glob bool) error {
		if err := checkNodePath(path.Clean(p)); err != nil || !path.IsAbs(p) {
			return fmt.Errorf("backup path %q: want an absolute node path such as /etc/kubernetes/pki", p)
		}
		matches := []string{path.Clean(p)}
		if glob {
			var err error
			if matches, err = globNode(nfs, path.Clean(p)); err != nil {
				return fmt.Errorf("backup path %q: %w", p, err)
			}
		}
		found := 0
		for _, match := range matches {
			np, err := dirResolved(nfs, match)
			if err != nil {
				return fmt.Errorf("back up %s: %w", match, err)
			}
			if _, err := nfs.Lstat(np); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			found++
			if err := add(np, true); err != nil {
				return err
			}
		}
		if found == 0 && !slices.Contains(m.Missing, p) {
			m.Missing = append(m.Missing, p)
		}
		return nil
	}
	for _, p := range opts.Paths {
		if err := walk(p, true); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Files {
		if err := walk(p, false); err != nil {
			return nil, err
		}
	}
	items := make([]collected, 0, len(byPath))
	for _, c := range byPath {
		items = append(items, c)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].entry.Path < items[j].entry.Path })
	for _, c := range items {
		m.Entries = append(m.Entries, c.entry)
	}
	return items, m.validate()
}

// dirResolved is a node path with the symlinks of its directories resolved
// inside the node; the last element is kept (a link stays a link).
func dirResolved(nfs *nodefs.FS, p string) (string, error) {
	dir, err := nfs.Resolve(path.Dir(p))
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

// globNode expands a node path pattern (path.Match syntax in any element)
// through the node's view, sorted.
func globNode(nfs *nodefs.FS, pattern string) ([]string, error) {
	out := []string{"/"}
	for _, el := range strings.Split(strings.TrimPrefix(pattern, "/"), "/") {
		if _, err := path.Match(el, ""); err != nil {
			return nil, err
		}
		var next []string
		for _, dir := range out {
			if !strings.ContainsAny(el, `*?[\`) {
				next = append(next, path.Join(dir, el))
				continue
			}
			des, err := nfs.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, de := range des {
				if ok, _ := path.Match(el, de.Name()); ok {
					next = append(next, path.Join(dir, de.Name()))
				}
			}
		}
		out = next
	}
	sort.Strings(out)
	return out, nil
}

// backupsNodeDir is the node path of the backups directory when it lies
// under the root ("" otherwise): a backup never holds the backups.
func backupsNodeDir(nfs *nodefs.FS, dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(nfs.Root(), abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return ""
	}
	np := "/" + filepath.ToSlash(rel)
	if r, err := nfs.Resolve(np); err == nil {
		return r
	}
	return path.Clean(np)
}

func writeArchive(w io.Writer, m *Manifest, items []collected) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := gzip.NewWriter(bw)
	tw := tar.NewWriter(zw)
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mj)), ModTime: m.Created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(mj); err != nil {
		return err
	}
	for _, c := range items {
		e := c.entry
		h := &tar.Header{Name: memberName(e.Path), Mode: int64(e.Mode), Uid: e.UID, Gid: e.GID, ModTime: e.MTime, Format: tar.FormatPAX}
		switch e.Type {
		case TypeFile:
			h.Typeflag, h.Size = tar.TypeReg, e.Size
		case TypeDir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case TypeSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.Type == TypeFile {
			if _, err := tw.Write(c.data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// ensureDir makes the backups directory 0700, tightening an existing one.
func ensureDir(dir string) error {
	if err := nodefs.Host().MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("backups directory %s: %w", dir, err)
	}
	if err := nodefs.Host().Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("backups directory %s: %w", dir, err)
	}
	return nil
}

// writeUnique writes an archive to dir/base.tar.gz, or base-2, base-3, ...
// when taken: an archive never replaces another.
func writeUnique(dir, base string, data []byte) (string, error) {
	host := nodefs.Host()
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		final := filepath.Join(dir, name+archiveExt)
		err := host.Write(final, data, ArchiveMode, false)
		if err == nil {
			return final, nil
		}
		if !errors.Is(err, nodefs.ErrExists) {
			return "", err
		}
	}
	return "", fmt.Errorf("too many backups named %s", base)
}
