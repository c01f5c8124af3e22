package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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

// syncfsThreshold is the batch size from which one syncfs(2) of the filesystem
// replaces an fsync per file: a hundred certificates are three hundred files,
// and three hundred fsyncs in a row cost more than issuing them.
const syncfsThreshold = 16

// maxParallel bounds the temporary files open at once.
const maxParallel = 32

// WriteSet writes every file atomically. Before writing anything it refuses if a
// target exists (without force) or is a directory, so a refusal changes nothing.
//
// Order: every temporary file is created next to its target and written with
// its exact mode; then all of them are made durable (fsync each, or one syncfs
// for a large batch); only then is each renamed over its target, and each
// directory is fsynced so the renames survive a crash. A crash at any point
// leaves every target either old or wholly new, never torn.
func WriteSet(files []File, force bool) error {
	if err := precheck(files, force); err != nil {
		return err
	}
	temps := make([]*os.File, len(files))
	defer func() {
		for _, t := range temps {
			if t != nil {
				t.Close()
				os.Remove(t.Name())
			}
		}
	}()
	batch := len(files) >= syncfsThreshold
	if err := parallel(len(files), func(i int) error {
		t, err := writeTemp(files[i], !batch)
		temps[i] = t
		return err
	}); err != nil {
		return err
	}
	if batch {
		if err := syncAll(files, temps); err != nil {
			return err
		}
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := temps[i].Close(); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		if err := os.Rename(temps[i].Name(), f.Path); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		temps[i] = nil
		dirs[filepath.Dir(f.Path)] = true
	}
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func precheck(files []File, force bool) error {
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
	return nil
}

// writeTemp creates a temporary file beside f.Path holding f.Data with exactly
// f.Mode (chmod after create, so the umask never loosens or tightens it).
func writeTemp(f File, fsync bool) (*os.File, error) {
	t, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := t.Chmod(f.Mode); err != nil {
		return t, fmt.Errorf("write %s: chmod: %w", f.Path, err)
	}
	if _, err := t.Write(f.Data); err != nil {
		return t, fmt.Errorf("write %s: %w", f.Path, err)
	}
	if fsync {
		if err := t.Sync(); err != nil {
			return t, fmt.Errorf("write %s: fsync: %w", f.Path, err)
		}
	}
	return t, nil
}

func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncAll makes a batch of temporary files durable: one syncfs(2) per
// filesystem they are on (usually one), falling back to an fsync per file.
func syncAll(files []File, temps []*os.File) error {
	byDev := map[uint64]*os.File{}
	for i, t := range temps {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(t.Fd()), &st); err != nil {
			return fmt.Errorf("write %s: %w", files[i].Path, err)
		}
		if _, ok := byDev[st.Dev]; !ok {
			byDev[st.Dev] = t
		}
	}
	for _, t := range byDev {
		if err := syncfs(t); err != nil {
			// Not supported here: fsync each file instead.
			return parallel(len(temps), func(i int) error {
				if err := temps[i].Sync(); err != nil {
					return fmt.Errorf("write %s: fsync: %w", files[i].Path, err)
				}
				return nil
			})
		}
	}
	return nil
}

// syncfs flushes the whole filesystem holding f (syncfs(2)).
func syncfs(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

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
