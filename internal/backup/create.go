package backup

import (
	"archive/tar"
	"bufio"
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
	tmp, err := os.CreateTemp(opts.Dir, ".backup-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("back up to %s: %w", opts.Dir, err)
	}
	tmpName := tmp.Name()
	fail := func(err error) (*Info, error) {
		tmp.Close()
		os.Remove(tmpName)
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("back up to %s: the disk is full (%w); nothing was changed: free space there or choose another --backup-dir", opts.Dir, err)
		}
		return nil, fmt.Errorf("back up to %s: %w", opts.Dir, err)
	}
	if err := tmp.Chmod(ArchiveMode); err != nil {
		return fail(err)
	}
	var w io.Writer = tmp
	if opts.wrap != nil {
		w = opts.wrap(w)
	}
	if err := writeArchive(w, m, items); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	final, err := linkUnique(tmpName, opts.Dir, opts.Prefix+"-"+opts.Now.UTC().Format("20060102T150405Z"))
	os.Remove(tmpName)
	if err != nil {
		return nil, fmt.Errorf("back up to %s: %w", opts.Dir, err)
	}
	if err := syncDir(opts.Dir); err != nil {
		return nil, err
	}
	info, err := Verify(final)
	if err != nil {
		os.Remove(final)
		return nil, fmt.Errorf("backup %s failed verification right after writing (removed): %w", final, err)
	}
	return info, nil
}

// collect walks the requested paths under the root, reading every file once.
func collect(opts Options, m *Manifest) ([]collected, error) {
	byPath := map[string]collected{}
	var total int64
	dirReal, _ := filepath.Abs(opts.Dir)
	add := func(real string) error {
		rel, err := filepath.Rel(opts.Root, real)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return nil
		}
		nodePath := "/" + filepath.ToSlash(rel)
		if _, ok := byPath[nodePath]; ok {
			return nil
		}
		fi, err := os.Lstat(real)
		if err != nil {
			return fmt.Errorf("back up %s: %w", real, err)
		}
		e := Entry{Path: nodePath, Mode: Mode(fi.Mode().Perm()), MTime: fi.ModTime().UTC()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = int(st.Uid), int(st.Gid)
		}
		var data []byte
		switch {
		case fi.Mode().IsRegular():
			if fi.Size() > MaxFileSize {
				return fmt.Errorf("back up %s: %d bytes, larger than the %d-byte limit for one file (is something other than credentials in there?)", real, fi.Size(), MaxFileSize)
			}
			data, err = os.ReadFile(real)
			if err != nil {
				return fmt.Errorf("back up %s: %w", real, err)
			}
			sum := sha256.Sum256(data)
			e.Type, e.Size, e.SHA256 = TypeFile, int64(len(data)), hex.EncodeToString(sum[:])
			total += e.Size
			if total > MaxTotalSize {
				return fmt.Errorf("back up: more than %d bytes under %v; narrow --path", MaxTotalSize, opts.Paths)
			}
		case fi.IsDir():
			e.Type = TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(real)
			if err != nil {
				return fmt.Errorf("back up %s: %w", real, err)
			}
			e.Type, e.Target = TypeSymlink, target
		default:
			m.Skipped = append(m.Skipped, nodePath)
			return nil
		}
		byPath[nodePath] = collected{entry: e, data: data}
		if len(byPath) > MaxEntries {
			return fmt.Errorf("back up: more than %d entries under %v; narrow --path", MaxEntries, opts.Paths)
		}
		return nil
	}
	walk := func(p string, glob bool) error {
		if err := checkNodePath(path.Clean(p)); err != nil || !path.IsAbs(p) {
			return fmt.Errorf("backup path %q: want an absolute node path such as /etc/kubernetes/pki", p)
		}
		real := filepath.Join(opts.Root, filepath.FromSlash(path.Clean(p)))
		matches := []string{real}
		if glob {
			var err error
			if matches, err = filepath.Glob(real); err != nil {
				return fmt.Errorf("backup path %q: %w", p, err)
			}
		} else if _, err := os.Lstat(real); errors.Is(err, fs.ErrNotExist) {
			matches = nil
		}
		if len(matches) == 0 && !slices.Contains(m.Missing, p) {
			m.Missing = append(m.Missing, p)
		}
		for _, match := range matches {
			err := filepath.WalkDir(match, func(real string, d fs.DirEntry, err error) error {
				if err != nil {
					return fmt.Errorf("back up %s: %w", real, err)
				}
				if d.IsDir() && real == dirReal {
					return filepath.SkipDir // never back up the backups
				}
				return add(real)
			})
			if err != nil {
				return err
			}
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
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("backups directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("backups directory %s: %w", dir, err)
	}
	return nil
}

// linkUnique hard-links tmp to dir/base.tar.gz, or base-2, base-3, ... when
// taken: a link never replaces an existing archive.
func linkUnique(tmp, dir, base string) (string, error) {
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		final := filepath.Join(dir, name+archiveExt)
		err := os.Link(tmp, final)
		if err == nil {
			return final, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("too many backups named %s", base)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
