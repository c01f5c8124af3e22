package atomicfile

import (
	"io/fs"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// Mode bits used for the files certrescue writes.
const (
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
	DirMode  fs.FileMode = 0o755
)

// ErrExists is returned when a target exists and overwriting was not allowed.
var ErrExists = nodefs.ErrExists

// File is one file of a WriteSet.
type File = nodefs.Put

// Write atomically writes data to path with exactly the given mode, whatever the
// umask. Without force an existing path is refused with ErrExists.
func Write(path string, data []byte, mode fs.FileMode, force bool) error {
	return WriteSet([]File{{Path: path, Data: data, Mode: mode}}, force)
}

// WriteSet writes every file atomically with nodefs's one writer on this
// machine's filesystem (see nodefs.FS.WriteSet): before writing anything it
// refuses if a target exists (without force), is a directory or is not a
// regular file, so a refusal changes nothing; a crash leaves every target old
// or wholly new. Relative paths are relative to the working directory.
func WriteSet(files []File, force bool) error {
	return nodefs.Host().WriteSet(files, nodefs.WriteOptions{Force: force})
}

// SyncDir fsyncs a directory so that a rename inside it survives a crash.
func SyncDir(dir string) error { return nodefs.Host().SyncDir(dir) }
