package nodefs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// LockTxnDir takes the exclusive lock (flock(2) of the directory itself, so
// no lock file is left among an operator's files) of a journal directory (created 0700
// when missing), waiting for a running transaction to end, and returns its
// release.
func (f *FS) LockTxnDir(dir string) (func(), error) {
	if err := f.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("transaction journal: %w", err)
	}
	resolved, err := f.Resolve(dir)
	if err != nil {
		return nil, err
	}
	r, err := f.osRoot()
	if err != nil {
		return nil, err
	}
	// A WriteSet with a Txn holds it from its journal's creation to its
	// removal and Recover while it finishes or abandons, so a command never
	// recovers another's transaction while that one runs. The kernel drops
	// the lock of a killed process.
	file, err := r.Open(rel(resolved))
	if err != nil {
		return nil, fmt.Errorf("transaction lock %s: %w", dir, unwrapPath(err))
	}
	for {
		err = unix.Flock(int(file.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("transaction lock %s: %w", dir, err)
	}
	return func() { file.Close() }, nil
}
