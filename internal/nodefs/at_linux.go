package nodefs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fast path: a stat, readlink or open of a name in a directory already
// resolved is one *at(2) call on that directory's descriptor, opened once
// through the os.Root (so it is inside the root) and cached. The name never
// holds a slash and no final symlink is followed, so nothing can lead out.
// A scan of ten thousand files is ten thousand fstatat calls, not a walk of
// every component each time.

// maxDirFDs bounds the cached directory descriptors of one FS; past it a
// descriptor is opened and closed per call.
const maxDirFDs = 64

// syscall.Stat_t and unix.Stat_t are the same kernel structure; callers read
// FileInfo.Sys() as *syscall.Stat_t.
var _ [unsafe.Sizeof(syscall.Stat_t{}) - unsafe.Sizeof(unix.Stat_t{})]byte
var _ [unsafe.Sizeof(unix.Stat_t{}) - unsafe.Sizeof(syscall.Stat_t{})]byte

// dirFD returns a descriptor of the resolved node directory dir and a func
// that releases it.
func (f *FS) dirFD(dir string) (*dirHandle, func(), error) {
	f.mu.Lock()
	d, ok := f.fds[dir]
	f.mu.Unlock()
	if ok {
		return d, func() {}, nil
	}
	r, err := f.osRoot()
	if err != nil {
		return nil, nil, err
	}
	file, err := r.Open(rel(dir))
	if err != nil {
		return nil, nil, unwrapPath(err)
	}
	d = &dirHandle{file: file, fd: int(file.Fd())}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.fds[dir]; ok {
		file.Close()
		return old, func() {}, nil
	}
	if f.fds == nil {
		f.fds = map[string]*dirHandle{}
	}
	if len(f.fds) >= maxDirFDs {
		return d, func() { file.Close() }, nil
	}
	f.fds[dir] = d
	return d, func() {}, nil
}

// dirHandle is an open directory and its descriptor (read once: File.Fd
// costs a system call each time).
type dirHandle struct {
	file *os.File // keeps fd open while the handle is reachable
	fd   int
}

// lstatIn stats name in the resolved directory dir without following it.
func (f *FS) lstatIn(dir, name string) (fs.FileInfo, error) {
	if name == "/" || name == "." || name == "" {
		r, err := f.osRoot()
		if err != nil {
			return nil, err
		}
		fi, err := r.Lstat(".")
		return fi, unwrapPath(err)
	}
	d, release, err := f.dirFD(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	var st unix.Stat_t
	for {
		err = unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	runtime.KeepAlive(d)
	if err != nil {
		return nil, err
	}
	return newFileInfo(name, (*syscall.Stat_t)(unsafe.Pointer(&st))), nil //nolint:gosec // G103: unix.Stat_t and syscall.Stat_t are the same struct on Linux
}

// readlinkIn reads the symlink name in the resolved directory dir.
func (f *FS) readlinkIn(dir, name string) (string, error) {
	d, release, err := f.dirFD(dir)
	if err != nil {
		return "", err
	}
	defer release()
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(d.fd, name, buf)
		runtime.KeepAlive(d)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > 1<<16 {
			return "", unix.ENAMETOOLONG
		}
	}
}

// openIn opens name in the resolved directory dir for reading, never
// following a final symlink and never blocking on a FIFO.
func (f *FS) openIn(dir, name string) (*os.File, error) {
	d, release, err := f.dirFD(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	var fd int
	for {
		fd, err = unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	runtime.KeepAlive(d)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(dir, name)), nil
}

// fileInfo is an fs.FileInfo from a stat structure, as os builds one.
type fileInfo struct {
	name string
	st   *syscall.Stat_t
	mode fs.FileMode
}

func newFileInfo(name string, st *syscall.Stat_t) *fileInfo {
	mode := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if st.Mode&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return &fileInfo{name: name, st: st, mode: mode}
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.st.Size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return i.st }
