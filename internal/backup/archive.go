package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// archive is a fully read and verified backup: its manifest and the content of
// every file, keyed by node path.
type archive struct {
	info Info
	data map[string][]byte
}

// Verify reads a whole archive and checks it against its manifest: every
// member listed, safe and of an allowed type, every checksum and size right,
// nothing missing or extra. It returns the archive's Info.
func Verify(path string) (*Info, error) {
	a, err := readArchive(path)
	if err != nil {
		return nil, err
	}
	return &a.info, nil
}

// ReadManifest reads only an archive's manifest (for listings); it checks the
// manifest but not the members. Use Verify before relying on an archive.
func ReadManifest(path string) (*Info, error) {
	f, size, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("backup %s: not a gzip archive: %w", path, err)
	}
	m, err := readManifest(tar.NewReader(io.LimitReader(zr, MaxManifestSize+64<<10)))
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", path, err)
	}
	return &Info{ID: idOf(path), Path: path, Size: size, Manifest: m}, nil
}

// ReadArchive is Verify's bytes as well: only callers that restore need them.
func readArchive(path string) (*archive, error) {
	f, size, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", path, err)
	}
	a.info.ID, a.info.Path, a.info.Size = idOf(path), path, size
	return a, nil
}

func openArchive(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("backup %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("backup %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("backup %s: not a regular file", path)
	}
	if fi.Size() > MaxTotalSize {
		f.Close()
		return nil, 0, fmt.Errorf("backup %s: %d bytes, larger than the %d-byte limit", path, fi.Size(), MaxTotalSize)
	}
	return f, fi.Size(), nil
}

func idOf(path string) string { return strings.TrimSuffix(filepath.Base(path), archiveExt) }

// decode reads and verifies an archive stream. It never panics and reads at
// most MaxTotalSize plus the manifest of decompressed bytes.
func decode(r io.Reader) (*archive, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	lr := &io.LimitedReader{R: zr, N: MaxTotalSize + MaxManifestSize + 16<<20}
	tr := tar.NewReader(lr)
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	want := make(map[string]Entry, len(m.Entries))
	for _, e := range m.Entries {
		want[e.Path] = e
	}
	a := &archive{info: Info{Manifest: m}, data: map[string][]byte{}}
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("%w: more than %d bytes decompressed", ErrCorrupt, MaxTotalSize)
			}
			return nil, fmt.Errorf("%w: read tar: %w", ErrCorrupt, err)
		}
		nodePath, err := memberPath(h)
		if err != nil {
			return nil, err
		}
		if seen[nodePath] {
			return nil, fmt.Errorf("%w: member %q appears twice", ErrUnsafe, h.Name)
		}
		seen[nodePath] = true
		e, ok := want[nodePath]
		if !ok {
			return nil, fmt.Errorf("%w: member %q is not in %s", ErrCorrupt, h.Name, ManifestName)
		}
		if err := checkMember(h, e, tr, a); err != nil {
			return nil, err
		}
	}
	// Read to the end of the gzip stream so its CRC is checked too.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	for _, e := range m.Entries {
		if !seen[e.Path] {
			return nil, fmt.Errorf("%w: %s is listed in %s but missing from the archive", ErrCorrupt, e.Path, ManifestName)
		}
	}
	return a, nil
}

func readManifest(tr *tar.Reader) (*Manifest, error) {
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: read first member: %w", ErrCorrupt, err)
	}
	if h.Name != ManifestName || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: the first member is %q, want the regular file %s", ErrCorrupt, h.Name, ManifestName)
	}
	if h.Size > MaxManifestSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d-byte limit", ManifestName, h.Size, MaxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(tr, MaxManifestSize))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrCorrupt, ManifestName, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// memberPath turns a tar member name into a node path, refusing absolute and
// ".." names and every member type other than file, directory and symlink.
func memberPath(h *tar.Header) (string, error) {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
	case tar.TypeLink:
		return "", fmt.Errorf("%w: member %q is a hard link (to %q)", ErrUnsafe, h.Name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return "", fmt.Errorf("%w: member %q is a device file", ErrUnsafe, h.Name)
	case tar.TypeFifo:
		return "", fmt.Errorf("%w: member %q is a FIFO", ErrUnsafe, h.Name)
	default:
		return "", fmt.Errorf("%w: member %q has tar type %q", ErrUnsafe, h.Name, h.Typeflag)
	}
	if strings.HasPrefix(h.Name, "/") {
		return "", fmt.Errorf("%w: member %q has an absolute name", ErrUnsafe, h.Name)
	}
	name := h.Name
	if h.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	p := "/" + name
	if err := checkNodePath(p); err != nil {
		return "", fmt.Errorf("member %q: %w", h.Name, err)
	}
	return p, nil
}

func checkMember(h *tar.Header, e Entry, tr *tar.Reader, a *archive) error {
	typ := map[byte]string{tar.TypeReg: TypeFile, tar.TypeDir: TypeDir, tar.TypeSymlink: TypeSymlink}[h.Typeflag]
	if typ != e.Type {
		return fmt.Errorf("%w: %s is a %s in the archive but a %s in %s", ErrCorrupt, e.Path, typ, e.Type, ManifestName)
	}
	switch e.Type {
	case TypeFile:
		if h.Size != e.Size {
			return fmt.Errorf("%w: %s is %d bytes, %s says %d", ErrCorrupt, e.Path, h.Size, ManifestName, e.Size)
		}
		data, err := io.ReadAll(io.LimitReader(tr, e.Size+1))
		if err != nil {
			return fmt.Errorf("%w: read %s: %w", ErrCorrupt, e.Path, err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != e.Size || hex.EncodeToString(sum[:]) != strings.ToLower(e.SHA256) {
			return fmt.Errorf("%w: checksum of %s does not match %s (the archive is damaged or was altered)", ErrCorrupt, e.Path, ManifestName)
		}
		a.data[e.Path] = data
	case TypeSymlink:
		if h.Linkname != e.Target {
			return fmt.Errorf("%w: symlink %s points to %q, %s says %q", ErrCorrupt, e.Path, h.Linkname, ManifestName, e.Target)
		}
	}
	return nil
}
