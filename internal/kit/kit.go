package kit

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Conf holds the kit's conf/ templates.
//
//go:embed conf/*.json
var Conf embed.FS

// SumsFile is the checksum list at the top of every kit.
const SumsFile = "SHA256SUMS"

// maxSumsSize caps the checksum file; a kit lists a handful of files.
const maxSumsSize = 1 << 20

// Report is the outcome of a verification.
type Report struct {
	Verified []string // files whose checksum matched
	Problems []string // mismatches, missing files, unlisted files, unsafe entries
}

// OK reports whether the kit verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 && len(r.Verified) > 0 }

// ParseSums reads `sha256sum` output: "<64 hex>  <path>" (or " *<path>") lines.
func ParseSums(name string, data []byte) (map[string]string, error) {
	if len(data) > maxSumsSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxSumsSize)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		sum, file, ok := strings.Cut(line, " ")
		file = strings.TrimPrefix(strings.TrimPrefix(file, " "), "*")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || file == "" {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line (\"<64 hex digits>  <file>\")", name, n)
		}
		clean := path.Clean(file)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("%s:%d: path %q leaves the kit", name, n, file)
		}
		if _, dup := sums[clean]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", name, n, clean)
		}
		sums[clean] = strings.ToLower(sum)
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("%s: lists no files", name)
	}
	return sums, nil
}

// Verify checks a kit directory or a .tar.gz kit.
func Verify(p string) (*Report, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", p, err)
	}
	if fi.IsDir() {
		return verifyDir(p)
	}
	return verifyTarball(p)
}

func verifyDir(dir string) (*Report, error) {
	data, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", dir, err)
	}
	sums, err := ParseSums(filepath.Join(dir, SumsFile), data)
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == SumsFile {
			return nil
		}
		if !d.Type().IsRegular() {
			got[rel] = "not a regular file"
			return nil
		}
		sum, err := hashFile(p)
		if err != nil {
			return err
		}
		got[rel] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", dir, err)
	}
	return compare(sums, got), nil
}

func verifyTarball(p string) (*Report, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", p, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("kit %s: not a gzip archive: %w", p, err)
	}
	tr := tar.NewReader(zr)
	got := map[string]string{}
	var sumsData []byte
	var unsafe []string
	prefix := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("kit %s: corrupt archive: %w", p, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			unsafe = append(unsafe, fmt.Sprintf("%s: entry leaves the kit directory", h.Name))
			continue
		}
		// Kits have one top directory (certrescue-kit-VERSION/); paths are relative to it.
		top, rest, _ := strings.Cut(name, "/")
		if prefix == "" {
			prefix = top
		}
		if top != prefix || rest == "" {
			if h.Typeflag != tar.TypeDir {
				unsafe = append(unsafe, fmt.Sprintf("%s: outside the kit's top directory %s/", h.Name, prefix))
			}
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			unsafe = append(unsafe, fmt.Sprintf("%s: not a regular file (type %q)", h.Name, h.Typeflag))
			continue
		}
		if rest == SumsFile {
			if sumsData, err = io.ReadAll(io.LimitReader(tr, maxSumsSize+1)); err != nil {
				return nil, fmt.Errorf("kit %s: %w", p, err)
			}
			continue
		}
		hsh := sha256.New()
		if _, err := io.Copy(hsh, tr); err != nil { //nolint:gosec // G110: hashed as it streams, nothing is kept in memory
			return nil, fmt.Errorf("kit %s: %s: %w", p, h.Name, err)
		}
		got[rest] = hex.EncodeToString(hsh.Sum(nil))
	}
	if sumsData == nil {
		return nil, fmt.Errorf("kit %s: no %s in the archive", p, SumsFile)
	}
	sums, err := ParseSums(p+":"+SumsFile, sumsData)
	if err != nil {
		return nil, err
	}
	r := compare(sums, got)
	r.Problems = append(r.Problems, unsafe...)
	return r, nil
}

func compare(want, got map[string]string) *Report {
	r := &Report{}
	for _, f := range sortedKeys(want) {
		switch g, ok := got[f]; {
		case !ok:
			r.Problems = append(r.Problems, f+": listed in "+SumsFile+" but missing")
		case g != want[f]:
			r.Problems = append(r.Problems, f+": checksum mismatch (file changed or corrupt)")
		default:
			r.Verified = append(r.Verified, f)
		}
	}
	for _, f := range sortedKeys(got) {
		if _, ok := want[f]; !ok {
			r.Problems = append(r.Problems, f+": not listed in "+SumsFile)
		}
	}
	return r
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
