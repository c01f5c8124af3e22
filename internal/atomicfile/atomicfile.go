package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Mode bits used for the files certrescue writes.
const (
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
	DirMode  fs.FileMode = 0o755
)

// ErrExists is returned when a target exists and overwriting was not allowed.
var ErrExists = errors.New("file exists (use --force to overwrite)")

// File is one file of a WriteSet.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Write atomically writes data to path with exactly the given mode, whatever the
// umask. Without force an existing path is refused with ErrExists.
func Write(path string, data []byte, mode fs.FileMode, force bool) error {
	return WriteSet([]File{{Path: path, Data: data, Mode: mode}}, force)
}

// WriteSet writes every file atomically. Before writing anything it refuses if a
// target exists (without force) or is a directory, so a refusal changes nothing.
func WriteSet(files []File, force bool) error {
	for _, f := range files {
		fi, err := os.Lstat(f.Path)
		switch {
		case err == nil && fi.IsDir():
			return fmt.Errorf("write %s: is a directory", f.Path)
		case err == nil && !force:
			return fmt.Errorf("write %s: %w", f.Path, ErrExists)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		if _, err := os.Stat(filepath.Dir(f.Path)); err != nil {
			return fmt.Errorf("write %s: directory: %w", f.Path, err)
		}
	}
	for _, f := range files {
		if err := writeOne(f); err != nil {
			return err
		}
	}
	return nil
}

func writeOne(f File) error {
	// renameio creates the temp file next to the target, fsyncs it and renames;
	// IgnoreUmask makes the mode exact, so a key is 0600 even under umask 000.
	t, err := renameio.NewPendingFile(f.Path, renameio.WithPermissions(f.Mode), renameio.IgnoreUmask())
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	defer t.Cleanup() //nolint:errcheck // no-op after a successful replace
	if _, err := t.Write(f.Data); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := t.Chmod(f.Mode); err != nil {
		return fmt.Errorf("write %s: chmod: %w", f.Path, err)
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return SyncDir(filepath.Dir(f.Path))
}

// SyncDir fsyncs a directory so that a rename inside it survives a crash.
func SyncDir(dir string) error {
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
