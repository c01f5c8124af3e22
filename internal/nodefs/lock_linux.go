package nodefs

import (
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// lockName is the lock file in a journal directory: a WriteSet with a Txn
// holds it from its journal's creation to its removal, and Recover holds it
// while it finishes or abandons, so a command never recovers another's
// transaction while that one is still running. The kernel drops the lock of
// a killed process.
const lockName = ".certrescue-txn.lock"

// LockTxnDir takes the exclusive lock of a journal directory (created 0700
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
	file, err := r.OpenFile(rel(path.Join(resolved, lockName)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("transaction lock %s: %w", path.Join(dir, lockName), unwrapPath(err))
	}
	for {
		err = unix.Flock(int(file.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("transaction lock %s: %w", path.Join(dir, lockName), err)
	}
	return func() { file.Close() }, nil
}
