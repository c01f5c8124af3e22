package pipe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotPipe is returned for a file that is not a pipe (a terminal, a regular
// file, /dev/null).
var ErrNotPipe = errors.New("not a pipe")

// Process is one process holding a pipe open.
type Process struct {
	PID  int
	Argv []string // its command line; argv[0] as it was invoked
	Exe  string   // the executable /proc/PID/exe names ("" when unreadable)
}

// Name is the base name of argv[0] without a login shell's leading "-".
func (p Process) Name() string {
	if len(p.Argv) == 0 {
		return ""
	}
	return strings.TrimPrefix(filepath.Base(p.Argv[0]), "-")
}

// maxCmdline caps what is read of a process's command line.
const maxCmdline = 64 << 10

// Readers lists the processes other than this one that hold the pipe f is
// open for reading, in /proc order.
func Readers(f *os.File) ([]Process, error) {
	return readers("/proc", f)
}

func readers(proc string, f *os.File) ([]Process, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return nil, ErrNotPipe
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no inode number", f.Name())
	}
	target := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	self := os.Getpid()
	des, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join(proc, de.Name())
		if !holdsForReading(dir, target) {
			continue
		}
		p := Process{PID: pid, Argv: cmdline(dir)}
		p.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
		out = append(out, p)
	}
	return out, nil
}

// holdsForReading says whether the process whose /proc directory is dir has
// a descriptor on target open read-only (the read end of a pipe).
func holdsForReading(dir, target string) bool {
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false // gone, or not ours to look at
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil || link != target {
			continue
		}
		if mode, ok := accessMode(filepath.Join(dir, "fdinfo", fd.Name())); ok && mode == syscall.O_RDONLY {
			return true
		}
	}
	return false
}

// accessMode reads the O_ACCMODE bits of the "flags:" line of an fdinfo file.
func accessMode(fdinfo string) (int, bool) {
	data, err := readCapped(fdinfo, 4096)
	if err != nil {
		return 0, false
	}
	return parseAccessMode(data)
}

// parseAccessMode reads the O_ACCMODE bits of fdinfo's "flags:" line (octal).
func parseAccessMode(data []byte) (int, bool) {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			if err != nil {
				return 0, false
			}
			return int(n) & syscall.O_ACCMODE, true //nolint:gosec // G115: only the O_ACCMODE bits are kept
		}
	}
	return 0, false
}

func cmdline(dir string) []string {
	data, err := readCapped(filepath.Join(dir, "cmdline"), maxCmdline)
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
}

func readCapped(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, limit)
	n := 0
	for n < limit {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	return buf[:n], nil
}
